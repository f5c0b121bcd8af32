"""Beyond one machine: the hub on a submit host, servers and Dask on two other compute nodes.

The hosts are network namespaces (tests/hpc/conftest.py: ``thmn-ctl`` with slurmctld, the
hub, its proxy and gateways; ``thmn-n1`` and ``thmn-n2`` with a slurmd each) joined by a
bridge on a private /24. Each has its own loopback, so a server or a Dask process on a compute
node that dials ``127.0.0.1`` for the hub, the proxy, a gateway or its scheduler finds nothing
there, and a part of the hub that listens on loopback only is out of the nodes' reach: the test
passes only if the multi-node settings (docs/hpc.md) carry every address.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support import netns
from tests.support.gateway import Gateway, Session, start_gateway
from tests.support.kernel import RemoteKernel
from tests.support.slurm import SlurmCluster

pytestmark = [pytest.mark.hpc, pytest.mark.integration]

SERVER_JOB = "spawner-jupyterhub"
DASK_JOB = "dask-gateway"
N = 2_000_000


def multinode_settings(network: netns.Network, slurm: SlurmCluster) -> dict[str, str]:
    """What an operator sets on the submit host of a real cluster (docs/hpc.md, Network)."""
    hub = network.hub
    return {
        "TWINHUB_SLURM": "1",
        "TWINHUB_SLURM_CONF": str(slurm.conf),
        # users (and servers, for the registry) reach the public proxy on the cluster network
        "TWINHUB_IP": hub.address,
        # the hub API and the gateways' proxies listen on that network's address only
        "TWINHUB_HUB_BIND_IP": hub.address,
        # jobs call the submit host back by its name on the cluster network
        "TWINHUB_HUB_CONNECT_HOST": hub.name,
        # servers, schedulers and workers listen on their node's interfaces
        "TWINHUB_SLURM_JOB_BIND_IP": "0.0.0.0",
    }


@pytest.fixture(scope="module")
def gw(
    multinode_network: netns.Network,
    on_submit_host: netns.Host,
    multinode_slurm: SlurmCluster,
    tmp_path_factory,
    artifacts_dir,
) -> Iterator[Gateway]:
    gateway = start_gateway(
        tmp_path_factory.mktemp("multinode-state"),
        artifacts_dir / "hpc-multinode.log",
        extra_env=multinode_settings(multinode_network, multinode_slurm),
        host=on_submit_host.name,
    )
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def alice(gw: Gateway) -> Iterator[Session]:
    """Alice's server on the hpc-slurm profile: a job on one of the compute nodes."""
    user = gw.login("alice")
    gw.start_server(user, timeout=300, options={"profile": "hpc-slurm"})
    yield user
    with gw.client(headers=user.headers) as c:
        running = c.get(f"/hub/api/users/{user.name}").json()["servers"]
    if "" in running:
        gw.stop_server(user)


def run_in_kernel(gw: Gateway, user: Session, code: str, timeout: float = 300) -> dict:
    with RemoteKernel(gw.url, f"/user/{user.name}", user.token, kernel_name="twinhub") as k:
        return json.loads(k.execute(code, timeout=timeout).stdout.strip().splitlines()[-1])


WHERE_AM_I = """
import json, os, socket, urllib.parse
api = urllib.parse.urlparse(os.environ["JUPYTERHUB_API_URL"])
with socket.create_connection((api.hostname, api.port), timeout=10) as s:
    source = s.getsockname()[0]
print(json.dumps({"host": socket.gethostname(), "job": os.environ.get("SLURM_JOB_ID"),
                  "hub_api": os.environ["JUPYTERHUB_API_URL"], "source": source}))
"""


def test_hpc_server_runs_on_a_compute_node_and_reaches_the_hub(
    gw: Gateway, alice: Session, multinode_slurm: SlurmCluster, multinode_network: netns.Network
) -> None:
    (job,) = [j for j in multinode_slurm.jobs() if j.name == SERVER_JOB]
    assert job.state == "RUNNING" and job.nodes in multinode_slurm.nodes, job
    # the user reached it through the hub's proxy (the kernel's websocket) ...
    where = run_in_kernel(gw, alice, WHERE_AM_I)
    # ... and it runs in that job, on that node, and calls the hub on the cluster network
    assert (where["host"], where["job"]) == (job.nodes, job.job_id)
    assert where["hub_api"].startswith(f"http://{multinode_network.hub.name}:")
    assert where["source"] == multinode_network.host(job.nodes).address
