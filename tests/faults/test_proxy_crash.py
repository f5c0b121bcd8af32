"""kill -9 of configurable-http-proxy in the embedded deployment (`make up`): the launcher
starts a new proxy and the hub puts the routes back into its empty table.

Decision (docs/operations.md, "Supervision"): the proxy is restarted within the bounds that
hold for the hub (TWINHUB_HUB_MAX_RESTARTS within TWINHUB_HUB_RESTART_WINDOW, counted apart),
and the launcher then asks the hub to check its routes now (``POST /hub/api/proxy``) rather
than at the hub's next periodic check, 5 minutes later. Users' servers never stop.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.gateway import start_gateway
from tests.support.waiting import wait_for

from .processes import find

pytestmark = pytest.mark.integration

PROXY = "configurable-http-proxy"
SERVER = "jupyterhub-singleuser"
ROUTES_BACK_WITHIN = 120.0
"""Seconds for the routes to come back: well under the hub's own 300 s route check, so the
test fails if the launcher only waits for that."""


def _answers(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, headers=headers, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_proxy_killed_is_restarted_and_routes_come_back(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    gw = start_gateway(tmp_path / "state", artifacts_dir / "fault-proxy.log")
    try:
        alice = gw.login("alice")
        gw.start_server(alice)
        server = find(gw, SERVER)
        status = f"{gw.url}/user/alice/api/status"
        health = f"{gw.url}/services/twinhub/api/health"
        assert _answers(status, alice.headers) and _answers(health)

        old = find(gw, PROXY)
        os.kill(old.pid, signal.SIGKILL)
        old.wait(30)

        def new_proxy() -> bool:
            try:
                return find(gw, PROXY, timeout=1).pid != old.pid
            except LookupError:
                return False

        wait_for(new_proxy, timeout=60, message="a new proxy")
        wait_for(
            lambda: _answers(status, alice.headers),
            timeout=ROUTES_BACK_WITHIN,
            message="alice's route",
        )
        wait_for(
            lambda: _answers(health, None),
            timeout=ROUTES_BACK_WITHIN,
            message="the registry's route",
        )
        assert gw.up(), "the hub or a service has no route in the new proxy"
        log = gw.log()
        assert "configurable-http-proxy exited with status -9: restarting it" in log, log[-3000:]
        assert "the hub has re-added its routes" in log, log[-3000:]
        # alice's server is the very process of before: only the proxy was replaced
        assert psutil.Process(server.pid).is_running()
        assert find(gw, SERVER).pid == server.pid
    finally:
        code = gw.stop()
    assert code == 0, gw.log()[-3000:]
    assert not gw.survivors(), [p.cmdline() for p in gw.survivors()]
    assert "leftover" not in gw.log(), gw.log()[-3000:]
