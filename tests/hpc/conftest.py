"""The real Slurm cluster, started once for the HPC tests and stopped after them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import Gateway, start_gateway
from tests.support.slurm import SlurmCluster, SlurmUnavailable, staging_dirs, start_slurm


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """munged + slurmctld + slurmd on free loopback ports, in a directory of this session."""
    try:
        cluster = start_slurm(tmp_path_factory.mktemp("slurm"))
    except SlurmUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        try:
            # a leak shows as an error of this teardown; the daemons stop either way
            cluster.end_all_jobs(staging_dirs(tmp_path_factory.getbasetemp()))
        finally:
            cluster.stop()


@pytest.fixture(scope="session")
def hpc_gateway(
    slurm: SlurmCluster, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path
) -> Iterator[Gateway]:
    """The real gateway with both targets on Slurm: servers and Dask clusters are jobs."""
    gw = start_hpc_gateway(slurm, tmp_path_factory.mktemp("hpc-state"), artifacts_dir / "hpc.log")
    try:
        yield gw
    finally:
        gw.stop()


def start_hpc_gateway(slurm: SlurmCluster, state: Path, log: Path) -> Gateway:
    """The gateway as `make up` starts it, with servers and Dask clusters on ``slurm``."""
    return start_gateway(
        state,
        log,
        extra_env={
            "TWINHUB_SPAWNER": "slurm",
            "TWINHUB_DASK_BACKEND": "slurm",
            "TWINHUB_SLURM_CONF": str(slurm.conf),
        },
    )


def start_profile_gateway(slurm: SlurmCluster, state: Path, log: Path) -> Gateway:
    """The gateway with local servers and clusters, plus Slurm for the hpc-slurm profile."""
    return start_gateway(
        state,
        log,
        extra_env={"TWINHUB_SLURM": "1", "TWINHUB_SLURM_CONF": str(slurm.conf)},
    )
