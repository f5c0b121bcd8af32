"""The hub process the launcher runs: JupyterHub, with its services' health check stopped first
at shutdown, its services stopped side by side, and no idle wait between its services' starts
(``python -m twinhub.hub.app --config hub/jupyterhub_config.py``).

JupyterHub (5.x, 6.x) stops its periodic callbacks only *after* ``cleanup()``, and ``cleanup()``
stops the managed services one after the other, deleting each one's server row from the
database as it goes. Our four services take tens of seconds to stop, so the health check
(``check_services_health``, every ``service_check_interval`` seconds) often runs in between and
dies on the missing row: an ``AttributeError`` traceback at every other Ctrl-C. Here the check
is stopped, and a check in flight is awaited, before the first service is stopped.

The services are then stopped side by side rather than one after the other: each waits for its
own process only, none needs another to stop first, and one after the other they took 8-10 s
of every Ctrl-C (the registry alone about 5 s), side by side the slowest one's time. Each gets
SIGTERM where JupyterHub sends SIGINT first: every service of ours (and Dask Gateway's server)
stops on either in the same way, but a service stopped while still importing its code (the run
executor, the idle culler: the hub does not wait for them to start) printed a
``KeyboardInterrupt`` traceback at a SIGINT, where SIGTERM ends it quietly. The grace before
SIGKILL is JupyterHub's two together (``interrupt_timeout`` + ``term_timeout``). The users'
servers are stopped after the services, as JupyterHub does.

At the start, JupyterHub starts the services one after the other and waits for each one with a
URL to answer before the next, trying it with a pause that doubles after each try (up to 5 s):
the hub asked a service seconds after it listened, at every start. A service's start now lasts
until its port takes a connection (tried every 0.2 s); JupyterHub's own wait follows and finds
it answering at once. A service that dies is started again within 5 s (JupyterHub looks at its
services' processes every 30 s). Everything else is JupyterHub's own: the same command-line
options and configuration file.
"""

from __future__ import annotations

import asyncio
import contextlib
from functools import cached_property
from urllib.parse import urlsplit

from jupyterhub.app import JupyterHub
from jupyterhub.services.service import Service


class TwinhubJupyterHub(JupyterHub):
    """JupyterHub whose services start, stop and restart without idle waits, and whose services'
    health check never runs while they stop (module docstring)."""

    @cached_property
    def _service_check_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    _stopping_services = False

    async def check_services_health(self) -> None:
        if self._stopping_services:
            return
        async with self._service_check_lock:
            await super().check_services_health()

    async def start_service(self, service_name: str, service: Service, *args, **kwargs) -> bool:
        """JupyterHub's, with a service's start lasting until its port takes connections, and
        its process looked at every few seconds (module docstring)."""
        if service.managed and not getattr(service, "_twinhub_watched", False):
            _watch_start(service)
        return await super().start_service(service_name, service, *args, **kwargs)

    async def cleanup(self) -> None:
        self._stopping_services = True
        check = self._periodic_callbacks.get("service_check")
        if check is not None:
            check.stop()
        async with self._service_check_lock:  # a check in flight finishes first
            await self._stop_services_side_by_side()
            await super().cleanup()

    async def _stop_services_side_by_side(self) -> None:
        """Stop every managed service at once; JupyterHub's ``cleanup()`` then finds them
        stopped (a service without a spawner is one it has nothing left to stop in)."""
        managed = [s for s in self._service_map.values() if s.managed and s.spawner]
        if not managed:
            return
        self.log.info("Stopping %i services side by side...", len(managed))
        outcomes = await asyncio.gather(*map(_terminate, managed), return_exceptions=True)
        for service, outcome in zip(managed, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self.log.error("Failed to stop service %s: %s", service.name, outcome)
            else:
                service.spawner = None


LISTEN_POLL_SECONDS = 0.2
"""How often a starting service's port is tried. JupyterHub's own wait for it (an HTTP request)
doubles its pause after each try, up to 5 s: the hub asked the Dask Gateway front 4 s after it
listened, and every later service started that much later."""


SERVICE_POLL_SECONDS = 5
"""How often the hub looks whether a service's process is still there, to start it again if
not (JupyterHub's services' default: 30 s, so a killed registry stayed down for up to 30 s)."""


def _watch_start(service: Service) -> None:
    """Make ``service.start()`` (the hub's first start, and each restart of a dead service)
    poll the new process every :data:`SERVICE_POLL_SECONDS`, and return once the service's
    port accepts a connection (or its process has exited, or its start timeout passed), so
    that JupyterHub's wait that follows finds it on its first request; that wait still decides
    (answers, or exited)."""
    start = service.start

    async def start_watched() -> None:
        await start()
        service.spawner.poll_interval = SERVICE_POLL_SECONDS
        service.spawner.start_polling()  # again, at that interval (it stops the first polling)
        if service.url:
            await _until_listening(service)

    service.start = start_watched
    service._twinhub_watched = True


async def _until_listening(service: Service) -> None:
    url = urlsplit(service.url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + getattr(service, "timeout", 30)
    while loop.time() < deadline and await service.spawner.poll() is None:
        try:  # bounded: a connection that neither opens nor is refused ends at the deadline
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(url.hostname, url.port or 80),
                timeout=max(deadline - loop.time(), 0.01),
            )
        except (OSError, TimeoutError):
            await asyncio.sleep(LISTEN_POLL_SECONDS)
        else:
            writer.close()
            return


EXIT_POLL_SECONDS = 0.2
"""How often a stopping service's process is looked at: JupyterHub's own wait doubles its
pause after each look (up to 5 s), so it noticed a service gone seconds after it was."""


async def _terminate(service: Service) -> None:
    """JupyterHub's ``Service.stop()`` with SIGTERM first (``stop(now=True)``), as long a grace
    before SIGKILL as its SIGINT and SIGTERM together, and done as soon as the process is."""
    spawner = service.spawner
    if service.orm.server:
        service.db.delete(service.orm.server)
        service.db.commit()
    spawner.stop_polling()
    spawner.term_timeout = spawner.interrupt_timeout + spawner.term_timeout
    stopping = asyncio.ensure_future(spawner.stop(now=True))
    while not stopping.done():
        await asyncio.wait({stopping}, timeout=EXIT_POLL_SECONDS)
        if not stopping.done() and await spawner.poll() is not None:
            stopping.cancel()  # it only waits for what has happened: the process has exited
    with contextlib.suppress(asyncio.CancelledError):
        await stopping


main = TwinhubJupyterHub.launch_instance

if __name__ == "__main__":
    main()
