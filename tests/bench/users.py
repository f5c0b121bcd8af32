"""Benchmark 4: many users at once, bounded (in the spirit of hubtraf).

N simulated users arrive together; each logs in (form + token), spawns its server, calls the
registry (twinhub) or the hub's user API (baseline), and stops. The hub's
``concurrent_spawn_limit`` and ``active_server_limit`` make it queue (429 + Retry-After, which
the client waits out); a failure is any other error answer or a timeout.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from . import client
from .hubs import running, start_baseline, start_twinhub
from .stats import summary

STEPS = ("login", "spawn", "api", "stop")


SECONDS_PER_QUEUED_USER = 8
"""How long a simulated user waits for its server per user in the round (the hub queues spawns
behind ``concurrent_spawn_limit``: at 100 users the last ones wait minutes, which is queueing,
not failing; a fixed 300 s deadline made the bench itself fail them on a busy machine)."""


async def _one_user(
    url: str, name: str, password: str, api_path: str, spawn_timeout: float = 300
) -> dict:
    times: dict[str, float] = {}
    user = None
    step = "login"
    try:
        t = time.monotonic()
        user = await client.login(url, name, password)
        times["login"] = time.monotonic() - t
        step = "spawn"
        times["spawn"] = await client.spawn(user, timeout=spawn_timeout)
        step = "api"
        t = time.monotonic()
        r = await user.client.get(api_path, headers=user.headers)
        if r.status_code != 200:
            # the answer's body tells a proxy error (CHP's page) from the service's own error
            raise client.StepFailed(
                f"api: {r.status_code} at {time.strftime('%H:%M:%S')}: {r.text[:120]}"
            )
        times["api"] = time.monotonic() - t
        step = "stop"
        times["stop"] = await client.stop(user)
        return {"times": times, "failed": None, "retries": user.retries}
    except (client.StepFailed, httpx.HTTPError) as e:
        return {"times": times, "failed": f"{step}: {e!r}"[:300], "retries": 0}
    finally:
        if user is not None:
            await user.client.aclose()


async def _round(url: str, password: str, n: int, api_path: str) -> dict:
    start = time.monotonic()
    results = await asyncio.gather(
        *(
            _one_user(
                url,
                f"load{n}-{i}",
                password,
                api_path,
                spawn_timeout=max(300, SECONDS_PER_QUEUED_USER * n),
            )
            for i in range(n)
        )
    )
    failures = [r["failed"] for r in results if r["failed"]]
    return {
        "users": n,
        "wall_s": round(time.monotonic() - start, 1),
        "failed": len(failures),
        "failures": failures[:10],
        "retries_429": sum(r["retries"] for r in results),
        "steps": {s: summary([r["times"][s] for r in results if s in r["times"]]) for s in STEPS},
    }


def run(root: Path, sizes: tuple[int, ...] = (10, 50, 100)) -> dict:
    out: dict = {}
    targets = (
        ("baseline", start_baseline, "/hub/api/user"),
        ("twinhub", start_twinhub, "/services/twinhub/api/twins"),
    )
    for label, start, api_path in targets:
        with running(start(root / f"users-{label}")) as hub:
            out[label] = {
                str(n): asyncio.run(_round(hub.url, hub.user_password, n, api_path)) for n in sizes
            }
    return out
