"""dask-gateway's Slurm backend, usable where hub users are not Unix accounts.

Upstream ``SlurmBackend`` submits every scheduler and worker job through
``sudo -nHu <user> dask-gateway-jobqueue-launcher`` and looks the user's home up with
``pwd``: right for an HPC centre where each hub user is a Unix account, impossible for the
embedded deployment whose users exist only in the hub. This subclass adds, as config:

* ``submit_as``: ``"user"`` keeps upstream's sudo; ``"service"`` runs the launcher as the
  gateway's own account, without sudo. A root gateway then submits each job *as the user's
  own unix account* (``sbatch --uid/--gid``, the account of :mod:`twinhub.extensions.accounts`, as
  on the local target) and hands that account the cluster's staging folder before the job
  starts, so schedulers and workers run as the user; users need no access to Slurm's
  configuration or munge for this;
* ``slurm_conf``: the ``SLURM_CONF`` for ``sbatch``/``squeue``/``scancel``, which upstream runs
  with an empty environment (so only ``/etc/slurm/slurm.conf`` would do);
* ``bind_host``: where schedulers and workers listen (upstream: always ``0.0.0.0``);
* a staging directory template that needs ``{home}`` only when it uses it;
* a batch script that ends every process of its job itself (:func:`batch_script`), whose
  processes keep their environment (``SPT_NOENV``), so an operator finds them by SLURM_JOB_ID.

Why the last: on a cancel or time limit, ``slurmstepd`` signals the processes it tracks, and
``proctrack/linuxproc`` tracks them by reading ``/proc/PID/stat`` with ``sscanf("%ld %s %c
%ld")``, which fails on a command name with a space and skips that process. distributed titles
its processes ``dask scheduler [tls://...]`` (setproctitle, which also sets the kernel's command
name), so with linuxproc the scheduler got no signal at all: it outlived its cancelled job,
reparented to init (and with ``exec`` in front of the command, the job hung in COMPLETING
waiting for it). Sites on ``proctrack/cgroup`` track by cgroup and are not affected; the script
makes the end of a job independent of how the site tracks processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shlex

from dask_gateway_server.backends.jobqueue.slurm import SlurmBackend
from traitlets import Enum, Float, Unicode
from twinhub.extensions.accounts import HOMES_MODE, UserAccounts
from twinhub.extensions.gateway_front.dashboard_key import DashboardKeyBackend

JOB_END = """\
# The end of the job (scancel, time limit) reaches this shell as SIGTERM; Slurm may not see the
# Dask processes (see extensions/gateway_backends/slurm.py), so the shell ends them: TERM to
# the Dask command, then, once it is gone or after the grace period, KILL to the process group this
# shell leads (slurmstepd makes the batch script a group leader): what is left of the job, e.g.
# a worker process of a nanny, and this shell.
end_job() {{
  trap '' TERM INT
  kill -s TERM "$dask" 2>/dev/null
  (sleep {grace}; kill -s KILL -- -$$) &
  wait "$dask"
  kill -s KILL -- -$$
}}
trap end_job TERM INT
{command} &
dask=$!
wait "$dask"
"""


def batch_script(setup: str, command: list[str], grace: float) -> str:
    """The batch script of a scheduler or worker job: ``setup``, then ``command`` as a child
    of the script, which on TERM ends it and every process it started within ``grace``
    seconds, whether or not Slurm tracks them."""
    return "\n".join(
        ["#!/bin/sh", setup, JOB_END.format(command=shlex.join(command), grace=f"{grace:g}")]
    )


class TwinhubSlurmBackend(DashboardKeyBackend, SlurmBackend, UserAccounts):
    """Dask schedulers and workers as Slurm batch jobs (see the module docstring); each
    scheduler's dashboard asks for its cluster's key (extensions/gateway_front/dashboard_key.py)."""

    submit_as = Enum(
        ["service", "user"],
        default_value="user",
        help="""Account that submits and cancels the jobs.

        'user': the hub user's Unix account, through `sudo -nHu <user>` (upstream behaviour;
        needs a sudoers rule for the launcher). 'service': the gateway's own account, for
        deployments whose users exist only in the hub.""",
        config=True,
    )

    slurm_conf = Unicode(
        "",
        help="Path of slurm.conf handed to the Slurm commands as SLURM_CONF (empty: default).",
        config=True,
    )

    bind_host = Unicode(
        "0.0.0.0",
        help="""Address schedulers and workers listen on inside their jobs.

        '0.0.0.0' where workers run on other nodes; '127.0.0.1' for a single-node cluster.""",
        config=True,
    )

    job_end_grace = Float(
        3.0,
        min=0.5,
        help="""Seconds a scheduler or worker has to close after its job ends (cancel, time
        limit) before its batch script kills what is left of the job.

        Keep it below the site's KillWait, after which Slurm kills the batch script itself.""",
        config=True,
    )

    @property
    def default_host(self) -> str:  # read by the base class when it builds the commands
        return self.bind_host

    def get_env(self, cluster) -> dict[str, str]:
        # setproctitle writes distributed's title over the process's environment unless told
        # not to; kept, SLURM_JOB_ID in /proc/PID/environ tells which job a process is of
        return {**super().get_env(cluster), "SPT_NOENV": "1"}

    def _slurm_env(self) -> dict[str, str]:
        return {"SLURM_CONF": self.slurm_conf} if self.slurm_conf else {}

    def get_submit_cmd_env_stdin(self, cluster, worker=None):
        cmd, env, _ = super().get_submit_cmd_env_stdin(cluster, worker)
        if worker:
            setup = cluster.config.worker_setup
            command = self.get_worker_command(cluster, worker.name)
        else:
            setup = cluster.config.scheduler_setup
            command = self.get_scheduler_command(cluster)
        script = batch_script(setup, command, self.job_end_grace)
        if self.as_account:
            account = self.user_account(cluster.username)
            cmd = [cmd[0], f"--uid={account.uid}", f"--gid={account.gid}", *cmd[1:]]
        return cmd, {**env, **self._slurm_env()}, script

    def get_stop_cmd_env(self, job_id):
        cmd, env = super().get_stop_cmd_env(job_id)
        return cmd, {**env, **self._slurm_env()}

    def get_status_cmd_env(self, job_ids):
        cmd, env = super().get_status_cmd_env(job_ids)
        return cmd, {**env, **self._slurm_env()}

    @property
    def as_account(self) -> bool:
        """The launcher (and so sbatch and the jobs) runs as the user's own account."""
        return self.submit_as == "service" and self.user_accounts

    def get_staging_directory(self, cluster) -> str:
        template = cluster.config.staging_directory
        name = self.user_account(cluster.username).name if self.as_account else cluster.username
        fields = {"username": name}
        if "{home}" in template:
            fields["home"] = pwd.getpwnam(cluster.username).pw_dir
        return os.path.join(template.format(**fields), cluster.name)

    async def do_start_cluster(self, cluster):
        if self.as_account:
            # useradd (a user's first cluster) off the event loop; later calls hit the cache
            await asyncio.to_thread(self.user_account, cluster.username)
        async for state in super().do_start_cluster(cluster):
            yield state

    def _stage_for_account(self, user: str, staging_dir: str, files: dict[str, str]) -> None:
        """What the launcher would do as the user: their cluster's folder and TLS files, theirs
        (0700/0600) before the job that reads them exists; other accounts only pass through
        the folders above it."""
        account = self.user_account(user)
        parent = os.path.dirname(staging_dir)
        os.makedirs(parent, exist_ok=True)
        os.chmod(parent, HOMES_MODE)
        os.chmod(os.path.dirname(parent), HOMES_MODE)
        os.mkdir(staging_dir, 0o700)
        os.chown(staging_dir, account.uid, account.gid)
        for name, value in files.items():
            path = os.path.join(staging_dir, name)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(value)
            os.chown(path, account.uid, account.gid)

    async def do_as_user(self, user, action, **kwargs):
        if self.submit_as == "user":
            return await super().do_as_user(user, action, **kwargs)
        # the launcher's JSON protocol, without the sudo hop
        kwargs["action"] = action
        if self.as_account and action == "start" and kwargs.get("staging_dir"):
            await asyncio.to_thread(
                self._stage_for_account, user, kwargs["staging_dir"], kwargs["files"] or {}
            )
            kwargs["staging_dir"], kwargs["files"] = None, None  # staged: the launcher submits
        proc = await asyncio.create_subprocess_exec(
            self.dask_gateway_jobqueue_launcher,
            env={},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await proc.communicate(json.dumps(kwargs).encode("utf8"))
        if proc.returncode != 0:
            raise RuntimeError(
                f"dask-gateway-jobqueue-launcher failed ({proc.returncode}): "
                f"{stderr.decode('utf8', 'replace')}"
            )
        result = json.loads(stdout.decode("utf8", "replace"))
        if not result["ok"]:
            raise RuntimeError(result["error"])
        return result["returncode"], result["stdout"], result["stderr"]
