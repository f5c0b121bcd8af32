"""Find the gateway's parts among its processes, to kill them the way a crash would."""

from __future__ import annotations

import psutil

from tests.support.gateway import Gateway
from tests.support.waiting import wait_for


def find(gateway: Gateway, needle: str, timeout: float = 30) -> psutil.Process:
    """The gateway's descendant whose command line contains ``needle``."""

    def running() -> psutil.Process | None:
        for p in gateway.descendants():
            try:
                if needle in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                    return p
            except psutil.Error:
                pass
        return None

    awaited = f"a process of the gateway running {needle!r}"
    return wait_for(running, timeout=timeout, interval=0.2, message=awaited)


REGISTRY = "twinhub.extensions.registry"
HUB = "jupyterhub_config.py"


def listening_on(gateway: Gateway, port: int) -> psutil.Process:
    """The gateway's descendant listening on ``port`` (e.g. a Dask worker, from its address)."""
    for p in gateway.descendants():
        try:
            for conn in p.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
                    return p
        except psutil.Error:
            pass
    raise LookupError(f"no process of the gateway listens on port {port}")


def dask_processes(gateway: Gateway, cluster: str, role: str) -> list[psutil.Process]:
    """The ``dask scheduler`` or ``dask worker`` processes of one gateway cluster.

    A process belongs to the cluster when it runs in the cluster's working directory (named
    after the cluster) or has the cluster's name in its environment: a scheduler forked from
    the warm process (extensions/gateway_backends/prefork.py) shows that process's initial
    environment in
    ``/proc``, but it does run in its cluster's directory."""
    found = []
    for p in gateway.descendants():
        try:
            # a title set with setproctitle (forked schedulers) reads as one space-joined string
            cmd = " ".join(p.cmdline()).split()
            # `dask scheduler ...`, or `python .../dask scheduler ...` (the script's shebang)
            if (
                role in cmd[1:3]
                and any(part.rsplit("/", 1)[-1] == "dask" for part in cmd[:2])
                and _of_cluster(p, cluster)
                and p.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(p)
        except psutil.Error:
            pass
    return found


def _of_cluster(p: psutil.Process, cluster: str) -> bool:
    if p.cwd().rstrip("/").endswith(cluster):
        return True
    try:
        return p.environ().get("DASK_GATEWAY_CLUSTER_NAME") == cluster
    except psutil.Error:
        return False


def wait_until_busy(processes: list[psutil.Process], timeout: float = 120) -> None:
    """Return once the processes together use more than half a core (tasks are running)."""
    calls: list[None] = []

    def cores_in_use() -> float:
        """Cores used since the last call (the first call only starts the measurement)."""
        total = 0.0
        for p in processes:
            try:
                total += p.cpu_percent() / 100
            except psutil.Error:
                pass
        calls.append(None)
        return total if len(calls) > 1 else 0.0

    wait_for(
        cores_in_use,
        until=lambda cores: cores > 0.5,
        timeout=timeout,
        interval=0.3,
        message="the Dask workers busy (more than half a core: did the run start?)",
    )
