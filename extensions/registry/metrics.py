"""Prometheus metrics of the registry (``GET /metrics``): requests, latency, twins, launches."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request

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


class MetricsMiddleware(BaseHTTPMiddleware):
    """Counts and times every request by its route template (not its URL: bounded labels)."""

    async def dispatch(self, request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "(unmatched)")
        LATENCY.labels(request.method, template).observe(time.perf_counter() - start)
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        return response
