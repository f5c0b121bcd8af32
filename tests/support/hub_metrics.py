"""Counters read from a real hub's own Prometheus metrics (``/hub/metrics``)."""

from __future__ import annotations

import re

import httpx

from tests.support.gateway import Gateway

_TOKEN_CHECKS = re.compile(
    r'^jupyterhub_request_duration_seconds_count\{[^}]*handler="[^"]*SelfAPIHandler"[^}]*\}'
    r"\s+([0-9.e+]+)$",
    re.M,
)


def hub_token_checks(hub: Gateway, admin_token: str) -> int:
    """How many ``GET /hub/api/user`` (token checks by services) the hub has answered."""
    r = httpx.get(
        f"{hub.url}/hub/metrics", headers={"Authorization": f"token {admin_token}"}, timeout=30
    )
    r.raise_for_status()
    return int(sum(float(m) for m in _TOKEN_CHECKS.findall(r.text)))
