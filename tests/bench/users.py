"""Benchmark 4: many users at once, bounded (in the spirit of hubtraf).

N simulated users arrive together; each logs in (form + token), spawns its server, calls the
registry (twinhub) or the hub's user API (baseline), opens one dashboard (twinhub: the test
twin's page through the proxy with the login cookie, the service's OAuth round trip included;
the bare hub has none) and stops. The hub's ``concurrent_spawn_limit`` and
``active_server_limit`` make it queue (429 + Retry-After, which the client waits out); a failure
is any other error answer or a timeout. twinhub runs once through each public proxy
(``TWINHUB_PROXY``), the bare hub once (configurable-http-proxy), one after the other in one
invocation; each round keeps the load average it ran at and the server start times the hub
itself logged (its "took N seconds to start", queue not included).
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx

from . import client
from .hubs import running, start_baseline, start_twinhub
from .stats import load_average, summary

STEPS = ("login", "spawn", "api", "dashboard", "stop")
DASHBOARD = "/services/twinhub-apps/growth"
"""The bench twin's dashboard (:func:`.hubs.start_twinhub`: an empty Panel page)."""


SECONDS_PER_QUEUED_USER = 8
"""How long a simulated user waits for its server per user in the round (the hub queues spawns
behind ``concurrent_spawn_limit``: at 100 users the last ones wait minutes, which is queueing,
not failing; a fixed 300 s deadline made the bench itself fail them on a busy machine)."""


async def _open_dashboard(user: client.User, path: str) -> None:
    """GET the dashboard page as a browser does: login cookie, no token, redirects followed."""
    r = await user.client.get(path, follow_redirects=True)
    if r.status_code != 200 or "<html" not in r.text[:2000].lower():
        raise client.StepFailed(
            f"dashboard: {r.status_code} at {time.strftime('%H:%M:%S')} ({r.url}): {r.text[:120]}"
        )


async def _one_user(
    url: str,
    name: str,
    password: str,
    api_path: str,
    spawn_timeout: float = 300,
    dashboard_path: str | None = None,
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
        if dashboard_path:
            step = "dashboard"
            t = time.monotonic()
            await _open_dashboard(user, dashboard_path)
            times["dashboard"] = time.monotonic() - t
        step = "stop"
        times["stop"] = await client.stop(user)
        return {"times": times, "failed": None, "retries": user.retries}
    except (client.StepFailed, httpx.HTTPError) as e:
        return {"times": times, "failed": f"{step}: {e!r}"[:300], "retries": 0}
    finally:
        if user is not None:
            await user.client.aclose()


async def _sample_load(loads: list[float], every: float = 5) -> None:
    while True:
        loads.append(load_average()[0])
        await asyncio.sleep(every)


async def _round(
    url: str, password: str, n: int, api_path: str, dashboard_path: str | None = None
) -> dict:
    start = time.monotonic()
    loads: list[float] = []
    sampler = asyncio.create_task(_sample_load(loads))
    results = await asyncio.gather(
        *(
            _one_user(
                url,
                f"load{n}-{i}",
                password,
                api_path,
                spawn_timeout=max(300, SECONDS_PER_QUEUED_USER * n),
                dashboard_path=dashboard_path,
            )
            for i in range(n)
        )
    )
    sampler.cancel()
    loads.append(load_average()[0])
    failures = [r["failed"] for r in results if r["failed"]]
    return {
        "users": n,
        "wall_s": round(time.monotonic() - start, 1),
        "failed": len(failures),
        "failures": failures[:10],
        "retries_429": sum(r["retries"] for r in results),
        "steps": {s: summary([r["times"][s] for r in results if s in r["times"]]) for s in STEPS},
        "load_average_1min": {
            "start": loads[0],
            "median": sorted(loads)[len(loads) // 2],
            "max": max(loads),
        },
    }


_STARTED = re.compile(r"User (\S+) took ([0-9.]+) seconds to start")
_GAVE_UP = re.compile(r"didn't respond in|never showed up|Giving up|failed to start", re.I)


def hub_start_times(log: str) -> dict:
    """What the hub itself logged: seconds from start() to the server's first answer (no queue),
    and how many spawns it gave up on."""
    took = [float(m.group(2)) for m in _STARTED.finditer(log)]
    return {
        **summary(took),
        "max_s": max(took, default=float("nan")),
        "gave_up_lines": sum(1 for line in log.splitlines() if _GAVE_UP.search(line)),
    }


TARGETS = (
    # label, start, its environment, the API call, the dashboard (None: the bare hub has none)
    ("twinhub", start_twinhub, {"TWINHUB_PROXY": "chp"}, "/services/twinhub/api/twins", DASHBOARD),
    (
        "twinhub-traefik",
        start_twinhub,
        {"TWINHUB_PROXY": "traefik"},
        "/services/twinhub/api/twins",
        DASHBOARD,
    ),
    ("baseline", start_baseline, {}, "/hub/api/user", None),
)


def run(root: Path, sizes: tuple[int, ...] = (10, 50, 100)) -> dict:
    out: dict = {}
    for label, start, env, api_path, dashboard in TARGETS:
        with running(start(root / f"users-{label}", env)) as hub:
            out[label] = {}
            for n in sizes:
                seen = len(hub.log())
                out[label][str(n)] = asyncio.run(
                    _round(hub.url, hub.user_password, n, api_path, dashboard)
                )
                out[label][str(n)]["hub_start_times"] = hub_start_times(hub.log()[seen:])
    return out
