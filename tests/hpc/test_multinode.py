"""Beyond one machine: the hub on a submit host, servers and Dask on two other compute nodes.

The hosts are network namespaces (tests/hpc/conftest.py: ``thmn-ctl`` with slurmctld, the
hub, its proxy and gateways; ``thmn-n1`` and ``thmn-n2`` with a slurmd each) joined by a
bridge on a private /24. Each has its own loopback, so a server or a Dask process on a compute
node that dials ``127.0.0.1`` for the hub, the proxy, a gateway or its scheduler finds nothing
there, and a part of the hub that listens on loopback only is out of the nodes' reach: the test
passes only if the multi-node settings (docs/hpc.md) carry every address.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from twinhub.hub.services import SERVICE_START_TIMEOUT

from tests.hpc.conftest import hpc_server, run_in_kernel
from tests.support import netns
from tests.support.gateway import Gateway, Session, start_gateway
from tests.support.slurm import SlurmCluster

pytestmark = [
    pytest.mark.hpc,
    pytest.mark.integration,
    # 5-7 minutes, most of it the gateway's start: in `make test-hpc`, not `make test`
    pytest.mark.skipif(
        os.environ.get("TWINHUB_TEST_MULTINODE") != "1",
        reason="the multi-node test runs in `make test-hpc` (TWINHUB_TEST_MULTINODE=1)",
    ),
]

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
        # four services, each of which the hub waits up to 2 min for (SERVICE_START_TIMEOUT):
        # a machine loaded by other test runs took over 3 min to start them all
        start_timeout=SERVICE_START_TIMEOUT * 4,
    )
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def alice(gw: Gateway) -> Iterator[Session]:
    """Alice's server on the hpc-slurm profile: a job on one of the compute nodes."""
    with hpc_server(gw, "alice", timeout=300) as user:
        yield user


WHERE_AM_I = """
import json, os, socket, urllib.parse, urllib.request
api = urllib.parse.urlparse(os.environ["JUPYTERHUB_API_URL"])
with socket.create_connection((api.hostname, api.port), timeout=10) as s:
    source = s.getsockname()[0]
registry = os.environ["TWINHUB_API_URL"]
with urllib.request.urlopen(registry + "/health", timeout=30) as r:
    registry_status = r.status
print(json.dumps({"host": socket.gethostname(), "job": os.environ.get("SLURM_JOB_ID"),
                  "hub_api": os.environ["JUPYTERHUB_API_URL"], "source": source,
                  "registry": registry, "registry_status": registry_status}))
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
    # the twin registry, through the public proxy on the cluster network
    assert where["registry"].startswith(f"{gw.url}/services/twinhub/")
    assert where["registry_status"] == 200


# a scientist's cell: the session's cluster() (the Slurm gateway's, for this profile), two
# workers, a sum with a closed form; then where everything ran, as Dask itself sees it
DASK_ACROSS_NODES = f"""
import json, os, socket
import dask.array as da
c = cluster()
c.scale(2)
client = c.get_client()
client.wait_for_workers(2, timeout=240)
total = int(da.arange({N}, chunks={N} // 8, dtype="int64").sum().compute())
where = lambda: [socket.gethostname(), os.environ.get("SLURM_JOB_ID")]
report = {{
    "total": total,
    "gateway": os.environ["DASK_GATEWAY__ADDRESS"],
    "client_connects_to": client.scheduler.address,
    "scheduler": client.run_on_scheduler(where),
    "scheduler_address": client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.address),
    "workers": sorted(client.run(where).values()),
    "worker_addresses": sorted(client.scheduler_info()["workers"]),
}}
c.shutdown()
print(json.dumps(report))
"""


def host_of(address: str) -> str:
    """``tls://10.251.0.11:4321`` -> ``10.251.0.11``."""
    return address.split("://", 1)[-1].rsplit(":", 1)[0]


def test_dask_scheduler_and_workers_run_on_compute_nodes_and_compute(
    gw: Gateway, alice: Session, multinode_slurm: SlurmCluster, multinode_network: netns.Network
) -> None:
    result = run_in_kernel(gw, alice, DASK_ACROSS_NODES)
    assert result["total"] == N * (N - 1) // 2
    # the cluster came from the Slurm gateway, on the submit host's cluster-network name, and
    # the notebook reached its scheduler through that gateway's TCP proxy there
    hub = multinode_network.hub.name
    assert result["gateway"].startswith(f"http://{hub}:")
    assert result["gateway"].endswith("/services/dask-gateway-slurm")
    assert result["client_connects_to"].startswith(f"gateway://{hub}:")
    # scheduler and workers are jobs on compute nodes, listening on those nodes' addresses
    nodes = set(multinode_slurm.nodes)
    addresses = {multinode_network.host(n).address for n in nodes}
    scheduler_host, scheduler_job = result["scheduler"]
    assert scheduler_host in nodes and scheduler_job
    workers = result["workers"]
    assert len(workers) == 2 and all(host in nodes and job for host, job in workers), workers
    assert len({scheduler_job, *(job for _, job in workers)}) == 3  # three jobs
    for address in [result["scheduler_address"], *result["worker_addresses"]]:
        assert host_of(address) in addresses, result
    # c.shutdown() cancelled the three jobs and ended their processes
    multinode_slurm.wait_for(
        lambda js: not any(j.name == DASK_JOB for j in js), 60, "dask jobs cancelled"
    )
    multinode_slurm.wait_processes_gone(
        [scheduler_job, *(job for _, job in workers)],
        workdirs=[gw.slurm_staging_dir],
        what="the shut-down cluster's scheduler and workers",
    )


def test_stopping_the_server_ends_its_job_on_the_node(
    gw: Gateway, alice: Session, multinode_slurm: SlurmCluster
) -> None:
    (job,) = [j for j in multinode_slurm.jobs() if j.name == SERVER_JOB]
    gw.stop_server(alice)
    multinode_slurm.wait_for(lambda js: not js, 60, "every job ended")
    multinode_slurm.wait_processes_gone([job.job_id], what="the stopped server's job")


APP_JOB = "twinhub-app-flood"
FLOOD_API = "/services/twinhub/api/twins/flood"
HEALTH = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/health", timeout=30) as r:
    print(r.status)
"""


def test_a_twins_dashboard_job_runs_on_a_compute_node_and_reaches_the_registry(
    gw: Gateway, multinode_slurm: SlurmCluster, multinode_network: netns.Network
) -> None:
    """Issue 17 section 3: a twin on the hpc-slurm profile has its dashboard as a job on a
    compute node; the router reaches it at the node (the page answers) and the process gets
    the registry at the public proxy's address, which answers from that node (its loopback is
    its own). (After the server's test: the nodes are free.)"""
    admin = gw.login("admin", gw.admin_password)
    with gw.client(headers=admin.headers) as c:
        manifest = c.get(FLOOD_API).json()["manifest"]
        r = c.put(FLOOD_API, json={**manifest, "profile": "hpc-slurm"})
        assert r.status_code == 200, r.text
    try:
        with gw.client(cookies=gw.login("carol").cookies) as c:
            page = c.get("/services/twinhub-apps/flood", follow_redirects=True, timeout=240)
            assert page.status_code == 200, page.text[:500]
        (job,) = [j for j in multinode_slurm.jobs() if j.name == APP_JOB]
        assert job.state == "RUNNING" and job.nodes in multinode_slurm.nodes, job
        (process,) = [
            p
            for p in multinode_slurm.job_processes([job.job_id])
            if "twinhub.extensions.dashboards.server" in p.cmdline()
        ]
        registry = process.environ()["TWINHUB_API_URL"]
        assert registry == f"{gw.url}/services/twinhub/api"
        health = multinode_network.run(job.nodes, [sys.executable, "-c", HEALTH, registry])
        assert health.strip() == "200"
    finally:
        with gw.client(headers=admin.headers) as c:
            c.put(FLOOD_API, json=manifest)
        if jobs := [j.job_id for j in multinode_slurm.jobs() if j.name == APP_JOB]:
            multinode_slurm.run("scancel", *jobs)
            multinode_slurm.wait_processes_gone(jobs, what="the dashboard job")
