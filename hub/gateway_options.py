"""The Dask cluster options users may set, bounded by the operator's limits.

dask-gateway validates a request against these fields before anything starts, so a request
for more cores or memory than allowed fails with a message naming the option and the bound.
Infrastructure profiles (the registry) later set the defaults within the same bounds through
``DASK_GATEWAY__CLUSTER__OPTIONS__*`` in the user's environment.
"""

from __future__ import annotations

from dask_gateway_server.options import Float, Integer, Mapping, Options
from traitlets.config import Config
from twinhub.contracts.settings import Settings

GIB = 2**30

SCHEDULER_CORES = 1
SCHEDULER_MEMORY_GIB = 1.0
"""What a cluster's scheduler holds, on every backend (a Slurm job's request, counted in the
cluster's limits everywhere)."""


def _to_cluster_config(options) -> dict:
    """Turn the user's options into ClusterConfig overrides (memory in bytes)."""
    return {
        "worker_cores": options.worker_cores,
        "worker_memory": int(options.worker_memory * GIB),
        "environment": dict(options.environment),
    }


def cluster_options(settings: Settings) -> Options:
    return Options(
        Integer(
            "worker_cores",
            default=1,
            min=1,
            max=settings.dask_max_worker_cores,
            label="Worker cores",
        ),
        Float(
            "worker_memory",
            default=1.0,
            min=0.25,
            max=settings.dask_max_worker_memory_gib,
            label="Worker memory (GiB)",
        ),
        Mapping("environment", default={}, label="Environment variables"),
        handler=_to_cluster_config,
    )


def cluster_limits(settings: Settings) -> Config:
    """The ``ClusterConfig`` limits of one user's cluster, scheduler included.

    dask-gateway counts the scheduler toward ``cluster_max_cores`` and ``cluster_max_memory``
    (it subtracts the scheduler's share before dividing by a worker's size), so the scheduler's
    share is added here: ``TWINHUB_DASK_MAX_WORKERS`` workers of the largest size still fit, as
    the limits and the profiles promise.
    """
    c = Config()
    cluster = c.ClusterConfig
    cluster.scheduler_cores = SCHEDULER_CORES
    cluster.scheduler_memory = int(SCHEDULER_MEMORY_GIB * GIB)
    cluster.cluster_max_workers = settings.dask_max_workers
    cluster.cluster_max_cores = (
        settings.dask_max_workers * settings.dask_max_worker_cores + SCHEDULER_CORES
    )
    cluster.cluster_max_memory = int(
        (settings.dask_max_workers * settings.dask_max_worker_memory_gib + SCHEDULER_MEMORY_GIB)
        * GIB
    )
    return c
