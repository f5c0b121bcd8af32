"""Nobody holds what others need: per-user quotas of Dask clusters and of spawns in flight.

A real gateway with small limits: two clusters and three cores per user, one spawn in flight
per user out of two for the whole hub. Alice's third cluster is refused with the limit named,
Bob's first one is not; a scale to three one-core workers (plus the scheduler's core) is held
at two; while Alice starts three servers at once, Bob's spawn is not throttled by hers.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import Gateway, Session, dask_gateway_api, start_cluster, start_gateway

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def small_gateway(
    tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path
) -> Iterator[Gateway]:
    log = artifacts_dir / "quotas-gateway.log"
    gw = start_gateway(
        tmp_path_factory.mktemp("quotas-state"),
        log,
        extra_env={
            "TWINHUB_DASK_MAX_CLUSTERS_PER_USER": "2",
            "TWINHUB_DASK_MAX_CORES_PER_USER": "3",
            "TWINHUB_CONCURRENT_SPAWN_LIMIT": "2",
            "TWINHUB_SPAWNS_PER_USER": "1",
        },
    )
    try:
        yield gw
    finally:
        gw.stop()
        shutil.copy(log, artifacts_dir / "quotas-gateway-session.log")


def _stop_clusters(gw: Gateway, user: Session) -> None:
    with dask_gateway_api(gw, user) as api:
        for name in api.get("/clusters/").json():
            api.delete(f"/clusters/{name}")


def test_a_users_third_cluster_is_refused_naming_the_limit_and_others_are_unaffected(
    small_gateway: Gateway,
) -> None:
    gw = small_gateway
    alice, bob = gw.login("alice"), gw.login("bob")
    try:
        with dask_gateway_api(gw, alice) as api:
            for _ in range(2):
                r = api.post("/clusters/", json={"cluster_options": {}})
                assert r.status_code == 201, r.text
            third = api.post("/clusters/", json={"cluster_options": {}})
            assert third.status_code == 422
            assert "limit is 2 clusters per user" in third.text
            assert len(api.get("/clusters/").json()) == 2  # nothing half-created
        with dask_gateway_api(gw, bob) as api:
            r = api.post("/clusters/", json={"cluster_options": {}})
            assert r.status_code == 201, r.text
    finally:
        _stop_clusters(gw, alice)
        _stop_clusters(gw, bob)


def _heartbeat_counts(gw: Gateway, cluster: str) -> list[tuple[int, int]]:
    """(workers asked for, workers active) of each heartbeat the gateway logged for it."""
    pattern = re.compile(rf"Cluster {cluster} heartbeat \[count: (\d+), n_active: (\d+)")
    return [(int(a), int(b)) for a, b in pattern.findall(gw.log())]


def test_scaling_is_held_within_the_users_cores(small_gateway: Gateway) -> None:
    gw = small_gateway
    alice = gw.login("alice")
    try:
        with dask_gateway_api(gw, alice) as api:
            name = start_cluster(api, worker_cores=1)
            assert api.post(f"/clusters/{name}/scale", json={"count": 3}).status_code == 200
            deadline = time.monotonic() + 180
            while not any(active == 2 for _, active in _heartbeat_counts(gw, name)):
                assert time.monotonic() < deadline, _heartbeat_counts(gw, name)
                time.sleep(0.5)
        assert max(asked for asked, _ in _heartbeat_counts(gw, name)) == 2
        assert f"Cluster {name} of alice asks for 3 workers" in gw.log()
    finally:
        _stop_clusters(gw, alice)


def test_one_user_starting_many_servers_does_not_hold_every_spawn_slot(
    small_gateway: Gateway,
) -> None:
    """Alice asks for three servers at once: one starts, the others are refused (429) with
    the per-user limit named, so Bob's spawn right after finds a free slot of the hub's two."""
    gw = small_gateway
    alice, bob = gw.login("alice"), gw.login("bob")
    answers: dict[str, httpx.Response] = {}

    def spawn(user: Session, server: str) -> None:
        with gw.client(headers=user.headers) as c:
            answers[f"{user.name}/{server}"] = c.post(
                f"/hub/api/users/{user.name}/servers/{server}", json={}
            )

    alices = [threading.Thread(target=spawn, args=(alice, f"s{i}")) for i in range(3)]
    for t in alices:
        t.start()
    deadline = time.monotonic() + 120
    while len(answers) < 2:  # the refusals come at once; the server that starts takes longer
        assert time.monotonic() < deadline, f"alice's spawns gave no answer: {answers}"
        time.sleep(0.05)
    spawn(bob, "b0")  # while alice's server is still starting
    for t in alices:
        t.join(180)
    try:
        assert answers["bob/b0"].status_code in (201, 202), answers["bob/b0"].text
        mine = [answers[f"alice/s{i}"] for i in range(3)]
        codes = sorted(r.status_code for r in mine)
        assert codes[0] in (201, 202) and codes[1:] == [429, 429], codes
        assert any("limit is 1 spawns in flight per user" in r.text for r in mine)
    finally:
        for user, server in [(bob, "b0")] + [(alice, f"s{i}") for i in range(3)]:
            try:
                gw.stop_server(user, server)
            except (AssertionError, TimeoutError):
                pass  # refused spawns have no server to stop
