"""The registry as the dashboard service asks it: always as the user looking at the page.

The registry applies visibility (private twins only for their audience), so the service never
decides who may see a twin: it asks with the user's own OAuth token and shows what comes back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx


class RegistryUnavailable(RuntimeError):
    """The registry did not answer; the page says so instead of guessing."""


@dataclass(frozen=True)
class TwinLookup:
    """A twin's manifest, or None with the twins this user may open instead."""

    manifest: dict[str, Any] | None
    available: list[dict[str, Any]]


def api_url() -> str:
    url = os.environ.get("TWINHUB_API_URL", "")
    if not url:
        raise RegistryUnavailable("TWINHUB_API_URL is not set: the service needs the registry")
    return url.rstrip("/")


def _get(path: str, token: str) -> httpx.Response:
    try:
        return httpx.get(
            f"{api_url()}{path}", headers={"Authorization": f"token {token}"}, timeout=15
        )
    except httpx.HTTPError as e:
        raise RegistryUnavailable(f"the twin registry cannot be reached: {e}") from e


def visible_twins(token: str) -> list[dict[str, Any]]:
    """Twins this user may open (the registry's visibility rules), by title."""
    r = _get("/twins?limit=200", token)
    if r.status_code != 200:
        raise RegistryUnavailable(f"the registry answered {r.status_code}: {r.text[:200]}")
    body = r.json()
    items = body.get("items", body) if isinstance(body, dict) else body
    manifests = [item.get("manifest", item) for item in items]
    return sorted(manifests, key=lambda m: m.get("title", m["name"]))


def lookup_twin(name: str, token: str) -> TwinLookup:
    """The twin's manifest if this user may see it; a 404 and a hidden twin look the same."""
    r = _get(f"/twins/{quote(name, safe='')}", token)
    if r.status_code == 200:
        body = r.json()
        return TwinLookup(manifest=body.get("manifest", body), available=[])
    if r.status_code in (403, 404, 422):
        return TwinLookup(manifest=None, available=visible_twins(token))
    raise RegistryUnavailable(f"the registry answered {r.status_code}: {r.text[:200]}")
