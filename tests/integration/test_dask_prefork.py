"""Schedulers forked from the gateway's warm process on the real gateway
(extensions/gateway_backends/prefork.py).

What a user could notice: the forked scheduler is a real one (workers join over TLS, a known
sum comes back, its dashboard answers), it runs in its cluster's own directory, it is gone
once the cluster stops, and a dead warm process costs no cluster.
"""

from __future__ import annotations

import psutil
import pytest

from tests.support.gateway import Gateway, dask_gateway_api, gateway_client, submit_cluster
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

N = 100_000


def _is_prefork(p: psutil.Process) -> bool:
    try:
        return "twinhub.extensions.gateway_backends.prefork" in " ".join(p.cmdline())
    except psutil.Error:
        return False


def _zygotes(gateway: Gateway) -> list[psutil.Process]:
    """The warm processes (forked schedulers share their command line, not their parent)."""
    procs = [p for p in gateway.descendants() if _is_prefork(p)]
    pids = {p.pid for p in procs}
    return [p for p in procs if p.ppid() not in pids]


def _wait_running(gateway: Gateway, user, name: str) -> None:
    with dask_gateway_api(gateway, user) as api:
        report = api.get(f"/clusters/{name}", params={"wait": ""}, timeout=120).json()
    assert report["status"] == "RUNNING", report


def _compute_and_stop(gateway: Gateway, user, name: str) -> int:
    gw = gateway_client(gateway, user)
    try:
        cluster = gw.connect(name)
        cluster.scale(1)
        with cluster.get_client(set_as_default=False) as client:
            client.wait_for_workers(1, timeout=180)
            total = client.submit(sum, range(N)).result(timeout=120)
        cluster.shutdown()
    finally:
        gw.close()
    return total


def test_forked_scheduler_computes_in_its_cluster_dir_and_stops(gateway: Gateway) -> None:
    user = gateway.login("forky")
    (zygote,) = _zygotes(gateway)
    before = {c.pid for c in zygote.children()}
    name = submit_cluster(gateway, user, worker_memory=0.5)
    _wait_running(gateway, user, name)
    (scheduler,) = [c for c in zygote.children() if c.pid not in before]
    assert scheduler.cwd().endswith(name)  # the cluster's working directory
    # its initial environment is the warm process's: none of the gateway's secrets
    assert "JUPYTERHUB_API_TOKEN" not in scheduler.environ()
    assert "JUPYTERHUB_API_TOKEN" not in zygote.environ()
    assert _compute_and_stop(gateway, user, name) == N * (N - 1) // 2
    wait_for(
        lambda: not scheduler.is_running(),
        timeout=60,
        message="the forked scheduler ended with its cluster",
    )
    assert not scheduler.is_running(), "the forked scheduler outlived its cluster"


def test_a_dead_warm_process_costs_no_cluster(gateway: Gateway) -> None:
    user = gateway.login("forky2")
    (zygote,) = _zygotes(gateway)
    zygote.kill()
    zygote.wait(10)
    name = submit_cluster(gateway, user, worker_memory=0.5)
    _wait_running(gateway, user, name)
    assert _compute_and_stop(gateway, user, name) == N * (N - 1) // 2
    assert len(_zygotes(gateway)) == 1  # and a new warm process took its place
