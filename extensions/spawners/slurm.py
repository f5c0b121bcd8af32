"""batchspawner's SlurmSpawner, usable where hub users are not Unix accounts.

Upstream ``SlurmSpawner`` runs ``sbatch``/``squeue``/``scancel`` through
``sudo -E -u <user>`` and takes each user's home and shell from ``pwd``: right for an HPC
centre where every hub user is a Unix account. This subclass adds, as traitlets config:

* ``submit_as``: ``"user"`` keeps that behaviour; ``"service"`` submits as the hub's own
  account. A hub run as root then submits each job *as the user's own unix account*
  (``sbatch --uid/--gid``, the account of :mod:`twinhub.extensions.accounts`, with its home), so the
  server runs as the user, as on the local target; otherwise the job is the hub account's and
  each user gets a home from ``home_dir_template``;
* ``slurm_conf``: the ``SLURM_CONF`` of every Slurm command (upstream inherits the hub's env);
* ``bind_ip``: where the server listens inside its job. batchspawner resets ``Spawner.ip`` to
  ``0.0.0.0`` at each start, so a single-node cluster could not keep servers on loopback;
* the batch script is filled from the operator's traits only, never from ``user_options``;
* no use of JupyterHub's deprecated shared database session (``Spawner.db``).
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlparse, urlunparse

from batchspawner import SlurmSpawner
from traitlets import Any, Enum, Unicode, default
from twinhub.contracts.profile import SlurmResources
from twinhub.extensions.accounts import UserAccounts

RESOURCE_TRAITS = ("req_partition", "req_account", "req_runtime", "req_nprocs", "req_memory")
"""The batch script's resources that a profile sets (:func:`spawner_overrides`)."""


def spawner_overrides(resources: SlurmResources) -> dict[str, str]:
    """Traits of :class:`TwinhubSlurmSpawner` for these resources (profile -> spawner)."""
    overrides = {
        "req_runtime": resources.time_limit,
        "req_nprocs": str(resources.cores),
        "req_memory": resources.memory,
    }
    if resources.partition:
        overrides["req_partition"] = resources.partition
    if resources.account:
        overrides["req_account"] = resources.account
    return overrides


def profile_overrides(profile: dict) -> dict[str, str]:
    """Spawner traits for a profile's ``slurm`` resources; none for a profile without them."""
    if not profile.get("slurm"):
        return {}
    return spawner_overrides(SlurmResources.model_validate(profile["slurm"]))


class _NoSharedSession:
    """Stands in for ``Spawner.db``, which batchspawner only uses for one ``commit()``.

    JupyterHub 6 deprecates that shared session (a warning on each start) and will remove it;
    the hub itself commits the server's address and the spawner state after ``start()``.
    """

    def commit(self) -> None:
        pass


class TwinhubSlurmSpawner(SlurmSpawner, UserAccounts):
    """User servers as Slurm batch jobs (see the module docstring)."""

    account = Any(None, allow_none=True, help="The user's account, when jobs run as it.")

    submit_as = Enum(
        ["service", "user"],
        default_value="user",
        help="""Account that submits, queries and cancels the server's job.

        'user': the hub user's Unix account through `exec_prefix` (sudo, upstream behaviour).
        'service': the hub's own account; homes come from `home_dir_template`.""",
    ).tag(config=True)

    home_dir_template = Unicode(
        "",
        help="Home of each user when submit_as='service' ({username} is replaced); created "
        "before the job is submitted. It must be on a filesystem the compute nodes share.",
    ).tag(config=True)

    slurm_conf = Unicode(
        "", help="Path of slurm.conf given to the Slurm commands as SLURM_CONF (empty: default)."
    ).tag(config=True)

    bind_ip = Unicode(
        "",
        help="""Address the server listens on inside its job; empty: batchspawner's 0.0.0.0.

        A specific address (e.g. 127.0.0.1 on a single-node cluster) is also the one the
        hub connects to.""",
    ).tag(config=True)

    @default("db")
    def _no_shared_session(self) -> _NoSharedSession:
        return _NoSharedSession()

    @default("exec_prefix")
    def _exec_prefix_default(self) -> str:
        return "" if self.submit_as == "service" else "sudo -E -u {username}"

    @property
    def as_account(self) -> bool:
        """Jobs submitted by the hub run as the user's own account (a root hub)."""
        return self.submit_as == "service" and self.user_accounts

    @property
    def home_dir(self) -> str:
        if self.account is not None:
            return self.account.home
        return self.home_dir_template.format(username=self.user.name)

    @default("req_homedir")
    def _req_homedir_default(self) -> str:
        if self.submit_as == "service":
            return self.home_dir
        return super()._req_homedir_default()

    def user_env(self, env: dict) -> dict:
        if self.submit_as != "service":
            return super().user_env(env)
        name = self.account.name if self.account is not None else self.user.name
        env.update(USER=name, HOME=self.home_dir, SHELL="/bin/bash")
        return env

    def get_env(self) -> dict:
        env = super().get_env()
        if self.slurm_conf:
            env["SLURM_CONF"] = self.slurm_conf
        if self.bind_ip and "JUPYTERHUB_SERVICE_URL" in env:
            url = urlparse(env["JUPYTERHUB_SERVICE_URL"])
            env["JUPYTERHUB_SERVICE_URL"] = urlunparse(
                url._replace(netloc=f"{self.bind_ip}:{url.port or 0}")
            )
        return env

    def state_gethost(self) -> str:
        if self.bind_ip and self.bind_ip not in ("0.0.0.0", "::"):
            return self.bind_ip
        return super().state_gethost()

    async def run_command(self, cmd, input=None, env=None):  # noqa: A002 - upstream's names
        if self.slurm_conf:
            env = {**(os.environ if env is None else env), "SLURM_CONF": self.slurm_conf}
        return await super().run_command(cmd, input=input, env=env)

    async def _get_batch_script(self, **subvars) -> str:
        # upstream lets user_options (the spawn request's body) replace any template variable,
        # the command and the prologue included: a request could run anything in the job.
        # Only the operator's traits fill the script; profiles set them (spawner_overrides).
        trusted = self.get_req_subvars()
        trusted["cmd"] = self.cmd_formatted_for_batch()
        return await super()._get_batch_script(**trusted)

    def apply_profile(self, profile: dict) -> None:
        """Resources of the chosen profile (spawn hook): its ``slurm`` fields, or the
        operator's configured defaults for a profile without them."""
        overrides = profile_overrides(profile)
        configured = self.config.get("TwinhubSlurmSpawner", {})
        for trait in RESOURCE_TRAITS:
            if trait in overrides:
                setattr(self, trait, overrides[trait])
            else:
                setattr(self, trait, configured.get(trait, self.trait_defaults(trait)))

    async def submit_batch_script(self):
        if self.as_account:
            self.account = await asyncio.to_thread(self.user_account, self.user.name)
            self.req_homedir = self.account.home
            # root submits the job as the user's account: Slurm runs it as them
            configured = self.__dict__.setdefault("_configured_submit", self.batch_submit_cmd)
            self.batch_submit_cmd = (
                f"{configured} --uid={self.account.uid} --gid={self.account.gid}"
            )
        elif self.submit_as == "service":
            os.makedirs(self.home_dir, mode=0o700, exist_ok=True)
        return await super().submit_batch_script()
