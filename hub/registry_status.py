"""Whether the twin registry answers, for the hub's pages (``JupyterHub.template_vars``).

The Twins page is served by the registry itself, so when the registry is down only the hub can
say so: its nav bar and its 503 page (which the proxy shows for a route whose target does not
answer) read this flag. The check is a loopback health request with a short timeout, cached
for a few seconds so that busy pages do not repeat it.
"""

from __future__ import annotations

import time
import urllib.request


class RegistryStatus:
    """Callable ``(user) -> bool``, as JupyterHub calls callable template variables."""

    def __init__(self, health_url: str, ttl: float = 1.0, timeout: float = 0.5):
        self.health_url = health_url
        self.ttl = ttl
        self.timeout = timeout
        self._checked_at = float("-inf")
        self._up = True

    def __call__(self, user: object = None) -> bool:
        now = time.monotonic()
        if now - self._checked_at > self.ttl:
            self._up = self._probe()
            self._checked_at = now
        return self._up

    def _probe(self) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=self.timeout) as response:
                return response.status == 200
        except OSError:
            return False
