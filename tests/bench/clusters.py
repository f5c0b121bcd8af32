"""Benchmark 2: time to a usable Dask scheduler, to 2 workers, and to scale to 4.

twinhub: a GatewayCluster through the hub's proxy, authenticated with the user's hub token
(what ``cluster()`` does in a notebook). Baseline: a ``distributed.LocalCluster`` of worker
processes started by the same client, with no gateway in between.
"""

from __future__ import annotations

import time
from pathlib import Path

from dask_gateway import Gateway as GatewayClient
from dask_gateway.auth import JupyterHubAuth
from distributed import Client, LocalCluster

from tests.support.gateway import Gateway

from .hubs import running, start_twinhub
from .stats import ratio, summary


def _timed_gateway(hub: Gateway, token: str) -> dict[str, float]:
    gw = GatewayClient(
        address=f"{hub.url}/services/dask-gateway",
        proxy_address=f"gateway://127.0.0.1:{hub.settings.gateway_tcp_port}",
        auth=JupyterHubAuth(api_token=token),
    )
    start = time.monotonic()
    cluster = gw.new_cluster(worker_memory=0.5)
    try:
        client = cluster.get_client()
        scheduler = time.monotonic() - start
        cluster.scale(2)
        client.wait_for_workers(2, timeout=120)
        two = time.monotonic() - start
        t4 = time.monotonic()
        cluster.scale(4)
        client.wait_for_workers(4, timeout=120)
        four = time.monotonic() - t4
        assert client.submit(sum, [1, 2]).result(timeout=60) == 3
        client.close()
    finally:
        cluster.shutdown()
        gw.close()
    return {"scheduler": scheduler, "two_workers": two, "scale_to_four": four}


def _timed_local() -> dict[str, float]:
    start = time.monotonic()
    cluster = LocalCluster(
        n_workers=0,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit="512MiB",
    )
    try:
        client = Client(cluster)
        scheduler = time.monotonic() - start
        cluster.scale(2)
        client.wait_for_workers(2, timeout=120)
        two = time.monotonic() - start
        t4 = time.monotonic()
        cluster.scale(4)
        client.wait_for_workers(4, timeout=120)
        four = time.monotonic() - t4
        assert client.submit(sum, [1, 2]).result(timeout=60) == 3
        client.close()
    finally:
        cluster.close()
    return {"scheduler": scheduler, "two_workers": two, "scale_to_four": four}


def _collect(samples: list[dict[str, float]]) -> dict:
    return {k: summary([s[k] for s in samples]) for k in samples[0]}


def run(root: Path, repeats: int = 3) -> dict:
    with running(start_twinhub(root / "clusters")) as hub:
        token = hub.login("bench").token
        twinhub = _collect([_timed_gateway(hub, token) for _ in range(repeats)])
    baseline = _collect([_timed_local() for _ in range(repeats)])
    return {
        "baseline": baseline,
        "twinhub": twinhub,
        "ratio": {k: ratio(twinhub[k]["median_s"], baseline[k]["median_s"]) for k in twinhub},
    }
