"""The registry as the dashboard service asks it: always as the user looking at the page.

The registry applies visibility (private twins only for their audience), so the service never
decides who may see a twin: it asks with the user's own OAuth token and shows what comes back.

Asked without blocking: the service is one event loop for every user's pages, redirects and
websockets, so a slow registry must only delay the page that waits for it. Lookups go through
``httpx.AsyncClient`` and their answers are remembered for :data:`CACHE_SECONDS` per user (the
key holds the user's token), so reloads and other tabs do not ask again; concurrent lookups of
the same page share one request. Failures are not remembered.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

CACHE_SECONDS = 30.0
"""How long an answer is reused: like the hub's own cache of who a token belongs to, a change
of visibility (a twin made private, a new twin) reaches a page that asked within this time
after at most this long."""
CACHE_ENTRIES = 4096
"""Most remembered answers (oldest dropped first): bounded whatever names visitors try."""
TIMEOUT_SECONDS = 15.0


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


class TwinDirectory:
    """What the registry says a user may open, asked asynchronously and remembered briefly."""

    def __init__(self, ttl: float = CACHE_SECONDS, max_entries: int = CACHE_ENTRIES):
        self.ttl = ttl
        self.max_entries = max_entries
        self._answers: dict[tuple[str, str], tuple[float, TwinLookup]] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[TwinLookup]] = {}
        self._client: httpx.AsyncClient | None = None

    async def lookup(self, name: str, token: str) -> TwinLookup:
        """The twin's manifest if this user may see it; a 404 and a hidden twin look the same."""
        key = (name, token)
        cached = self._answers.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        pending = self._pending.get(key)
        if pending is None:  # the first asker fetches; the others wait for the same answer
            pending = asyncio.ensure_future(self._fetch(name, token))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(pending)  # one asker leaving does not cancel the others

    def _settle(self, key: tuple[str, str], done: asyncio.Future[TwinLookup]) -> None:
        self._pending.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        self._answers.pop(key, None)
        self._answers[key] = (time.monotonic() + self.ttl, done.result())
        while len(self._answers) > self.max_entries:  # dicts keep insertion order: oldest first
            del self._answers[next(iter(self._answers))]

    async def _fetch(self, name: str, token: str) -> TwinLookup:
        r = await self._get(f"/twins/{quote(name, safe='')}", token)
        if r.status_code == 200:
            body = r.json()
            return TwinLookup(manifest=body.get("manifest", body), available=[])
        if r.status_code in (403, 404, 422):
            # a pipeline has a dashboard like a twin, at the same place (one namespace)
            r = await self._get(f"/pipelines/{quote(name, safe='')}", token)
            if r.status_code == 200:
                return TwinLookup(manifest=r.json()["pipeline"], available=[])
        if r.status_code in (403, 404, 422):
            return TwinLookup(manifest=None, available=await self._visible_twins(token))
        raise RegistryUnavailable(f"the registry answered {r.status_code}: {r.text[:200]}")

    async def run(self, run_id: str, token: str) -> dict[str, Any] | None:
        """The run record ``run_id`` (``GET /api/runs/{id}``: a job or a recorded run) if this
        user may see it (the registry's rule); None if not, as for an unknown one. Not
        remembered: a run's status changes."""
        r = await self._get(f"/runs/{quote(run_id, safe='')}", token)
        if r.status_code == 200:
            return r.json()
        if r.status_code in (403, 404, 422):
            return None
        raise RegistryUnavailable(f"the registry answered {r.status_code}: {r.text[:200]}")

    async def _visible_twins(self, token: str) -> list[dict[str, Any]]:
        """Twins this user may open (the registry's visibility rules), by title."""
        r = await self._get("/twins?limit=200", token)
        if r.status_code != 200:
            raise RegistryUnavailable(f"the registry answered {r.status_code}: {r.text[:200]}")
        body = r.json()
        items = body.get("items", body) if isinstance(body, dict) else body
        manifests = [item.get("manifest", item) for item in items]
        return sorted(manifests, key=lambda m: m.get("title", m["name"]))

    async def _get(self, path: str, token: str) -> httpx.Response:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS)
        try:
            return await self._client.get(
                f"{api_url()}{path}", headers={"Authorization": f"token {token}"}
            )
        except httpx.HTTPError as e:
            raise RegistryUnavailable(f"the twin registry cannot be reached: {e}") from e
