"""The hub process the launcher runs: JupyterHub, with its services' health check stopped first
at shutdown (``python -m twinhub.hub.app --config hub/jupyterhub_config.py``).

JupyterHub (5.x, 6.x) stops its periodic callbacks only *after* ``cleanup()``, and ``cleanup()``
stops the managed services one after the other, deleting each one's server row from the
database as it goes. Our four services take tens of seconds to stop, so the health check
(``check_services_health``, every ``service_check_interval`` seconds) often runs in between and
dies on the missing row: an ``AttributeError`` traceback at every other Ctrl-C. Here the check
is stopped, and a check in flight is awaited, before the first service is stopped. Everything
else is JupyterHub's own: the same command-line options and configuration file.
"""

from __future__ import annotations

import asyncio
from functools import cached_property

from jupyterhub.app import JupyterHub


class TwinhubJupyterHub(JupyterHub):
    """JupyterHub whose services' health check never runs while the services are stopped."""

    @cached_property
    def _service_check_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    _stopping_services = False

    async def check_services_health(self) -> None:
        if self._stopping_services:
            return
        async with self._service_check_lock:
            await super().check_services_health()

    async def cleanup(self) -> None:
        self._stopping_services = True
        check = self._periodic_callbacks.get("service_check")
        if check is not None:
            check.stop()
        async with self._service_check_lock:  # a check in flight finishes first
            await super().cleanup()


main = TwinhubJupyterHub.launch_instance

if __name__ == "__main__":
    main()
