"""Per-user quotas of Dask Gateway: clusters, cores and memory across all of a user's clusters.

dask-gateway-server limits each cluster (``ClusterConfig.cluster_max_*``) but not a user's
sum: one person could start clusters until the machine is theirs. :func:`with_user_quotas`
wraps whichever backend a target configures (local processes, Slurm jobs) in a subclass that

- refuses a new cluster, with a message naming the limit, when the user already has
  ``max_clusters_per_user`` active clusters or the new cluster's scheduler would take the user
  over ``max_cores_per_user`` / ``max_memory_per_user`` (the gateway answers 422 with it);
- caps the workers a cluster may have (scale and adapt requests reach the backend through the
  scheduler's heartbeat) at what the user's remaining cores and memory allow, and logs why.

A cluster's footprint is its scheduler plus its requested workers (``count``), each with the
cores and memory of its configuration; clusters count from creation until they stop.

The user's running jobs of the run executor count too (one cluster each, one core per worker:
:func:`twinhub.extensions.registry.jobs.running_usage`), read from the registry's database
(``c.UserQuotas.registry_db_url``) in a thread: clusters and jobs are one budget per user, and
the executor counts this gateway's clusters likewise (``extensions/executor/gateway_usage.py``).
If the registry's database cannot be read, the jobs are not counted (logged): Dask stays
usable, held by the gateway's own clusters' quota.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dask_gateway_server.backends.base import PublicException
from dask_gateway_server.traitlets import MemoryLimit
from dask_gateway_server.utils import format_bytes
from traitlets import Float, Integer, Unicode
from traitlets.config import LoggingConfigurable
from traitlets.utils.importstring import import_item


class UserQuotas(LoggingConfigurable):
    """Mixin for a ``DBBackendBase`` backend: the user's quotas, checked where clusters start
    and where their size changes (configured as ``c.UserQuotas.*``)."""

    max_clusters_per_user = Integer(
        0,
        min=0,
        help="Most active Dask clusters one user may have at once (0: no limit).",
        config=True,
    )
    max_cores_per_user = Float(
        0,
        min=0,
        help="Most cores (schedulers and workers) of all one user's clusters (0: no limit).",
        config=True,
    )
    max_memory_per_user = MemoryLimit(
        0,
        help="Most memory (schedulers and workers) of all one user's clusters (0: no limit).",
        config=True,
    )

    registry_db_url = Unicode(
        "",
        help="The registry's database: the user's running jobs count in their quota (empty: "
        "jobs are not counted).",
        config=True,
    )
    job_workers = Integer(
        1, min=1, help="Workers (one core each) of a job's cluster (TWINHUB_EXECUTOR_WORKERS).",
        config=True,
    )  # fmt: skip

    _quota_lock: asyncio.Lock | None = None
    _registry: Any = None

    def _running_jobs(self, username: str) -> Any:
        """The user's running jobs' clusters and cores (a blocking read: run in a thread)."""
        from twinhub.extensions.registry.jobs import Usage, running_usage

        if not self.registry_db_url:
            return Usage()
        try:
            if self._registry is None:
                sessions = _registry_sessions(self.registry_db_url)
                if sessions is None:
                    return Usage()  # no registry database yet: no jobs
                self._registry = sessions
            with self._registry() as session:
                return running_usage(session, username, self.job_workers, self.max_cores_per_user)
        except Exception as e:
            self._registry = None
            self.log.warning("Running jobs of %s not counted in the quota: %s", username, e)
            return Usage()

    def _footprint(self, clusters: list[Any], skip: Any = None) -> tuple[float, int]:
        """Cores and memory (bytes) that ``clusters`` hold, leaving out ``skip``."""
        cores, memory = 0.0, 0
        for cluster in clusters:
            if cluster is skip:
                continue
            config = cluster.config
            cores += config["scheduler_cores"] + cluster.count * config["worker_cores"]
            memory += config["scheduler_memory"] + cluster.count * config["worker_memory"]
        return cores, memory

    async def start_cluster(self, user, cluster_options):
        """Start a cluster unless the user's quota is used up (checked and created under one
        lock, so two concurrent requests cannot both take the last place)."""
        if self._quota_lock is None:
            self._quota_lock = asyncio.Lock()
        async with self._quota_lock:
            clusters = self.db.list_clusters(username=user.name)
            jobs = await asyncio.to_thread(self._running_jobs, user.name)
            runs = f" and {jobs.clusters} running jobs (runs)" if jobs.clusters else ""
            if self.max_clusters_per_user and (
                len(clusters) + jobs.clusters >= self.max_clusters_per_user
            ):
                raise PublicException(
                    f"{user.name} already has {len(clusters)} Dask clusters{runs}: the limit is "
                    f"{self.max_clusters_per_user} clusters per user (a run counts as one). "
                    "Stop one (cluster.shutdown()) before starting another."
                )
            _, config = await self.process_cluster_options(user, cluster_options)
            cores, memory = self._footprint(clusters)
            cores += jobs.cores
            if self.max_cores_per_user and cores + config.scheduler_cores > self.max_cores_per_user:
                raise PublicException(
                    f"{user.name}'s Dask clusters{runs} hold {cores:g} cores: the limit is "
                    f"{self.max_cores_per_user:g} cores per user. Scale down or stop a cluster."
                )
            if self.max_memory_per_user and memory + config.scheduler_memory > (
                self.max_memory_per_user
            ):
                raise PublicException(
                    f"{user.name}'s Dask clusters hold {format_bytes(memory)}: the limit is "
                    f"{format_bytes(self.max_memory_per_user)} of memory per user. Scale down "
                    "or stop a cluster."
                )
            return await super().start_cluster(user, cluster_options)

    def workers_allowed(self, cluster: Any, job_cores: float = 0.0) -> int | None:
        """The most workers ``cluster`` may have within its user's quotas (None: no quota),
        beside their other clusters and the ``job_cores`` their running jobs hold."""
        others = self.db.list_clusters(username=cluster.username)
        cores, memory = self._footprint(others, skip=cluster)
        cores += job_cores
        config = cluster.config
        bounds = []
        if self.max_cores_per_user:
            left = self.max_cores_per_user - cores - config["scheduler_cores"]
            bounds.append(int(left // config["worker_cores"]))
        if self.max_memory_per_user:
            left = self.max_memory_per_user - memory - config["scheduler_memory"]
            bounds.append(int(left // config["worker_memory"]))
        return max(0, min(bounds)) if bounds else None

    async def on_cluster_heartbeat(self, cluster_name, msg):
        """Hold the workers a scheduler asks for (scale, adapt) within the user's quotas."""
        cluster = self.db.get_cluster(cluster_name)
        if cluster is not None:
            jobs = (
                await asyncio.to_thread(self._running_jobs, cluster.username)
                if self.max_cores_per_user
                else None
            )
            allowed = self.workers_allowed(cluster, jobs.cores if jobs else 0.0)
            if allowed is not None and msg["count"] > allowed:
                self.log.info(
                    "Cluster %s of %s asks for %d workers; the user's quota "
                    "(max_cores_per_user=%g, max_memory_per_user=%s) allows %d",
                    cluster_name, cluster.username, msg["count"], self.max_cores_per_user,
                    format_bytes(self.max_memory_per_user), allowed,
                )  # fmt: skip
                msg = {**msg, "count": allowed}
        return await super().on_cluster_heartbeat(cluster_name, msg)


def _registry_sessions(url: str) -> Any:
    """Sessions of the registry's database, to read jobs (the registry migrates it); None if
    its SQLite file does not exist yet (it is not created here)."""
    from pathlib import Path

    from sqlalchemy.orm import sessionmaker
    from twinhub.extensions.registry.db import make_engine

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    return sessionmaker(make_engine(url))


def with_user_quotas(backend_class: type | str) -> type:
    """``backend_class`` (a class or its import string) with :class:`UserQuotas`, for
    ``c.DaskGateway.backend_class``."""
    if isinstance(backend_class, str):
        backend_class = import_item(backend_class)
    return type(f"UserQuota{backend_class.__name__}", (UserQuotas, backend_class), {})
