"""The local target's spawner: each hub user's server runs as their own unix account.

JupyterHub's ``LocalProcessSpawner`` switches to the account named like the hub user; hub
names are not account names, so :class:`TwinhubLocalSpawner` asks :mod:`twinhub.extensions.accounts`
for the user's account (created on first spawn, home mode 0700) and switches to that. A hub
that does not run as root cannot switch uid: with ``UserAccounts.user_accounts=False`` every
server runs as the hub's account, as ``SimpleLocalProcessSpawner`` does, with a home per user
from ``home_dir_template`` (no isolation between users).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from jupyterhub.spawner import SimpleLocalProcessSpawner, set_user_setuid
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Any
from twinhub.extensions.accounts import UserAccounts


class TwinhubLocalSpawner(SimpleLocalProcessSpawner, UserAccounts):
    """User servers as local processes of the user's own unix account (module docstring)."""

    account = Any(None, allow_none=True, help="The user's :class:`Account` (after start).")

    async def start(self):
        if self.user_accounts:
            # useradd runs once per user; off the hub's event loop all the same
            self.account = await asyncio.to_thread(self.user_account, self.user.name)
            self.home_dir = self.account.home
        address = await super().start()
        ip, port = address
        # wait here for the first answer, watching the process: one that exits fails the spawn
        # at once (the hub alone would wait its whole http_timeout, holding a spawn slot), one
        # that is alive but slow (busy cores) may take up to start_timeout
        # (docs/performance.md, "Many users")
        await wait_answering(
            f"http://{ip or '127.0.0.1'}:{port}{self.server.base_url}api",
            self.poll,
            timeout=self.start_timeout,
        )
        return address

    def make_preexec_fn(self, name):
        if not self.user_accounts:
            return super().make_preexec_fn(name)
        # setgid, setgroups, setuid, then chdir to the account's home
        return set_user_setuid(self.account.name)

    def user_env(self, env: dict) -> dict:
        env = super().user_env(env)
        if self.user_accounts:
            env["USER"] = self.account.name
        return env


class ServerExited(RuntimeError):
    """The user's server process ended before it answered."""


async def wait_answering(
    url: str,
    exited: Callable[[], Awaitable[int | None]],
    timeout: float,
    interval: float = 0.2,
) -> None:
    """Until ``url`` answers HTTP at all (any status: the server is up), checking ``exited``
    (a spawner's ``poll``: None while the process runs) before each try; :class:`ServerExited`
    as soon as it has ended, :class:`TimeoutError` after ``timeout`` seconds."""
    http = AsyncHTTPClient()
    deadline = time.monotonic() + timeout
    while True:
        status = await exited()
        if status is not None:
            raise ServerExited(f"the server exited with status {status} before it answered")
        try:
            await http.fetch(url, request_timeout=10, follow_redirects=False)
            return
        except HTTPClientError as e:
            if e.code != 599:  # an HTTP answer, even an error: the server is up
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server did not answer {url} within {timeout} s")
        await asyncio.sleep(interval)
