"""kill -9 of the registry during a burst of writes: no acknowledged write lost, no partial row,
the hub keeps serving and says the registry is unavailable, and the hub restarts it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import Gateway, start_gateway
from tests.support.twins import make_twins_dir, manifest

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
    with httpx.Client(base_url=gateway.url + API, headers=headers, timeout=10) as c:
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


def _until(get, good, seconds: float = 5.0) -> httpx.Response:
    """``get()`` until ``good(response)``, or the last response after ``seconds``."""
    deadline = time.monotonic() + seconds
    response = get()
    while not good(response) and time.monotonic() < deadline:
        time.sleep(0.2)
        response = get()
    return response


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
        deadline = time.monotonic() + 60
        while len(acked) < 15 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acked) >= 15, "the registry acknowledged too few writes before the kill"
        registry = find(gateway, REGISTRY)
        os.kill(registry.pid, signal.SIGKILL)

        # while it is down: the hub serves its pages and says what is wrong (its status check
        # is cached for a second, so look for a few seconds)
        down = _until(
            lambda: httpx.get(f"{gateway.url}/services/twinhub/twins", timeout=10),
            lambda r: "The twin registry is unavailable" in r.text,
        )
        assert down.status_code == 503
        assert "restarts the registry on its own" in down.text
        assert httpx.get(f"{gateway.url}/hub/health", timeout=10).status_code == 200
        with gateway.client(cookies=alice.cookies) as c:
            home = _until(
                lambda: c.get("/hub/home"), lambda r: "Twins (registry unavailable)" in r.text
            )
        assert home.status_code == 200
    finally:
        stop.set()
        for t in writers:
            t.join()

    # the hub restarts its managed service (it polls it every Spawner.poll_interval, 30 s)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{gateway.url}{API}/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        pytest.fail(f"the hub did not restart the registry:\n{gateway.log()[-3000:]}")
    assert find(gateway, REGISTRY).pid != registry.pid

    with httpx.Client(base_url=gateway.url + API, headers=admin.headers, timeout=30) as c:
        listed = c.get("/twins", params={"limit": 500}).json()
    stored = {item["name"] for item in listed["items"]}
    missing = set(acked) - stored
    assert not missing, f"acknowledged but lost: {sorted(missing)}"

    db = gateway.settings.state_dir / "registry.sqlite"
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
