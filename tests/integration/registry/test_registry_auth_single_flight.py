"""Concurrent requests with one token whose cached identity expired ask the hub once.

The registry caches the hub's answer about a token for ``TWINHUB_AUTH_CACHE_SECONDS``; once it
expired, every request with that token misses the cache at the same moment. The count of
lookups is the real JupyterHub's own: its Prometheus counter of ``GET /hub/api/user``
(``SelfAPIHandler``), which nothing but the registry calls during the burst.

A lookup takes a few milliseconds on a quiet hub, less than it takes 20 requests to arrive, so
the hub is paused (SIGSTOP) while they arrive: no lookup can finish before all of them reached
the registry, as on a loaded hub. Whatever the timing, the fixed registry asks once (a request
that comes later finds the answer cached); the old one asked once per request.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.faults.processes import HUB, REGISTRY, find
from tests.support.gateway import Gateway, start_gateway
from tests.support.hub_metrics import hub_token_checks
from tests.support.registry import API
from tests.support.twins import make_twins_dir, manifest
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

TTL = 2
"""TWINHUB_AUTH_CACHE_SECONDS for this gateway: short, so the test can outwait it."""
BURST = 20


def _unread_bytes(port: int, peers: set[int]) -> int | None:
    """Bytes our sockets sent to ``port`` that its server has not read yet (``/proc/net/tcp``),
    None while not every one of ``peers`` is listed (not yet accepted)."""
    unread, seen = 0, set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) in peers:
            seen.add(int(remote.split(":")[1], 16))
            unread += int(queues.split(":")[1], 16)
    return unread if seen == peers else None


def _talks_to_hub(gw: Gateway, registry: psutil.Process) -> bool:
    """Whether the registry has a connection open to the hub's port (a lookup in flight)."""
    try:
        conns = registry.net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.raddr and c.raddr.port == gw.settings.hub_port for c in conns)


def _response_status(sock: socket.socket) -> int:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_an_expired_token_is_checked_with_the_hub_once_for_a_burst(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    twins_dir, pythonpath = make_twins_dir(tmp_path, [manifest("growth")])
    gw = start_gateway(
        tmp_path / "state",
        artifacts_dir / "registry-auth-single-flight.log",
        {
            "TWINHUB_TWINS_DIR": str(twins_dir),
            "PYTHONPATH": str(pythonpath),
            "TWINHUB_AUTH_CACHE_SECONDS": str(TTL),
        },
    )
    try:
        admin = gw.login("admin", gw.admin_password)
        alice = gw.login("alice")
        port = gw.settings.registry_port
        # the registry's own port: the hub's is paused below, and with it the proxy's routes
        whoami = f"http://127.0.0.1:{port}{API}/whoami"
        with httpx.Client(headers=alice.headers, timeout=60) as c:
            assert c.get(whoami).status_code == 200  # alice's identity is now cached
        hub = find(gw, HUB)
        registry = find(gw, REGISTRY)
        before = hub_token_checks(gw, admin.token)
        time.sleep(TTL + 0.5)  # the cached identity expires (a duration, not a condition)

        request = (
            f"GET {API}/whoami HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: token {alice.token}\r\nConnection: close\r\n\r\n"
        ).encode()
        socks = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in range(BURST)]
        os.kill(hub.pid, signal.SIGSTOP)
        try:
            for s in socks:
                s.sendall(request)
            peers = {s.getsockname()[1] for s in socks}
            wait_for(
                lambda: _unread_bytes(port, peers),
                until=lambda unread: unread == 0,
                timeout=60,
                interval=0.05,
                message="the registry reading the burst",
            )
            wait_for(
                lambda: _talks_to_hub(gw, registry),
                timeout=60,
                interval=0.05,
                message="the registry asking the hub",
            )
        finally:
            os.kill(hub.pid, signal.SIGCONT)
        statuses = [_response_status(s) for s in socks]
        for s in socks:
            s.close()
        assert statuses == [200] * BURST
        assert hub_token_checks(gw, admin.token) - before == 1

        # the shared answer was cached: the next request does not ask the hub again
        with httpx.Client(headers=alice.headers, timeout=60) as c:
            assert c.get(whoami).status_code == 200
        assert hub_token_checks(gw, admin.token) - before == 1
    finally:
        gw.stop()
