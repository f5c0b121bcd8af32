"""The infrastructure profile: what a user server (and its Dask cluster) may use.

Platform and deployments agree on it: the registry stores profiles, the spawn hooks turn one
into spawner settings (KubeSpawner overrides, Slurm resources, Dask Gateway defaults), and the
hub's Slurm target reads :class:`SlurmResources`. Validation errors become ``(field, message)``
pairs that name what is expected, the same form :class:`ManifestError` uses, so every 422 reads
alike.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator
from twinhub.contracts.manifest import SLUG, STRICT, ManifestError, described_errors
from twinhub.contracts.text import Line, Text

MEMORY = r"^[1-9]\d*(\.\d+)?[KMGT]$"
"""JupyterHub's ByteSpecification (``mem_limit``): a number and K, M, G or T (powers of 1024)."""
_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def memory_bytes(spec: str) -> int:
    """``"2G"`` -> 2147483648, as JupyterHub reads ``mem_limit``."""
    return int(float(spec[:-1]) * _UNITS[spec[-1]])


class _Strict(BaseModel):
    model_config = STRICT


class Toleration(_Strict):
    """A Kubernetes toleration (e.g. for an interLink virtual node that offloads to HPC)."""

    key: Line(253, min_length=1)
    operator: Literal["Equal", "Exists"] = "Equal"
    value: Line(63) | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = Field(  # noqa: N815 - Kubernetes' name
        default=None, ge=0, le=2**63 - 1
    )


class DaskGatewayOptions(_Strict):
    """Defaults of the user's Dask Gateway clusters (bounded again by the gateway's limits)."""

    worker_cores: int = Field(default=1, ge=1, le=64)
    worker_memory_gib: float = Field(default=1.0, gt=0, le=1024)
    max_workers: int = Field(default=2, ge=1, le=1000)


# Slurm's --time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS
_SLURM_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")


class SlurmResources(_Strict):
    """What a server on a Slurm profile asks the batch system for (``hpc-slurm``).

    A profile that carries these runs its servers as Slurm jobs (where the hub enables Slurm,
    ``TWINHUB_SLURM=1``); the hub's Slurm target turns them into batchspawner settings.
    """

    partition: str = Field(
        "", max_length=200, description="Partition; empty: the cluster's default."
    )
    account: str = Field(
        "", max_length=100, description="Account charged; empty: the user's default."
    )
    time_limit: str = Field(
        "8:00:00", max_length=20, description="Wall time, in Slurm's --time format."
    )
    cores: int = Field(1, ge=1, le=1024, description="CPU cores (--cpus-per-task).")
    memory_gib: float = Field(2.0, gt=0, le=4096, description="Memory in GiB (--mem).")

    @field_validator("time_limit")
    @classmethod
    def _slurm_time(cls, value: str) -> str:
        if not _SLURM_TIME.match(value):
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


class InfraProfile(_Strict):
    """An infrastructure profile: what a user server (and its Dask cluster) may use."""

    slug: Annotated[str, Field(pattern=SLUG, max_length=40)]
    display_name: Line(80, min_length=1)
    description: Text(1000) = ""
    cpu: float = Field(gt=0, le=256, description="CPU limit of the user server (cores)")
    memory: str = Field(
        pattern=MEMORY, max_length=20, description="memory limit, e.g. '2G' or '512M'"
    )
    gpu: int = Field(default=0, ge=0, le=16)
    image: Line(300) | None = Field(default=None, description="container image (Kubernetes)")
    node_selector: dict[Line(317), Line(63)] = Field(default_factory=dict, max_length=20)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=20)
    dask_gateway: DaskGatewayOptions = Field(default_factory=DaskGatewayOptions)
    allowed_groups: list[Line(100, min_length=1)] = Field(
        default_factory=list,
        max_length=50,
        description="hub groups that may use it; empty: everyone",
    )
    default: bool = False
    kubernetes_only: bool = Field(
        default=False, description="needs Kubernetes (node selector, GPU, offload)"
    )
    slurm: SlurmResources | None = Field(
        default=None,
        description="run servers as Slurm jobs with these resources (hubs with TWINHUB_SLURM=1)",
    )

    @field_validator("node_selector")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.match(r"^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", key):
                raise ValueError(f"{key!r} is not a Kubernetes label key")
        return value

    @field_validator("slurm")
    @classmethod
    def _job_holds_the_profile(
        cls, value: SlurmResources | None, info: ValidationInfo
    ) -> SlurmResources | None:
        """The Slurm job must hold what the profile offers: its name and the server's
        CPU_LIMIT/MEM_LIMIT say ``cpu`` and ``memory``, the job is what the server gets."""
        cpu, memory = info.data.get("cpu"), info.data.get("memory")
        if value is None or cpu is None or memory is None:
            return value
        if value.cores < cpu:
            raise ValueError(f"cores {value.cores} is less than the profile's cpu {cpu:g}")
        if value.memory_gib * 2**30 < memory_bytes(memory):
            raise ValueError(
                f"memory_gib {value.memory_gib:g} is less than the profile's memory {memory}"
            )
        return value

    @property
    def memory_bytes(self) -> int:
        return memory_bytes(self.memory)


_EXPECTED = {
    "slug": "a slug: 2-40 lower-case letters, digits or '-', starting with a letter",
    "memory": "a memory size such as '2G' or '512M' (number and K, M, G or T)",
}


def field_errors(
    error: ValidationError, prefix: str = "", fields_doc: str = "docs/registry.md"
) -> list[tuple[str, str]]:
    """pydantic errors of a request body (a profile, a schedule) as ``(field, message)``."""
    return described_errors(
        error, _EXPECTED, f"see {fields_doc} for the fields", whole="(body)", prefix=prefix
    )


def parse_profile(data: Any, source: str = "profile") -> InfraProfile:
    """Validate profile data; raise :class:`ManifestError` naming every wrong field."""
    if not isinstance(data, dict):
        raise ManifestError(source, [("(body)", "must be a mapping of fields")])
    try:
        return InfraProfile.model_validate(data)
    except ValidationError as e:
        raise ManifestError(source, field_errors(e)) from None
