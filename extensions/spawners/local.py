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

from jupyterhub.spawner import SimpleLocalProcessSpawner, set_user_setuid
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
        return await super().start()

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
