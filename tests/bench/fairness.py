"""Benchmark 5: a small dashboard run beside another user's large runs, vs alone.

The lattice twin's dashboard as the dashboard service runs it (``UserClient`` on the service's
own Dask cluster, sessions driven without a browser): Ben's small temperature scan, alone, then
asked for while Ann has large scans going and queued. The ratio is how much Ann's runs slow
Ben's down (goal <= 1.5x), with its 95 % bootstrap interval and the load average; with one
queue per twin it was 5-14x, with long tasks about 50x (issue 16). Ann's runs are also checked
to finish: fairness must not starve the large user.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from .stats import compare, load_average, summary

SMALL = {"size": 8, "n_temperatures": 3, "sweeps": 100, "t_min": 2.0, "t_max": 2.5}
LARGE = {"size": 32, "n_temperatures": 6, "sweeps": 1000, "t_min": 1.8, "t_max": 3.0}
ROUNDS = 7
QUEUED = 2
"""Ann's large runs queued before each of Ben's small runs."""


def _session(user: str, params: dict):
    from twinhub.extensions.dashboards.cluster import UserClient
    from twinhub.twins.lattice.app import LatticeDashboard

    return LatticeDashboard(client=UserClient(user), **params)


async def _timed(state) -> float:
    start = time.monotonic()
    await state.refresh()
    if state.error:
        raise RuntimeError(f"the run failed: {state.error}")
    return time.monotonic() - start


async def _ann_going() -> None:
    """Until Ann's tasks are on the cluster (her run has started, not only been asked for)."""
    from twinhub.extensions.dashboards import cluster

    client = cluster.shared_client()
    deadline = time.monotonic() + 120
    while not any(client.processing().values()):
        if time.monotonic() > deadline:
            raise RuntimeError("ann's large run did not start within 120 s")
        await asyncio.sleep(0.01)


async def _beside(rounds: int) -> tuple[list[float], int]:
    """Ben's small runs, each asked for once Ann has QUEUED more large runs and one is going."""
    times, anns = [], []
    for _ in range(rounds):
        anns += [asyncio.ensure_future(_session("ann", LARGE).refresh()) for _ in range(QUEUED)]
        await _ann_going()
        times.append(await _timed(_session("ben", SMALL)))
    await asyncio.gather(*anns)
    return times, len(anns)


def run(_tmp: Path, rounds: int = ROUNDS) -> dict:
    from twinhub.extensions.dashboards import cluster

    loads = [load_average()]
    try:
        cluster.shared_client().wait_for_workers(1, timeout=120)
        asyncio.run(_timed(_session("ben", SMALL)))  # warm-up: the workers' JIT compile
        alone = [asyncio.run(_timed(_session("ben", SMALL))) for _ in range(rounds)]
        loads.append(load_average())
        beside, large_runs = asyncio.run(_beside(rounds))
        loads.append(load_average())
    finally:
        cluster.close()
    return {
        "alone": summary(alone),
        "beside": summary(beside),
        "large_runs_finished": large_runs,
        "ratio": compare(beside, alone),
        "load_average": {"min": min(one[0] for one in loads), "max": max(one[0] for one in loads)},
    }
