"""kill -9 of the hub in the embedded deployment (`make up`).

Decision (docs/operations.md): the launcher treats the hub's death as the end of the gateway.
It stops what the hub had started (proxy, registry, Dask Gateway and its clusters, user servers)
and exits non-zero, so nothing is orphaned and a supervisor (systemd ``Restart=on-failure``) or
the operator starts it again; after that restart the hub's database no longer claims servers
that are gone, and users start them again. The proxy does not keep routing here: it is the
hub's child. On Kubernetes the proxy is a pod of its own and keeps routing (z2jh).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import start_gateway

from .processes import HUB, find

pytestmark = pytest.mark.integration


def test_hub_killed_stops_everything_and_a_restart_starts_clean(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    state = tmp_path / "state"
    gw = start_gateway(state, artifacts_dir / "fault-hub.log")
    try:
        alice = gw.login("alice")
        gw.start_server(alice)
        dask = {"Authorization": f"jupyterhub {alice.token}"}
        r = httpx.post(
            f"{gw.url}/services/dask-gateway/api/v1/clusters/",
            headers=dask,
            json={"cluster_options": {}},
            timeout=60,
        )
        assert r.status_code == 201, r.text
        time.sleep(2)  # let the scheduler process start, so that it is one of the descendants
        before = gw.descendants()
        assert len(before) >= 5  # hub, proxy, registry, gateway, culler, alice's server, ...
        os.kill(find(gw, HUB).pid, signal.SIGKILL)
        gw.process.wait(timeout=90)
        assert gw.process.returncode != 0
        assert "the hub exited with status" in gw.log()
        time.sleep(1)
        assert not gw.survivors(), [p.cmdline() for p in gw.survivors()]
    finally:
        gw.stop()

    again = start_gateway(state, artifacts_dir / "fault-hub-restart.log")
    try:
        alice = again.login("alice")
        with again.client(headers=alice.headers) as c:
            servers = c.get("/hub/api/users/alice").json()["servers"]
        assert "" not in servers or not servers[""]["ready"]
        again.start_server(alice)  # and she can start it again
        again.stop_server(alice)
    finally:
        again.stop()
