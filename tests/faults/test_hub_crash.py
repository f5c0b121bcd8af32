"""kill -9 of the hub in the embedded deployment (`make up`): the gateway survives it.

Decision (docs/operations.md, "Supervision"): the launcher runs the proxy next to the hub, and
restarts a hub that dies, after stopping the services the dead hub had started. The proxy keeps
routing to the users' servers meanwhile; the new hub re-attaches them (the local spawner's pid,
kept in the hub's database) and the new Dask Gateway re-attaches their clusters (its database
in the state directory). A hub that keeps dying is not restarted in a loop: the launcher gives
up, stops everything and exits non-zero.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.gateway import (
    Gateway,
    dask_gateway_api,
    gateway_client,
    start_gateway,
    submit_cluster,
)
from tests.support.waiting import wait_for

from .processes import HUB, REGISTRY, find

pytestmark = pytest.mark.integration

# the launcher's descendants, by what they run (a command line contains the marker)
PROXY = "configurable-http-proxy"
SERVER = "jupyterhub-singleuser"
SCHEDULER = "dask scheduler"
WORKER = "dask worker"
SERVICES = {
    "registry": REGISTRY,
    "dashboards": "twinhub.extensions.dashboards",
    "dask-gateway": "dask-gateway-server",
    "dask-gateway-front": "twinhub.extensions.gateway_front",
    "idle-culler": "jupyterhub_idle_culler",
    "executor": "twinhub.extensions.executor",
}


def _running_cluster(gw: Gateway, user, name: str, timeout: float = 180) -> dict:
    """Wait until the gateway reports the cluster RUNNING (its scheduler called back)."""
    with dask_gateway_api(gw, user) as api:
        return wait_for(
            lambda: api.get(f"/clusters/{name}").json(),
            until=lambda model: model["status"] == "RUNNING",
            timeout=timeout,
            message=f"cluster {name} running",
        )


def _pid(gw: Gateway, marker: str) -> int:
    return find(gw, marker, timeout=120).pid


def _wait_for_new_services(gw: Gateway, old: dict[str, int], timeout: float) -> None:
    """Wait until the new hub has started each service again (the culler comes last)."""
    wait_for(
        lambda: {_kind(p): p.pid for p in gw.descendants()},
        until=lambda kinds: all(kinds.get(name, old[name]) != old[name] for name in SERVICES),
        timeout=timeout,
        message="the new hub started every service again",
    )


def _belongs_to(p: psutil.Process, state: Path) -> bool:
    """A process of this gateway: it runs in, is configured with or is about its state dir."""
    needle = str(state)
    try:
        if p.cwd().startswith(needle) or needle in " ".join(p.cmdline()):
            return True
        return any(needle in value for value in p.environ().values())
    except psutil.Error:
        return False


def _orphans(gw: Gateway, state: Path) -> list[psutil.Process]:
    """Processes of this gateway anywhere on the machine that are not under the launcher."""
    ours = {p.pid for p in gw.descendants()} | {gw.process.pid}
    return [
        p
        for p in psutil.process_iter()
        if p.pid not in ours and p.pid != os.getpid() and _belongs_to(p, state)
    ]


MARKERS = {
    "proxy": PROXY,
    "hub": HUB,
    "server": SERVER,
    "scheduler": SCHEDULER,
    "worker": WORKER,
    "gateway-proxy": "dask-gateway-proxy",
    **SERVICES,
}


def _marked(p: psutil.Process) -> str | None:
    try:
        cmdline = " ".join(p.cmdline())
    except psutil.Error:
        return None
    return next((kind for kind, marker in MARKERS.items() if marker in cmdline), None)


def _kind(p: psutil.Process) -> str:
    """What a descendant of the launcher is; 'unknown' fails the accounting.

    Helpers (kernels, a nanny's worker process, multiprocessing's resource tracker, the
    dashboards' Dask workers) count as part of the nearest ancestor whose kind is known."""
    kind = _marked(p)
    if kind:
        return kind
    for parent in p.parents():
        kind = _marked(parent)
        if kind in ("proxy", "hub"):
            break  # the hub's direct children are all known: servers and services
        if kind:
            return f"{kind}-helper"
    return "unknown"


def test_hub_killed_is_restarted_and_reattaches_servers_and_clusters(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    state = tmp_path / "state"
    gw = start_gateway(state, artifacts_dir / "fault-hub.log")
    try:
        alice = gw.login("alice")
        gw.start_server(alice)
        cluster = submit_cluster(gw, alice)
        _running_cluster(gw, alice, cluster)
        with dask_gateway_api(gw, alice) as api:
            api.post(f"/clusters/{cluster}/scale", json={"count": 1}).raise_for_status()
        pids = {m: _pid(gw, m) for m in (PROXY, SERVER, SCHEDULER, WORKER)}
        old_services = {name: _pid(gw, marker) for name, marker in SERVICES.items()}
        status = "/user/alice/api/status"
        with gw.client(headers=alice.headers) as c:
            assert c.get(status).status_code == 200

        hub = find(gw, HUB)
        os.kill(hub.pid, signal.SIGKILL)
        hub.wait(30)
        # while the hub is down, the proxy still routes alice's requests to her server
        with gw.client(headers=alice.headers) as c:
            assert c.get("/hub/health").status_code == 503  # the proxy's answer: no hub
            assert c.get(status).status_code == 200, "the proxy lost alice's route"

        gw.wait_until_up(240)
        _wait_for_new_services(gw, old_services, timeout=120)
        log = gw.log()
        assert "the hub exited with status -9: restarting it" in log
        assert "stopped the services of the dead hub" in log
        # the old services are gone and one of each runs again (a duplicate would hold no port)
        for name, pid in old_services.items():
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", name
        kinds = [_kind(p) for p in gw.descendants()]
        for name in SERVICES:
            assert kinds.count(name) == 1, (name, kinds)
        assert "unknown" not in kinds, [
            (p.pid, p.cmdline(), [q.pid for q in p.parents()])
            for p in gw.descendants()
            if _kind(p) == "unknown"
        ]
        assert _orphans(gw, state) == []

        # the proxy, alice's server and her cluster are the very processes of before
        for marker, pid in pids.items():
            assert psutil.Process(pid).is_running(), marker
            assert _pid(gw, marker) == pid, marker
        # the new hub re-attached her server: it reports it ready, with the same pid
        admin = gw.login("admin", gw.admin_password)
        with gw.client(headers=admin.headers) as c:
            model = c.get("/hub/api/users/alice").json()["servers"][""]
        assert model["ready"], model
        assert model["state"]["pid"] == pids[SERVER]
        with gw.client(headers=alice.headers) as c:
            assert c.get(status).status_code == 200

        # the new gateway re-attached her cluster: listed, and it computes on the old worker
        assert _running_cluster(gw, alice, cluster, timeout=60)["name"] == cluster
        with gateway_client(gw, alice) as gateway:
            assert [c.name for c in gateway.list_clusters()] == [cluster]
            with gateway.connect(cluster) as attached, attached.get_client() as client:
                client.wait_for_workers(1, timeout=60)
                # the one worker is the process of the old `dask worker` (its nanny)
                (worker,) = client.run(os.getpid).values()
                assert psutil.Process(worker).ppid() == pids[WORKER]
                # exact: sum of 0..1000 = 1000 * 1001 / 2
                assert client.submit(sum, range(1001)).result(timeout=60) == 500500
    finally:
        code = gw.stop()
    # Ctrl-C after the restart stops everything cleanly: the new hub stops the server it
    # re-attached, the new gateway the cluster it re-attached; nothing had to be swept
    assert code == 0, gw.log()[-3000:]
    assert not gw.survivors(), [p.cmdline() for p in gw.survivors()]
    assert "leftover" not in gw.log(), gw.log()[-3000:]
    assert "twinhub: stopped." in gw.log()


def test_a_hub_that_keeps_dying_stops_the_gateway(tmp_path: Path, artifacts_dir: Path) -> None:
    gw = start_gateway(
        tmp_path / "state",
        artifacts_dir / "fault-hub-gives-up.log",
        extra_env={"TWINHUB_HUB_MAX_RESTARTS": "1"},
    )
    try:
        first = find(gw, HUB)
        os.kill(first.pid, signal.SIGKILL)
        second = wait_for(
            lambda: next(
                (p for p in gw.descendants() if _marked(p) == "hub" and p.pid != first.pid), None
            ),
            timeout=120,
            interval=0.2,
            message="the launcher restarted the hub",
        )
        assert second is not None, "the launcher did not restart the hub"
        os.kill(second.pid, signal.SIGKILL)
        gw.process.wait(timeout=120)
        assert gw.process.returncode != 0
        log = gw.log()
        assert "giving up" in log and "TWINHUB_HUB_MAX_RESTARTS=1" in log, log[-3000:]
        assert "twinhub: stopped." in log
        wait_for(
            lambda: [p.cmdline() for p in gw.survivors()],
            until=lambda survivors: not survivors,
            timeout=30,
            ignore=(psutil.Error,),  # one ended while we read its command line
            message="no process of the gateway left",
        )
        assert not gw.survivors(), [p.cmdline() for p in gw.survivors()]
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{gw.url}/hub/health", timeout=5)  # the proxy is gone too
    finally:
        gw.stop()
