"""The real Slurm clusters, started for the HPC tests and stopped after them: one node on this
machine (the session's), and several nodes on hosts made of network namespaces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import netns
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


# --- several nodes: hosts made of network namespaces (tests/support/netns.py) ---------------
MULTINODE = netns.Network(
    [
        # the submit host: slurmctld, the hub, its proxy and gateways
        netns.Host("thmn-ctl", "10.251.0.1"),
        # two compute nodes: a slurmd each
        netns.Host("thmn-n1", "10.251.0.11"),
        netns.Host("thmn-n2", "10.251.0.12"),
    ]
)
"""The multi-node cluster: its addresses exist only in these namespaces (a private /24 that
nothing routes to or from)."""


@pytest.fixture(scope="module")
def multinode_network() -> Iterator[netns.Network]:
    """The three hosts and their links, removed afterwards (a failed test's included); what a
    crashed session left is swept first."""
    try:
        MULTINODE.create()
    except netns.NetnsUnavailable as exc:
        netns.sweep()
        pytest.skip(str(exc))
    try:
        yield MULTINODE
    finally:
        MULTINODE.remove()


@pytest.fixture(scope="module")
def on_submit_host(multinode_network: netns.Network) -> Iterator[netns.Host]:
    """The test's own requests (HTTP, kernels, Dask clients) leave from the submit host's
    network, as a user's on the cluster network do."""
    with netns.inside(multinode_network.hub.name):
        yield multinode_network.hub


@pytest.fixture(scope="module")
def multinode_slurm(
    multinode_network: netns.Network, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SlurmCluster]:
    """slurmctld on the submit host, a slurmd on each compute node."""
    try:
        cluster = start_slurm(tmp_path_factory.mktemp("slurm-multinode"), multinode_network)
    except SlurmUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        try:
            cluster.end_all_jobs(staging_dirs(tmp_path_factory.getbasetemp()))
        finally:
            cluster.stop()
