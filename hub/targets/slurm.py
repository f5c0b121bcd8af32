"""The Slurm target: user servers and/or Dask clusters as batch jobs of a Slurm cluster.

``spawner_config`` selects :class:`TwinhubSlurmSpawner` (batchspawner), ``dask_backend_config``
selects :class:`TwinhubSlurmBackend` (dask-gateway's jobqueue backend). Both read the cluster,
partition, account and submitting account from the ``TWINHUB_SLURM_*`` settings; the
resources of one server come from :class:`SlurmResources`, which an infrastructure profile
turns into spawner overrides with
:func:`twinhub.extensions.spawners.slurm.spawner_overrides`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import ValidationError
from traitlets.config import Config
from twinhub.contracts.profile import SlurmResources
from twinhub.contracts.settings import Settings, SettingsError
from twinhub.extensions.accounts import home_dir_template
from twinhub.extensions.spawners.slurm import spawner_overrides

SPAWNER_CLASS = "twinhub.extensions.spawners.slurm.TwinhubSlurmSpawner"
BACKEND_CLASS = "twinhub.extensions.gateway_backends.slurm.TwinhubSlurmBackend"


def default_resources(settings: Settings) -> SlurmResources:
    """A server's resources when no profile says otherwise, checking the operator's names."""
    try:
        return SlurmResources(partition=settings.slurm_partition, account=settings.slurm_account)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        raise SettingsError(f"TWINHUB_SLURM_{field.upper()}: {exc.errors()[0]['msg']}") from None


def job_bind_ip(settings: Settings) -> str:
    """``TwinhubSlurmSpawner.bind_ip``: empty (all interfaces, the hub connects to the node
    squeue names) when jobs bind 0.0.0.0, else the address itself (the hub connects there)."""
    ip = settings.slurm_job_bind_ip
    return "" if ip in ("0.0.0.0", "::") else ip


def slurm_spawner_config(settings: Settings) -> Config:
    """Settings of :class:`TwinhubSlurmSpawner`, whether it is the hub's spawner or a child."""
    c = Config()
    s = c.TwinhubSlurmSpawner
    s.submit_as = settings.slurm_submit_as
    s.home_dir_template = home_dir_template(settings)
    s.slurm_conf = settings.slurm_conf
    s.bind_ip = job_bind_ip(settings)
    s.batchspawner_singleuser_cmd = str(settings.twin_bin / "batchspawner-singleuser")
    for trait, value in spawner_overrides(default_resources(settings)).items():
        s[trait] = value
    # a queue may hold a job a while; the hub waits, showing "Pending in queue..."
    s.start_timeout = 300
    return c


def spawner_config(settings: Settings) -> Config:
    """Every user server is a Slurm job (``TWINHUB_SPAWNER=slurm``)."""
    c = slurm_spawner_config(settings)
    c.JupyterHub.spawner_class = SPAWNER_CLASS
    return c


def slurm_staging_root(settings: Settings) -> Path:
    """Where Dask jobs work, one ``<user>/<cluster>`` directory each: the TLS credentials and
    logs of each cluster, on the filesystem the compute nodes share."""
    return settings.state_dir / "dask-gateway" / "slurm"


def dask_backend_config(settings: Settings) -> Config:
    c = Config()
    c.DaskGateway.backend_class = BACKEND_CLASS
    b = c.TwinhubSlurmBackend
    b.submit_as = settings.slurm_submit_as
    b.slurm_conf = settings.slurm_conf
    b.bind_host = settings.slurm_job_bind_ip
    # it runs in the job and execs the scheduler or worker: the twin runtime's, as on the local
    # target (hub/dask_gateway_config.py)
    b.dask_gateway_jobqueue_launcher = str(settings.twin_bin / "dask-gateway-jobqueue-launcher")
    for trait, command in (
        ("submit_command", "sbatch"),
        ("cancel_command", "scancel"),
        ("status_command", "squeue"),
    ):
        b[trait] = shutil.which(command) or command
    checked = default_resources(settings)
    cluster = c.SlurmClusterConfig
    cluster.partition = checked.partition
    cluster.account = checked.account
    cluster.staging_directory = str(slurm_staging_root(settings) / "{username}")
    # the scheduler's job size is the gateway's (hub/gateway_options.py: SCHEDULER_*)
    return c
