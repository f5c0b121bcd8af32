"""User servers as Slurm batch jobs (TWINHUB_SPAWNER=slurm, batchspawner's SlurmSpawner)."""

from __future__ import annotations

import json

import pytest

from tests.support.gateway import Gateway
from tests.support.kernel import RemoteKernel
from tests.support.slurm import SlurmCluster

pytestmark = [pytest.mark.hpc, pytest.mark.integration]

SERVER_JOB = "spawner-jupyterhub"


def test_server_runs_as_a_slurm_job_and_stopping_it_cancels_the_job(
    hpc_gateway: Gateway, slurm: SlurmCluster
) -> None:
    user = hpc_gateway.login("dave")
    hpc_gateway.start_server(user, timeout=240)
    try:
        # the server is a running job with the resources the target asks for (1 core, 2 GiB)
        jobs = [j for j in slurm.jobs() if j.name == SERVER_JOB]
        assert len(jobs) == 1, jobs
        job = jobs[0]
        assert (job.state, job.cpus, job.memory) == ("RUNNING", 1, "2G")

        # the user reaches it through the hub's proxy, as a browser does
        with hpc_gateway.client(headers=user.headers) as c:
            status = c.get(f"/user/{user.name}/api/status")
            assert status.status_code == 200
            assert "started" in status.json()

        # a notebook in it runs inside that job, with the gateway's client settings
        with RemoteKernel(hpc_gateway.url, f"/user/{user.name}", user.token) as kernel:
            out = kernel.execute(
                "import os, json; print(json.dumps({k: os.environ.get(k, '') for k in "
                "('SLURM_JOB_ID', 'DASK_GATEWAY__ADDRESS', 'DASK_GATEWAY__AUTH__TYPE', 'HOME')}))"
            )
        env = json.loads(out.stdout.strip().splitlines()[-1])
        assert env["SLURM_JOB_ID"] == job.job_id
        assert env["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
        assert env["DASK_GATEWAY__ADDRESS"].endswith("/services/dask-gateway")
        assert env["HOME"] == str(hpc_gateway.settings.state_dir / "users" / user.name)
    finally:
        hpc_gateway.stop_server(user)
    assert not [j for j in slurm.jobs() if j.name == SERVER_JOB]
