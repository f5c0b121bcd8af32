"""dask-gateway's local backend with the hub's mapping of user names to unix accounts.

``LocalBackend`` runs a cluster's scheduler and workers as the unix account named like the
gateway user, and hands that account the cluster's working directory. Hub names are not
account names, so :class:`AccountLocalBackend` asks :mod:`twinhub.extensions.accounts` (the same
mapping as the hub's spawner, created on first use: a user may ask for a cluster before ever
starting a server). A gateway that does not run as root cannot switch uid: with
``UserAccounts.user_accounts=False`` processes run as the gateway's account, as
``UnsafeLocalBackend`` does.
"""

from __future__ import annotations

import asyncio
import os
import sys

from dask_gateway_server.backends.local import LocalBackend
from twinhub.extensions.accounts import HOMES_MODE, UserAccounts
from twinhub.extensions.gateway_front.dashboard_key import DashboardKeyBackend


class AccountLocalBackend(DashboardKeyBackend, LocalBackend, UserAccounts):
    """Schedulers and workers as the user's own unix account (module docstring); each
    scheduler's dashboard asks for its cluster's key (extensions/gateway_front/dashboard_key.py)."""

    async def setup(self, app):
        await super().setup(app)
        if self.user_accounts and self.clusters_directory:
            # each account reaches its cluster's folder (0700, its own) but lists no other
            os.makedirs(self.clusters_directory, exist_ok=True)
            for folder in (os.path.dirname(self.clusters_directory), self.clusters_directory):
                os.chmod(folder, HOMES_MODE)

    async def do_start_cluster(self, cluster):
        if self.user_accounts:
            # useradd (first cluster of a user) off the event loop; later calls hit the cache
            await asyncio.to_thread(self.user_account, cluster.username)
        async for state in super().do_start_cluster(cluster):
            yield state

    def get_env(self, cluster) -> dict:
        env = super().get_env(cluster)
        if self.user_accounts:
            account = self.user_account(cluster.username)
            env.update(USER=account.name, HOME=account.home)
        return env

    def set_file_permissions(self, paths, username):
        """Nothing: upstream's list holds the TLS files' paths split into single characters
        (``paths.extend(path)``), which would chown ``/`` and files of the gateway's cwd to the
        user; :meth:`setup_working_directory` hands over the right paths instead."""

    def setup_working_directory(self, cluster):
        workdir = super().setup_working_directory(cluster)
        if self.user_accounts:
            account = self.user_account(cluster.username)
            certs = self.get_certs_directory(workdir)
            for path in (
                workdir,
                certs,
                self.get_logs_directory(workdir),
                *self._get_tls_paths(workdir),
            ):
                os.chown(path, account.uid, account.gid)
        return workdir

    def make_preexec_fn(self, cluster):
        workdir = cluster.state["workdir"]
        if not self.user_accounts:
            return lambda: os.chdir(workdir)
        account = self.user_account(cluster.username)

        def preexec():  # after fork, before exec: no logging, no locks
            drop_privileges(account.uid, account.gid)
            os.chdir(workdir)

        return preexec


def drop_privileges(uid: int, gid: int) -> None:
    """Become the account ``uid`` for good: its group alone, then its uid (no way back)."""
    os.setgid(gid)
    os.setgroups([gid])
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:  # pragma: no cover
        sys.exit("could not switch to the user's account")
