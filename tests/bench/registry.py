"""Benchmark 3: registry throughput (authenticated reads at 1/10/50 clients, and writes).

Baseline: the hub's own authenticated ``GET /hub/api/user`` through the same proxy, i.e. the
cheapest authenticated JSON answer of a bare JupyterHub. The registry checks each token with
the hub once and then serves it from HubOAuth's cache (``TWINHUB_AUTH_CACHE_SECONDS``): the
hub's own request counter for ``SelfAPIHandler`` (its ``/hub/metrics``) shows how many checks
reached the hub during the run.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx

from tests.support.gateway import Gateway
from tests.support.twins import manifest

from .hubs import running, start_twinhub
from .stats import percentile

API = "/services/twinhub/api"
CLIENTS = (1, 10, 50)


async def _load(url: str, path: str, token: str, clients: int, seconds: float) -> dict:
    """``clients`` concurrent loops of GET for ``seconds``: req/s, p95, non-200 answers."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"token {token}"}, timeout=30, limits=limits
    ) as client:
        end = time.monotonic() + seconds

        async def loop() -> None:
            nonlocal errors
            while time.monotonic() < end:
                t = time.monotonic()
                r = await client.get(path)
                latencies.append(time.monotonic() - t)
                errors += r.status_code != 200

        start = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(clients)))
        elapsed = time.monotonic() - start
    return {
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "requests": len(latencies),
        "errors": errors,
    }


async def _writes(url: str, token: str, names: list[str], clients: int) -> dict:
    """POST one new twin per name from ``clients`` concurrent writers: writes/s, p95, errors."""
    latencies: list[float] = []
    errors = 0
    count = len(names)
    queue = list(names)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"token {token}"}, timeout=60
    ) as client:

        async def writer() -> None:
            nonlocal errors
            while queue:
                name = queue.pop()
                t = time.monotonic()
                r = await client.post(f"{API}/twins", json=manifest(name))
                latencies.append(time.monotonic() - t)
                errors += r.status_code != 201

        start = time.monotonic()
        await asyncio.gather(*(writer() for _ in range(clients)))
        elapsed = time.monotonic() - start
    return {
        "writes_per_s": round(count / elapsed, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "errors": errors,
    }


def hub_token_checks(hub: Gateway, admin_token: str) -> int:
    """How many ``GET /hub/api/user`` (token checks by services) the hub has answered."""
    r = httpx.get(
        f"{hub.url}/hub/metrics", headers={"Authorization": f"token {admin_token}"}, timeout=30
    )
    r.raise_for_status()
    pattern = re.compile(
        r'^jupyterhub_request_duration_seconds_count\{[^}]*handler="[^"]*SelfAPIHandler"[^}]*\}'
        r"\s+([0-9.e+]+)$",
        re.M,
    )
    return int(sum(float(m) for m in pattern.findall(r.text)))


def registry_time(hub: Gateway) -> tuple[float, int]:
    """Seconds the registry spent answering GETs so far, and how many (its own histogram).

    Separates the registry's cost from the load generator's and the proxy's, which share the
    same cores: at 50 clients the Python client, not the server, sets the pace.
    """
    r = httpx.get(f"{hub.url}/services/twinhub/metrics", timeout=30)
    r.raise_for_status()
    total = count = 0.0
    for line in r.text.splitlines():
        if 'method="GET"' not in line or "/api/twins" not in line:
            continue
        if line.startswith("twinhub_registry_request_duration_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("twinhub_registry_request_duration_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, int(count)


def run(root: Path, seconds: float = 5.0, writes: int = 100) -> dict:
    out: dict = {"reads": {}, "writes": {}}
    with running(start_twinhub(root / "registry")) as hub:
        user = hub.login("reader")
        admin = hub.login("admin", hub.admin_password)
        direct = f"http://127.0.0.1:{hub.settings.registry_port}"
        runs = [
            # (label, base URL, path): the baseline first, then the registry through the
            # public proxy (what users see) and directly (what the hub and servers use)
            ("hub GET /hub/api/user (baseline)", hub.url, "/hub/api/user"),
            ("GET /api/twins", hub.url, f"{API}/twins"),
            ("GET /api/twins/{name}", hub.url, f"{API}/twins/growth"),
            ("GET /api/twins direct", direct, f"{API}/twins"),
            ("GET /api/twins/{name} direct", direct, f"{API}/twins/growth"),
        ]
        httpx.get(f"{hub.url}{API}/twins", headers=user.headers).raise_for_status()  # warm
        total = checks = 0
        spent_before, answered_before = registry_time(hub)
        for label, base, path in runs:
            before = hub_token_checks(hub, admin.token)
            for n in CLIENTS:
                result = asyncio.run(_load(base, path, user.token, n, seconds))
                out["reads"][f"{label} x{n}"] = result
                if path.startswith(API):
                    total += result["requests"]
            if path.startswith(API):
                checks += hub_token_checks(hub, admin.token) - before
        out["token_checks"] = {"registry_requests": total, "hub_token_checks": checks}
        spent, answered = registry_time(hub)
        per_request = (spent - spent_before) / max(1, answered - answered_before)
        out["server_side"] = {
            "ms_per_read": round(per_request * 1000, 2),
            "reads_per_s_one_core": round(1 / per_request) if per_request else None,
        }
        for n in (1, 10):
            names = [f"bench-x{n}-{i}" for i in range(writes)]
            out["writes"][f"POST /api/twins x{n}"] = asyncio.run(
                _writes(hub.url, admin.token, names, n)
            )
    return out
