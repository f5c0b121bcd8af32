"""JupyterHub's ``HubOAuth`` for our services, asking the hub once per token at a time.

The registry and the dashboards cache the hub's answer about a token for
``TWINHUB_AUTH_CACHE_SECONDS``. When that entry expires (or a new token arrives), every request
carrying the token misses the cache together: a page that fires 20 API calls, or 20 clients
sharing a token, would make 20 identical ``GET /hub/api/user`` calls to the hub. Here the
first miss asks the hub and the others wait for its answer (single flight); the answer is
cached as before, a failure reaches every waiter and is not cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from jupyterhub.services.auth import HubOAuth as _HubOAuth
from traitlets import Instance

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Concurrent calls with the same key share one run of the work.

    One task per key is in flight; it is forgotten when it is done, so the next call after
    that (a cache miss once the entry expired) runs the work again. The task is shielded: a
    waiter that is cancelled (its client went away) does not cancel it for the others.
    """

    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Future[T]] = {}

    def __len__(self) -> int:
        """How many keys are in flight."""
        return len(self._flights)

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(work())
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight)

    def _landed(self, key: Hashable, flight: asyncio.Future[T]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: no "never retrieved" warning if every waiter left


class HubOAuth(_HubOAuth):
    """``HubOAuth`` whose token lookups are single-flight per cache key (token and session)."""

    lookups = Instance(SingleFlight, args=(), help="The hub lookups in flight, by cache key.")

    async def _check_hub_authorization(
        self, url: str, api_token: str, cache_key: str | None = None, use_cache: bool = True
    ) -> dict[str, Any] | None:
        if not use_cache or cache_key is None:
            return await super()._check_hub_authorization(url, api_token, cache_key, use_cache)
        try:
            return self.cache[cache_key]
        except KeyError:
            pass
        ask = super()._check_hub_authorization  # caches the answer; raises without caching
        return await self.lookups.run(cache_key, lambda: ask(url, api_token, cache_key))
