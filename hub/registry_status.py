"""Whether the twin registry answers, for the hub's pages (``JupyterHub.template_vars``).

The Twins page is served by the registry itself, so when the registry is down only the hub can
say so: its nav bar and its 503 page (which the proxy shows for a route whose target does not
answer) read this flag. The hub renders every page on one event loop, so a page never waits
for the registry: it reads the last known answer, and when that is older than ``ttl`` it
starts one health request in the background (tornado's ``AsyncHTTPClient``) whose answer the
next pages read. A registry that is down (connection refused) is seen at once; one that hangs
after ``timeout``.
"""

from __future__ import annotations

import asyncio
import time

from tornado.httpclient import AsyncHTTPClient


class RegistryStatus:
    """Callable ``(user) -> bool``, as JupyterHub calls callable template variables."""

    def __init__(self, health_url: str, ttl: float = 1.0, timeout: float = 10.0):
        self.health_url = health_url
        self.ttl = ttl
        self.timeout = timeout
        self._checked_at = float("-inf")
        self._up = True
        self._probe: asyncio.Task[None] | None = None

    def __call__(self, user: object = None) -> bool:
        if self._probe is None and time.monotonic() - self._checked_at > self.ttl:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on the hub's loop (no page is waiting): keep the answer
                return self._up
            self._probe = loop.create_task(self._refresh())
        return self._up

    async def _refresh(self) -> None:
        try:
            self._up = await self._probe_once()
        finally:
            self._checked_at = time.monotonic()
            self._probe = None

    async def _probe_once(self) -> bool:
        try:
            response = await AsyncHTTPClient().fetch(
                self.health_url, request_timeout=self.timeout, raise_error=False
            )
        except Exception:  # refused, reset, timed out: all mean "not answering"
            return False
        return response.code == 200
