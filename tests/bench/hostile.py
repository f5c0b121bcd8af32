"""Benchmark: the largest allowed hostile body against a small one (issue 16 §3).

Every check the registry runs before authentication must be linear in the body's size and keep
its event loop free. Each shape of :mod:`tests.support.hostile` (just under the 1 MiB limit) is
sent with a forged token to the registry directly (no proxy in the measurement), as is a small
body (a twin manifest); the row shows the slowest shape's median against the small body's, and
how long another user waited for ``/api/health`` meanwhile.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx

from tests.support.hostile import SHAPES
from tests.support.twins import manifest

from .hubs import running, start_twinhub
from .stats import ratio, summary

API = "/services/twinhub/api"
REPEATS = 5
FORGED = {"Content-Type": "application/json", "Authorization": "token not-a-hub-token"}
"""A token the hub does not know: the body goes through everything before authentication
(without any credentials the registry answers 401 without reading the body further)."""


def _timed_post(client: httpx.Client, body: bytes) -> float:
    started = time.monotonic()
    r = client.post(f"{API}/twins", content=body, headers=FORGED)
    assert r.status_code in (403, 413, 422), r.status_code
    return time.monotonic() - started


def run(root: Path, repeats: int = REPEATS) -> dict:
    small = json.dumps(manifest("small-body")).encode()
    with running(start_twinhub(root / "hostile")) as hub:
        user = hub.login("reader")
        direct = f"http://127.0.0.1:{hub.settings.registry_port}"
        with httpx.Client(base_url=direct, timeout=120) as client:
            baseline = summary([_timed_post(client, small) for _ in range(repeats * 4)])
            shapes = {}
            for name, body in SHAPES.items():
                shapes[name] = summary([_timed_post(client, body) for _ in range(repeats)])
        worst = max(shapes, key=lambda name: shapes[name]["median_s"])
        waits = _health_waits_during(direct, user.headers, SHAPES[worst])
    return {
        "small_bytes": len(small),
        "hostile_bytes": len(SHAPES[worst]),
        "baseline": baseline,
        "shapes": shapes,
        "worst": worst,
        "ratio": ratio(shapes[worst]["median_s"], baseline["median_s"]),
        "health_wait": summary(waits),
    }


def _health_waits_during(url: str, headers: dict, body: bytes) -> list[float]:
    """Latencies of another user's ``/api/health`` while hostile bodies keep arriving."""
    done = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for _ in range(REPEATS):
                _timed_post(client, body)
        done.set()

    sender = threading.Thread(target=hammer)
    waits = []
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        sender.start()
        while not done.is_set():
            started = time.monotonic()
            client.get(f"{API}/health").raise_for_status()
            waits.append(time.monotonic() - started)
    sender.join()
    return waits or [0.0]
