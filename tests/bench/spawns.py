"""Benchmark 1: spawn latency, bare hub vs twinhub, as a ratio with its confidence interval.

A spawn is timed from the REST ``POST`` to the server answering its API through the proxy. Both
hubs run side by side, are warmed the same way (one discarded spawn per user), and inside each
round the two alternate, the first of the pair changing every round, so that a change of load
during the run falls on both. Rounds repeat until the 95 % bootstrap interval of the median
ratio is narrower than ``tolerance`` or ``max_rounds`` is reached (then the table says so).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from . import client
from .hubs import running, start_baseline, start_twinhub
from .stats import compare, load_average, summary

LABELS = ("baseline", "twinhub")


async def _spawn_stop(user: client.User) -> float:
    seconds = await client.spawn(user)
    await client.stop(user)
    return seconds


async def _concurrent(users: list[client.User]) -> list[float]:
    seconds = await asyncio.gather(*(client.spawn(u) for u in users))
    await asyncio.gather(*(client.stop(u) for u in users))
    return list(seconds)


def _tight(samples: dict[str, list[float]], tolerance: float) -> bool:
    ci = compare(samples["twinhub"], samples["baseline"])["median_ci95"]
    return ci[1] - ci[0] <= tolerance


async def _measure(
    hubs: dict, min_rounds: int, max_rounds: int, concurrent: int, tolerance: float
) -> dict:
    users = {
        label: [
            await client.login(hub.url, f"spawn{i}", hub.user_password) for i in range(concurrent)
        ]
        for label, hub in hubs.items()
    }
    seq: dict[str, list[float]] = {label: [] for label in LABELS}
    conc: dict[str, list[float]] = {label: [] for label in LABELS}
    loads = [load_average()]
    try:
        for label in LABELS:  # warm-up: the first spawn of every user, discarded
            await _concurrent(users[label])
        rounds = 0
        while rounds < max_rounds and (rounds < min_rounds or not _tight(seq, tolerance)):
            order = LABELS if rounds % 2 == 0 else LABELS[::-1]
            for label in order:
                seq[label].append(await _spawn_stop(users[label][0]))
            rounds += 1
            loads.append(load_average())
        for i in range(2):  # concurrent batches, alternating too
            for label in LABELS if i % 2 == 0 else LABELS[::-1]:
                conc[label] += await _concurrent(users[label])
        loads.append(load_average())
    finally:
        for label in LABELS:
            await asyncio.gather(*(u.client.aclose() for u in users[label]))
    out: dict = {
        label: {"sequential": summary(seq[label]), "concurrent": summary(conc[label])}
        for label in LABELS
    }
    out["ratio"] = {
        "sequential": compare(seq["twinhub"], seq["baseline"]),
        "concurrent": compare(conc["twinhub"], conc["baseline"]),
    }
    out["rounds"] = rounds
    out["interval_tight"] = _tight(seq, tolerance)
    out["tolerance"] = tolerance
    out["load_average"] = {"min": min(one[0] for one in loads), "max": max(one[0] for one in loads)}
    out["retries_429"] = sum(u.retries for label in LABELS for u in users[label])
    return out


def run(
    root: Path,
    min_rounds: int = 12,
    max_rounds: int = 40,
    concurrent: int = 10,
    tolerance: float = 0.2,
) -> dict:
    # concurrency limits high enough that the concurrent spawns are not queued by the hub
    limits = {"TWINHUB_CONCURRENT_SPAWN_LIMIT": str(concurrent)}
    with (
        running(start_baseline(root / "spawn-baseline", limits)) as baseline,
        running(start_twinhub(root / "spawn-twinhub", limits)) as twinhub,
    ):
        hubs = {"baseline": baseline, "twinhub": twinhub}
        return asyncio.run(_measure(hubs, min_rounds, max_rounds, concurrent, tolerance))
