"""The local target's spawner: each hub user's server runs as their own unix account.

JupyterHub's ``LocalProcessSpawner`` switches to the account named like the hub user; hub
names are not account names, so :class:`TwinhubLocalSpawner` asks :mod:`twinhub.hub.accounts`
for the user's account (created on first spawn, home mode 0700 under ``home_dir_template``)
and switches to that. A hub that does not run as root cannot switch uid: with
``user_accounts=False`` every server runs as the hub's account, as
``SimpleLocalProcessSpawner`` does, with a home per user (no isolation between users).
"""

from __future__ import annotations

import asyncio

from jupyterhub.spawner import SimpleLocalProcessSpawner, set_user_setuid
from traitlets import Any, Bool, Unicode

from ..accounts import Account, ensure_account


class TwinhubLocalSpawner(SimpleLocalProcessSpawner):
    """User servers as local processes of the user's own unix account (module docstring)."""

    user_accounts = Bool(
        True,
        help="Run each server as the user's own unix account (needs a hub running as root); "
        "False: as the hub's own account.",
    ).tag(config=True)

    accounts_dir = Unicode(
        help="Directory of the recorded hub name -> account mapping (the state directory)."
    ).tag(config=True)

    account_prefix = Unicode("th-", help="Start of every user account's name.").tag(config=True)

    account = Any(None, allow_none=True, help="The user's :class:`Account` (after start).")

    async def start(self):
        if self.user_accounts:
            # useradd runs once per user; off the hub's event loop all the same
            self.account = await asyncio.to_thread(
                ensure_account,
                self.accounts_dir,
                self.account_prefix,
                self.home_dir_template,
                self.user.name,
            )
            self.home_dir = self.account.home
        return await super().start()

    def make_preexec_fn(self, name):
        if not self.user_accounts:
            return super().make_preexec_fn(name)
        account: Account = self.account
        # setgid, setgroups, setuid, then chdir to the account's home
        return set_user_setuid(account.name)

    def user_env(self, env: dict) -> dict:
        env = super().user_env(env)
        if self.user_accounts:
            env["USER"] = self.account.name
        return env
