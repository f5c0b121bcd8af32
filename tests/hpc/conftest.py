"""The real Slurm clusters, started for the HPC tests and stopped after them: one node on this
machine (the session's), and several nodes on hosts made of network namespaces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import netns
from tests.support.gateway import Gateway, Session, start_gateway
from tests.support.kernel import RemoteKernel
from tests.support.slurm import SlurmCluster, SlurmUnavailable, staging_dirs, start_slurm


@contextmanager
def running_slurm(
    tmp_path_factory: pytest.TempPathFactory, name: str, network: netns.Network | None = None
) -> Iterator[SlurmCluster]:
    """A cluster in a new directory ``name`` of this session (skipping where Slurm cannot run);
    afterwards every job is cancelled, no job process may be left, and the daemons stop."""
    try:
        cluster = start_slurm(tmp_path_factory.mktemp(name), network)
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
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """munged + slurmctld + slurmd on free loopback ports, in a directory of this session."""
    with running_slurm(tmp_path_factory, "slurm") as cluster:
        yield cluster


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
    with running_slurm(tmp_path_factory, "slurm-multinode", multinode_network) as cluster:
        yield cluster


@contextmanager
def hpc_server(gw: Gateway, name: str, timeout: float) -> Iterator[Session]:
    """``name``'s server on the hpc-slurm profile (a Slurm job), stopped afterwards unless a
    test already stopped it."""
    user = gw.login(name)
    gw.start_server(user, timeout=timeout, options={"profile": "hpc-slurm"})
    yield user
    with gw.client(headers=user.headers) as c:
        running = c.get(f"/hub/api/users/{user.name}").json()["servers"]
    if "" in running:
        gw.stop_server(user)


def run_in_kernel(gw: Gateway, user: Session, code: str, timeout: float = 300) -> dict:
    """Run ``code`` in a twinhub kernel of ``user``'s server; the JSON its last line prints."""
    with RemoteKernel(gw.url, f"/user/{user.name}", user.token, kernel_name="twinhub") as k:
        return json.loads(k.execute(code, timeout=timeout).stdout.strip().splitlines()[-1])
