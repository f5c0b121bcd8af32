"""Benchmark: twin compute on 1 and 2 Dask workers (issue 19 section 5).

Three workloads a user runs every day: the flood twin's calibration (differential evolution,
each generation's candidates one Dask task each), its 200-member ensemble (members in blocks,
one block a task) and the lattice twin's temperature sweep (one replica a task). Each runs on
a ``LocalCluster`` of one single-threaded worker process and on one of two, both clusters
alive for the whole bench and used in alternation (1, 2, 1, 2, ...) so that a change of load
on the machine falls on both sides alike. Reported per workload: the speed-up
``median(1 worker) / median(2 workers)`` with its 95 % bootstrap interval, n, and the load
average; the goal is >= 1.7x with 2 workers (a perfect 2x leaves nothing for the scheduler,
the client and the serialisation of results).

On a machine whose two cores are busy with something else the speed-up is bounded by the cores
left: read the load average beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster
from twinhub.twins.flood.calibrate import calibrate_flood
from twinhub.twins.twin import load_twin

from .stats import bootstrap_ratio_interval, load_average, ratio, summary

ROUNDS = 3
GOAL = 1.7
ENSEMBLE = {"ensemble_size": 200}
SWEEP = {
    "temperatures": [2.0, 2.2, 2.269, 2.35, 2.5, 2.7],
    "sizes": [16],
    "sweeps": 1000,
    "replicas": 4,
}
CALIBRATION = {"generations": 12, "popsize": 8, "seed": 42}


def _workloads() -> dict[str, Callable[[Client], Any]]:
    flood = load_twin("flood")
    lattice = load_twin("lattice")
    inputs = flood.inputs().load()
    return {
        "flood calibration": lambda client: calibrate_flood(
            inputs, client=client, progress=False, **CALIBRATION
        ),
        "flood ensemble, 200 members": lambda client: flood.run(ENSEMBLE, client=client),
        "lattice sweep": lambda client: lattice.run(SWEEP, client=client),
    }


def _timed(work: Callable[[Client], Any], client: Client) -> float:
    start = time.monotonic()
    with client.as_current():
        work(client)
    return time.monotonic() - start


def run(root: Path, rounds: int = ROUNDS) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    workloads = _workloads()
    loads = [load_average()[0]]
    results: dict[str, Any] = {"goal": f">= {GOAL}x with 2 workers", "rounds": rounds}
    common = dict(threads_per_worker=1, processes=True, dashboard_address=None,
                  local_directory=str(root))  # fmt: skip
    with (
        LocalCluster(n_workers=1, **common) as one_cluster,
        LocalCluster(n_workers=2, **common) as two_cluster,
        Client(one_cluster, set_as_default=False) as one,
        Client(two_cluster, set_as_default=False) as two,
    ):
        two.wait_for_workers(2, timeout=120)
        for name, work in workloads.items():
            print(f"  scaling: {name}", flush=True)
            _timed(work, one)  # warm both: imports and the inputs on the workers
            _timed(work, two)
            times: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
            for _ in range(rounds):
                times["1 worker"].append(_timed(work, one))
                times["2 workers"].append(_timed(work, two))
                loads.append(load_average()[0])
            speedup = ratio(
                summary(times["1 worker"])["median_s"], summary(times["2 workers"])["median_s"]
            )
            results[name] = {
                "one_worker": summary(times["1 worker"]),
                "two_workers": summary(times["2 workers"]),
                "speedup": speedup,
                "speedup_ci95": list(
                    bootstrap_ratio_interval(times["1 worker"], times["2 workers"])
                ),
                "goal_met": speedup >= GOAL,
            }
    results["load_average"] = {"min": min(loads), "max": max(loads)}
    return results
