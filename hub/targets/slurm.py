"""The Slurm target: user servers and/or Dask clusters as batch jobs of a Slurm cluster.

``spawner_config`` selects :class:`TwinhubSlurmSpawner` (batchspawner), ``dask_backend_config``
selects :class:`TwinhubSlurmBackend` (dask-gateway's jobqueue backend). Both read the cluster,
partition, account and submitting account from the ``TWINHUB_SLURM_*`` settings; the
resources of one server come from :class:`SlurmResources`, which an infrastructure profile
turns into spawner overrides with :func:`spawner_overrides`.
"""

from __future__ import annotations

import re
import shutil

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from traitlets.config import Config

from ..settings import Settings, SettingsError
from . import home_dir_template

SPAWNER_CLASS = "twinhub.hub.targets.slurm_spawner.TwinhubSlurmSpawner"
BACKEND_CLASS = "twinhub.hub.targets.slurm_backend.TwinhubSlurmBackend"
LOOPBACK = "127.0.0.1"
"""The embedded gateway's internal addresses are loopback: jobs must run on this machine."""

# Slurm's --time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS
_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")


class SlurmResources(BaseModel):
    """What one user server asks Slurm for; an ``hpc-slurm`` profile carries these fields."""

    model_config = ConfigDict(extra="forbid")

    partition: str = Field("", description="Partition; empty: the cluster's default.")
    account: str = Field("", description="Account charged; empty: the user's default.")
    time_limit: str = Field("8:00:00", description="Wall time, in Slurm's --time format.")
    cores: int = Field(1, ge=1, le=1024, description="CPU cores (--cpus-per-task).")
    memory_gib: float = Field(2.0, gt=0, le=4096, description="Memory in GiB (--mem).")

    @field_validator("time_limit")
    @classmethod
    def _slurm_time(cls, value: str) -> str:
        if not _TIME.match(value):
            raise ValueError(
                f"{value!r} is not a Slurm time limit: use minutes, HH:MM:SS or D-HH:MM:SS"
            )
        return value

    @field_validator("partition", "account")
    @classmethod
    def _slurm_name(cls, value: str) -> str:
        # names (a partition may be a comma-separated list), never options or shell syntax
        if value and not re.fullmatch(r"[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*", value):
            raise ValueError(f"{value!r}: letters, digits, '_', '.', '-' (and ',') only")
        return value

    @property
    def memory(self) -> str:
        """``--mem`` in MiB (Slurm's unit), rounded up."""
        return f"{-(-int(self.memory_gib * 1024 * 1024) // 1024)}M"


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


def default_resources(settings: Settings) -> SlurmResources:
    """A server's resources when no profile says otherwise, checking the operator's names."""
    try:
        return SlurmResources(partition=settings.slurm_partition, account=settings.slurm_account)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        raise SettingsError(f"TWINHUB_SLURM_{field.upper()}: {exc.errors()[0]['msg']}") from None


def spawner_config(settings: Settings) -> Config:
    c = Config()
    c.JupyterHub.spawner_class = SPAWNER_CLASS
    s = c.TwinhubSlurmSpawner
    s.submit_as = settings.slurm_submit_as
    s.home_dir_template = home_dir_template(settings)
    s.slurm_conf = settings.slurm_conf
    s.bind_ip = LOOPBACK
    s.batchspawner_singleuser_cmd = str(settings.venv_bin / "batchspawner-singleuser")
    for trait, value in spawner_overrides(default_resources(settings)).items():
        s[trait] = value
    # a queue may hold a job a while; the hub waits, showing "Pending in queue..."
    s.start_timeout = 300
    return c


def dask_backend_config(settings: Settings) -> Config:
    c = Config()
    c.DaskGateway.backend_class = BACKEND_CLASS
    b = c.TwinhubSlurmBackend
    b.submit_as = settings.slurm_submit_as
    b.slurm_conf = settings.slurm_conf
    b.bind_host = LOOPBACK
    b.dask_gateway_jobqueue_launcher = str(settings.venv_bin / "dask-gateway-jobqueue-launcher")
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
    # TLS credentials and logs of each cluster: on the filesystem the compute nodes share
    cluster.staging_directory = str(settings.state_dir / "dask-gateway" / "slurm" / "{username}")
    cluster.scheduler_cores = 1
    cluster.scheduler_memory = "1 G"
    return c
