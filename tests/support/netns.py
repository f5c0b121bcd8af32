"""Machines made of Linux network namespaces: a private network on this host, for tests.

A :class:`Network` is a set of named "hosts", each a network namespace with its own loopback
and one address on a bridge that lives in the first host's namespace (its veth pairs join the
others to it). The addresses exist only inside these namespaces and no route leads out of them,
so a process of one host reaches another only through those addresses: a component that binds
or dials ``127.0.0.1`` reaches its own host's loopback, never a service of another host.

:func:`command` runs a process on a host (``on-host.sh``): in its network namespace, with
``/etc/netns/<host>/hosts`` bound over ``/etc/hosts`` in a mount namespace of its own (each host
resolves the others' names as a cluster's DNS would) and under the host's name in a UTS
namespace (``hostname`` answers ``thmn-n1``), as on a real node. Creating and removing
namespaces needs root, which the HPC tests have.

Every namespace, link and hosts file carries :data:`PREFIX`, so :func:`sweep` removes what an
interrupted session left behind before a new one starts (so one such session at a time per
machine: a second one would sweep the first's hosts away).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

PREFIX = "thmn-"
"""Names of everything this module creates (twinhub multi-node): what :func:`sweep` removes."""
NETNS_ETC = Path("/etc/netns")
BRIDGE = f"{PREFIX}br"
CLONE_NEWNET = 0x40000000
ON_HOST = Path(__file__).with_name("on-host.sh")
"""``on-host.sh HOST COMMAND...``: the one way processes are started on a host (also by
``scripts/slurm-up.sh`` for the Slurm daemons, as its TWINHUB_SLURM_HOST_EXEC)."""


class NetnsUnavailable(RuntimeError):
    """Namespaces cannot be made here (not root, no ``ip``); tests skip with this message."""


@dataclass(frozen=True)
class Host:
    """One machine of the network: its name (also its namespace's and its hostname) and address."""

    name: str
    address: str


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def command(host: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run on ``host``: in its namespace, with its hosts file, under its hostname."""
    return [str(ON_HOST), host, *argv]


def namespaces() -> list[str]:
    """Names of the network namespaces of this machine."""
    out = _ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def sweep() -> None:
    """Remove every namespace and hosts file of :data:`PREFIX` (a crashed session's leftovers),
    ending the processes still in those namespaces (its Slurm daemons and jobs) first.

    Deleting a namespace deletes the links inside it, and with them their veth peers."""
    for name in namespaces():
        if name.startswith(PREFIX):
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                if int(pid) == os.getpid():  # a thread of ours is still inside (inside())
                    continue
                try:
                    psutil.Process(int(pid)).kill()
                except psutil.Error:
                    pass
            _ip("netns", "delete", name, check=False)
    if NETNS_ETC.is_dir():
        for directory in NETNS_ETC.glob(f"{PREFIX}*"):
            shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Network:
    """Hosts on one private /24, the first of them holding the bridge (see module docstring)."""

    hosts: list[Host]
    prefix_length: int = 24

    @property
    def hub(self) -> Host:
        return self.hosts[0]

    def cidr(self, host: Host) -> str:
        return f"{host.address}/{self.prefix_length}"

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def create(self) -> None:
        if os.geteuid() != 0 or not all(map(shutil.which, ("ip", "nsenter", "unshare"))):
            raise NetnsUnavailable(
                "the multi-node tests build hosts out of network namespaces (ip, nsenter, "
                "unshare): run them as root on Linux with iproute2 and util-linux"
            )
        sweep()
        hub = self.hub.name
        for host in self.hosts:
            _ip("netns", "add", host.name)
            _ip("-n", host.name, "link", "set", "lo", "up")
        _ip("-n", hub, "link", "add", BRIDGE, "type", "bridge")
        _ip("-n", hub, "addr", "add", self.cidr(self.hub), "dev", BRIDGE)
        _ip("-n", hub, "link", "set", BRIDGE, "up")
        for i, host in enumerate(self.hosts[1:], 1):
            # a veth pair: one end in the host (its eth0), the other on the hub's bridge
            outer, inner = f"{PREFIX}v{i}", f"{PREFIX}e{i}"
            peer = ("peer", inner, "netns", host.name)
            _ip("link", "add", outer, "netns", hub, "type", "veth", *peer)
            _ip("-n", hub, "link", "set", outer, "master", BRIDGE, "up")
            _ip("-n", host.name, "link", "set", inner, "name", "eth0")
            _ip("-n", host.name, "addr", "add", self.cidr(host), "dev", "eth0")
            _ip("-n", host.name, "link", "set", "eth0", "up")
        hosts_file = "127.0.0.1 localhost\n" + "".join(
            f"{h.address} {h.name}\n" for h in self.hosts
        )
        for host in self.hosts:
            directory = NETNS_ETC / host.name
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "hosts").write_text(hosts_file)

    def remove(self) -> None:
        for host in self.hosts:
            _ip("netns", "delete", host.name, check=False)
            shutil.rmtree(NETNS_ETC / host.name, ignore_errors=True)

    def run(self, host: str, argv: Sequence[str], timeout: float = 60) -> str:
        """Run ``argv`` on ``host`` and return its output; raise with its errors."""
        result = subprocess.run(
            command(host, argv), capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} on {host} failed: {result.stderr.strip()}")
        return result.stdout


def _setns_fd(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _setns_fd(fd)
    finally:
        os.close(fd)


@contextmanager
def inside(host: str) -> Iterator[None]:
    """Run the calling thread in ``host``'s network namespace, and back afterwards.

    Sockets this thread opens meanwhile (httpx, the Dask client) and the processes it starts
    (``squeue``) are on that host's network: the test then speaks to the hub as a user on the
    hub's network does. Name resolution stays the machine's (use addresses)."""
    fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(f"/run/netns/{host}")
        try:
            yield
        finally:
            _setns_fd(fd)
    finally:
        os.close(fd)
