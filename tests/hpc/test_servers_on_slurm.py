"""User servers as Slurm batch jobs (TWINHUB_SPAWNER=slurm, batchspawner's SlurmSpawner)."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import Gateway, Session
from tests.support.kernel import RemoteKernel
from tests.support.slurm import Job, SlurmCluster

pytestmark = [pytest.mark.hpc, pytest.mark.integration]

SERVER_JOB = "spawner-jupyterhub"
N = 1_000_000

# what a scientist types in a notebook of the server: a Dask Gateway cluster, no arguments
NOTEBOOK_CLUSTER_CODE = f"""
import json, os
import dask.array as da
import xarray as xr
from dask_gateway import GatewayCluster

with GatewayCluster() as cluster:
    cluster.scale(1)
    client = cluster.get_client()
    client.wait_for_workers(1, timeout=120)
    x = xr.DataArray(da.arange({N}, chunks={N} // 4, dtype="int64"), dims="x")
    jobs = client.run(lambda: os.environ["SLURM_JOB_ID"])
    print(json.dumps({{"sum": int(x.sum().compute()), "worker_jobs": sorted(jobs.values())}}))
"""


def server_jobs(slurm: SlurmCluster) -> list[Job]:
    return [j for j in slurm.jobs() if j.name == SERVER_JOB]


@pytest.fixture(scope="module")
def dave(hpc_gateway: Gateway) -> Iterator[Session]:
    """Dave's default server, started through the hub as a Slurm job; stopped at the end."""
    user = hpc_gateway.login("dave")
    hpc_gateway.start_server(user, timeout=240)
    yield user
    with hpc_gateway.client(headers=user.headers) as c:
        model = c.get(f"/hub/api/users/{user.name}").json()
    if "" in model["servers"]:
        hpc_gateway.stop_server(user)


def test_server_is_a_running_job_with_the_requested_resources(
    dave: Session, slurm: SlurmCluster
) -> None:
    jobs = server_jobs(slurm)
    assert len(jobs) == 1, jobs
    # the target's defaults: 1 core, 2 GiB (a profile overrides them through SlurmResources)
    assert (jobs[0].state, jobs[0].cpus, jobs[0].memory) == ("RUNNING", 1, "2G")


def test_user_reaches_the_server_through_the_hub(hpc_gateway: Gateway, dave: Session) -> None:
    with hpc_gateway.client(headers=dave.headers) as c:
        status = c.get(f"/user/{dave.name}/api/status")
        assert status.status_code == 200
        assert "started" in status.json()


def test_notebook_runs_inside_the_job_with_the_gateway_settings(
    hpc_gateway: Gateway, dave: Session, slurm: SlurmCluster
) -> None:
    with RemoteKernel(hpc_gateway.url, f"/user/{dave.name}", dave.token) as kernel:
        out = kernel.execute(
            "import os, json; env = {k: os.environ.get(k, '') for k in "
            "('SLURM_JOB_ID', 'DASK_GATEWAY__ADDRESS', 'DASK_GATEWAY__AUTH__TYPE', 'HOME')}; "
            "env['uid'] = os.getuid(); print(json.dumps(env))"
        )
    env = json.loads(out.stdout.strip().splitlines()[-1])
    assert env["SLURM_JOB_ID"] == server_jobs(slurm)[0].job_id
    assert env["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
    assert env["DASK_GATEWAY__ADDRESS"].endswith("/services/dask-gateway")
    home = Path(env["HOME"])
    assert home.parent == hpc_gateway.settings.state_dir / "users"
    if os.geteuid() == 0:
        # a root hub submits the job as dave's own account: the server runs as it, at home
        assert env["uid"] != 0 and home.stat().st_uid == env["uid"]
        assert pwd.getpwuid(env["uid"]).pw_name.startswith(os.environ["TWINHUB_ACCOUNT_PREFIX"])
    else:
        assert home.name == dave.name


def test_notebook_cluster_computes_on_workers_that_are_slurm_jobs(
    hpc_gateway: Gateway, dave: Session, slurm: SlurmCluster
) -> None:
    with RemoteKernel(hpc_gateway.url, f"/user/{dave.name}", dave.token) as kernel:
        result = json.loads(kernel.execute(NOTEBOOK_CLUSTER_CODE).stdout.strip().splitlines()[-1])
    assert result["sum"] == N * (N - 1) // 2
    (worker_job,) = result["worker_jobs"]
    server_job = server_jobs(slurm)[0].job_id
    assert worker_job.isdigit() and worker_job != server_job
    # leaving the `with` shut the cluster down: its jobs are cancelled
    slurm.wait_for(
        lambda js: not any(j.name == "dask-gateway" for j in js), 60, "dask jobs cancelled"
    )


def test_stopping_the_server_cancels_its_job(
    hpc_gateway: Gateway, dave: Session, slurm: SlurmCluster
) -> None:
    assert server_jobs(slurm)
    hpc_gateway.stop_server(dave)
    slurm.wait_for(lambda js: not any(j.name == SERVER_JOB for j in js), 30, "server job gone")


def test_spawn_options_cannot_rewrite_the_batch_script(
    hpc_gateway: Gateway, slurm: SlurmCluster, tmp_path
) -> None:
    """batchspawner fills its script template with user_options; ours ignores them."""
    marker = tmp_path / "injected"
    user = hpc_gateway.login("mallory")
    with hpc_gateway.client(headers=user.headers) as c:
        r = c.post(
            f"/hub/api/users/{user.name}/server",
            json={"prologue": f"touch {marker}", "memory": "20G", "nprocs": "2"},
        )
        assert r.status_code in (201, 202), r.text
    try:
        jobs = slurm.wait_for(
            lambda js: any(j.name == SERVER_JOB and j.state == "RUNNING" for j in js),
            60,
            "mallory's server job running",
        )
        job = next(j for j in jobs if j.name == SERVER_JOB)
        assert (job.cpus, job.memory) == (1, "2G")  # the operator's resources, not the request
    finally:
        hpc_gateway.stop_server(user)
    assert not marker.exists()
