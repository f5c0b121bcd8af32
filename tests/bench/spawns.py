"""Benchmark 1: spawn latency, bare hub vs twinhub (20 sequential, 10 concurrent spawns)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from . import client
from .hubs import running, start_baseline, start_twinhub
from .stats import ratio, summary


async def _measure(url: str, password: str, sequential: int, concurrent: int) -> dict:
    users = [await client.login(url, f"spawn{i}", password) for i in range(concurrent)]
    try:
        seq = []
        for _ in range(sequential):
            seq.append(await client.spawn(users[0]))
            await client.stop(users[0])
        conc = await asyncio.gather(*(client.spawn(u) for u in users))
        await asyncio.gather(*(client.stop(u) for u in users))
    finally:
        await asyncio.gather(*(u.client.aclose() for u in users))
    return {
        "sequential": summary(seq),
        "concurrent": summary(list(conc)),
        "retries_429": sum(u.retries for u in users),
    }


def run(root: Path, sequential: int = 20, concurrent: int = 10) -> dict:
    # concurrency limits high enough that the 10 concurrent spawns are not queued by the hub
    limits = {"TWINHUB_CONCURRENT_SPAWN_LIMIT": str(concurrent)}
    out = {}
    for label, start in (("baseline", start_baseline), ("twinhub", start_twinhub)):
        with running(start(root / f"spawn-{label}", limits)) as hub:
            out[label] = asyncio.run(_measure(hub.url, hub.user_password, sequential, concurrent))
    for mode in ("sequential", "concurrent"):
        for stat in ("median_s", "p95_s"):
            out.setdefault("ratio", {})[f"{mode}_{stat}"] = ratio(
                out["twinhub"][mode][stat], out["baseline"][mode][stat]
            )
    return out
