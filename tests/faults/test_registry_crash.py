"""kill -9 of the registry during a burst of writes: no acknowledged write lost, no partial row,
the hub keeps serving and says the registry is unavailable, and the hub restarts it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from twinhub.extensions.registry.config import default_database

from tests.support.gateway import Gateway, start_gateway
from tests.support.twins import make_twins_dir, manifest
from tests.support.waiting import WaitTimeout, wait_for, wait_until_answers

from .processes import REGISTRY, find

pytestmark = pytest.mark.integration
API = "/services/twinhub/api"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("registry-crash")
    twins_dir, pythonpath = make_twins_dir(root, [manifest("growth")])
    env = {"TWINHUB_TWINS_DIR": str(twins_dir), "PYTHONPATH": str(pythonpath)}
    gw = start_gateway(root / "state", artifacts_dir / "fault-registry.log", env)
    try:
        yield gw
    finally:
        gw.stop()


def _burst(gateway: Gateway, token: str, acked: list[str], stop: threading.Event, k: int):
    """Register twins until told to stop; remember the names the registry acknowledged."""
    headers = {"Authorization": f"token {token}"}
    # a twin write checks its entry points in a subprocess first: seconds on a loaded machine
    with httpx.Client(base_url=gateway.url + API, headers=headers, timeout=60) as c:
        i = 0
        while not stop.is_set():
            name = f"burst-{k}-{i}"
            i += 1
            try:
                r = c.post("/twins", json=manifest(name))
            except httpx.HTTPError:
                continue
            if r.status_code == 201:
                acked.append(name)


def test_registry_killed_mid_burst_loses_no_acknowledged_write(gateway: Gateway) -> None:
    admin = gateway.login("admin", gateway.admin_password)
    alice = gateway.login("alice")
    acked: list[str] = []
    stop = threading.Event()
    writers = [
        threading.Thread(target=_burst, args=(gateway, admin.token, acked, stop, k))
        for k in range(3)
    ]
    for t in writers:
        t.start()
    try:
        wait_for(
            lambda: len(acked),
            until=lambda n: n >= 15,
            # each twin write checks the twin's entry points in a subprocess of its
            # environment (about a second under load): the burst is slower than it was
            timeout=240,
            interval=0.05,
            message="15 writes acknowledged by the registry",
        )
        assert len(acked) >= 15, "the registry acknowledged too few writes before the kill"
        registry = find(gateway, REGISTRY)
        os.kill(registry.pid, signal.SIGKILL)

        # while it is down: the hub serves its pages and says what is wrong (its status check
        # is cached for a second, so look until it says so)
        down = wait_for(
            lambda: httpx.get(f"{gateway.url}/services/twinhub/twins", timeout=10),
            until=lambda r: "The twin registry is unavailable" in r.text,
            timeout=30,
            interval=0.2,
            message="the Twins page saying the registry is unavailable",
        )
        assert down.status_code == 503
        assert "restarts the registry on its own" in down.text
        assert httpx.get(f"{gateway.url}/hub/health", timeout=10).status_code == 200
        with gateway.client(cookies=alice.cookies) as c:
            home = wait_for(
                lambda: c.get("/hub/home"),
                until=lambda r: "Twins (registry unavailable)" in r.text,
                timeout=30,
                interval=0.2,
                message="the hub's home page saying the registry is unavailable",
            )
        assert home.status_code == 200
    finally:
        stop.set()
        for t in writers:
            t.join()

    # the hub restarts its managed service (it polls it every 5 s: hub/app.py)
    try:
        wait_until_answers(
            f"{gateway.url}{API}/health", timeout=90, interval=1, message="the registry again"
        )
    except WaitTimeout as e:
        pytest.fail(f"the hub did not restart the registry ({e}):\n{gateway.log()[-3000:]}")
    assert find(gateway, REGISTRY).pid != registry.pid

    with httpx.Client(base_url=gateway.url + API, headers=admin.headers, timeout=30) as c:
        listed = c.get("/twins", params={"limit": 500}).json()
    stored = {item["name"] for item in listed["items"]}
    missing = set(acked) - stored
    assert not missing, f"acknowledged but lost: {sorted(missing)}"

    db = default_database(gateway.settings.state_dir)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = con.execute("SELECT name, manifest, version FROM twins").fetchall()
        history = {
            key
            for (key,) in con.execute(
                "SELECT key FROM history WHERE kind = 'twin' AND action = 'create'"
            )
        }
    for name, document, version in rows:
        # no partial row: each twin has its full manifest and the history entry written with it
        manifest_doc = json.loads(document)
        assert manifest_doc["name"] == name and manifest_doc["version"] == version
        assert name in history, f"twin {name} has no history entry"
