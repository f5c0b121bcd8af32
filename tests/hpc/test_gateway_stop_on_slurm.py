"""Stopping the gateway leaves no Slurm job behind: batch jobs are not children of the hub,
so only the hub (servers) and dask-gateway (clusters) can cancel them."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psutil
import pytest

from tests.hpc.conftest import start_hpc_gateway
from tests.support.slurm import SlurmCluster
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.hpc, pytest.mark.integration]


def wait_for_scheduler(find: Callable[[], list[psutil.Process]], timeout: float = 60) -> int:
    """The pid of the one titled Dask scheduler among the processes ``find`` returns."""
    (pid,) = wait_for(
        lambda: [p.pid for p in find() if " ".join(p.cmdline()).startswith("dask scheduler [tls")],
        until=lambda titled: len(titled) == 1,
        timeout=timeout,
        message="one titled Dask scheduler",
    )
    return pid


def test_stopping_the_gateway_cancels_server_and_cluster_jobs(
    slurm: SlurmCluster, tmp_path, artifacts_dir
) -> None:
    before = {j.job_id for j in slurm.jobs()}
    gw = start_hpc_gateway(slurm, tmp_path / "state", artifacts_dir / "hpc-stop.log")
    try:
        user = gw.login("erin")
        gw.start_server(user, timeout=240)
        # a cluster through the gateway's REST API (its scheduler job is enough), left running
        r = httpx.post(
            f"{gw.url}/services/dask-gateway/api/v1/clusters/",
            json={"cluster_options": {}},
            headers={"Authorization": f"jupyterhub {user.token}"},
        )
        assert r.status_code == 201, r.text
        jobs = slurm.wait_for(
            lambda js: (
                {j.name for j in js if j.job_id not in before and j.state == "RUNNING"}
                == {"spawner-jupyterhub", "dask-gateway"}
            ),
            90,
            "server and scheduler jobs running",
        )
        ours = {j.job_id for j in jobs} - before
        # the scheduler, once distributed titled it, is found by its job (it keeps its
        # environment) and by its working directory, so the check below is not vacuous
        (scheduler_job,) = (j.job_id for j in jobs if j.job_id in ours and j.name == "dask-gateway")
        by_job = wait_for_scheduler(lambda: slurm.job_processes([scheduler_job]))
        by_dir = wait_for_scheduler(
            lambda: slurm.job_processes([], workdirs=[gw.slurm_staging_dir])
        )
        assert by_job == by_dir
    finally:
        assert gw.stop() == 0
    slurm.wait_for(
        lambda js: not ours & {j.job_id for j in js}, 30, f"jobs {sorted(ours)} cancelled"
    )
    # and their processes with them: the scheduler too, whose title Slurm's proctrack/linuxproc
    # cannot read (extensions/gateway_backends/slurm.py)
    slurm.wait_processes_gone(
        ours, workdirs=[gw.slurm_staging_dir], what=f"cancelled jobs {sorted(ours)}"
    )
