"""Dask Gateway clusters whose scheduler and workers are Slurm jobs (TWINHUB_DASK_BACKEND=slurm)."""

from __future__ import annotations

import os

import httpx
import numpy as np
import pytest
import xarray as xr
from dask_gateway import GatewayCluster

from tests.support.gateway import Gateway, Session, gateway_client
from tests.support.slurm import SlurmCluster

pytestmark = [pytest.mark.hpc, pytest.mark.integration]

T, X, SLOPE = 1_000, 400, 3
"""A field f(time, x) = SLOPE * time + x, whose statistics over time have closed forms."""


def field_statistics(cluster: GatewayCluster) -> dict[str, np.ndarray]:
    """Mean and standard deviation over time and the grand total of f, computed on the cluster."""
    import dask.array as da

    client = cluster.get_client(set_as_default=False)
    time = xr.DataArray(da.arange(T, chunks=T // 10), dims="time")
    x = xr.DataArray(da.arange(X, chunks=X // 4), dims="x")
    field = SLOPE * time + x
    mean, std, total = client.compute(
        [field.mean("time").data, field.std("time").data, field.sum().data], sync=True
    )
    return {"mean": mean, "std": std, "total": np.asarray(total)}


def _dashboard_opens_only_through_the_front(gw: Gateway, user: Session, cluster: str) -> None:
    """The scheduler's dashboard, a Slurm job's, asks for its cluster's key as a local one does:
    its owner opens it through the hub-login front; straight to the gateway's port: 403."""
    page = f"/services/dask-gateway/clusters/{cluster}/status"
    direct = httpx.get(f"http://127.0.0.1:{gw.settings.gateway_http_port}{page}", timeout=30)
    assert direct.status_code == 403
    with httpx.Client(
        base_url=gw.url,
        cookies=httpx.Cookies(user.cookies),
        timeout=60,
        follow_redirects=True,
        headers={"Accept": "text/html"},
    ) as browser:
        front = browser.get(page)
    assert front.status_code == 200 and "Dask" in front.text, front.text[:300]


def test_workers_are_slurm_jobs_and_compute_the_exact_statistics(
    hpc_gateway: Gateway, slurm: SlurmCluster, gateway: Gateway
) -> None:
    user = hpc_gateway.login("carol")
    with gateway_client(hpc_gateway, user) as client:
        cluster = client.new_cluster(worker_cores=1, worker_memory=1.0)
        try:
            cluster.scale(2)
            cluster.get_client(set_as_default=False).wait_for_workers(2, timeout=120)
            # the scheduler and both workers run as jobs of the Slurm cluster
            jobs = slurm.wait_for(
                lambda js: sum(j.name == "dask-gateway" and j.state == "RUNNING" for j in js) == 3,
                60,
                "scheduler + 2 worker jobs running",
            )
            client = cluster.get_client(set_as_default=False)
            worker_jobs = client.run(lambda: __import__("os").environ["SLURM_JOB_ID"])
            assert set(worker_jobs.values()) <= {j.job_id for j in jobs}
            assert len(set(worker_jobs.values())) == 2
            # a root gateway submits them as carol's own account: they run as it
            uids = {*client.run(os.getuid).values(), client.run_on_scheduler(os.getuid)}
            assert len(uids) == 1 and ((0 not in uids) == (os.geteuid() == 0))
            on_slurm = field_statistics(cluster)
            _dashboard_opens_only_through_the_front(hpc_gateway, user, cluster.name)
        finally:
            cluster.shutdown()
        # stopping the cluster cancels its jobs, and ends every process they started
        slurm.wait_for(
            lambda js: not any(j.name == "dask-gateway" for j in js), 60, "dask jobs cancelled"
        )
        dask_jobs = {j.job_id for j in jobs if j.name == "dask-gateway"}
        slurm.wait_processes_gone(
            dask_jobs,
            workdirs=[hpc_gateway.slurm_staging_dir],
            what="the stopped cluster's scheduler and workers",
        )

    # exact answers: mean over t of (a t + x) = a (T-1)/2 + x; std = a sqrt((T^2-1)/12)
    x = np.arange(X)
    np.testing.assert_allclose(on_slurm["mean"], SLOPE * (T - 1) / 2 + x, rtol=1e-12)
    np.testing.assert_allclose(on_slurm["std"], SLOPE * np.sqrt((T**2 - 1) / 12), rtol=1e-12)
    assert int(on_slurm["total"]) == SLOPE * X * T * (T - 1) // 2 + T * X * (X - 1) // 2

    # and the same graph on the local backend (processes, no Slurm) gives the same numbers
    local_user = gateway.login("carol")
    with gateway_client(gateway, local_user) as client:
        with client.new_cluster(worker_cores=1, worker_memory=1.0) as local:
            local.scale(1)
            local.get_client(set_as_default=False).wait_for_workers(1, timeout=120)
            on_local = field_statistics(local)
    for key in on_slurm:
        np.testing.assert_array_equal(on_slurm[key], on_local[key])
