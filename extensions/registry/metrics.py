"""Prometheus metrics of the registry (``GET /metrics``): requests, latency, twins, launches."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "twinhub_registry_requests",
    "HTTP requests answered by the registry",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "twinhub_registry_request_duration_seconds",
    "Time to answer a request",
    ["method", "route"],
    registry=REGISTRY,
)
TWINS = Gauge("twinhub_twins", "Twins by state", ["state"], registry=REGISTRY)
PROFILES = Gauge("twinhub_profiles", "Active infrastructure profiles", registry=REGISTRY)
RUNS = Gauge("twinhub_runs", "Recorded twin runs", registry=REGISTRY)
LAUNCHES = Counter(
    "twinhub_launches",
    "Twin servers the spawn hook resolved",
    ["twin", "profile"],
    registry=REGISTRY,
)


def refresh(counts: dict[str, int]) -> None:
    TWINS.labels("active").set(counts["twins"])
    TWINS.labels("retired").set(counts["retired_twins"])
    PROFILES.set(counts["profiles"])
    RUNS.set(counts["runs"])


class MetricsMiddleware:
    """Counts and times every request by its route template (not its URL: bounded labels)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = {"code": 500}

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # the router records the matched route in the (shared) scope
            template = getattr(scope.get("route"), "path", "(unmatched)")
            method = scope["method"]
            LATENCY.labels(method, template).observe(time.perf_counter() - start)
            REQUESTS.labels(method, template, str(status["code"])).inc()
