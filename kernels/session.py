"""The ready-made objects of a twinhub session: ``twin``, ``catalog`` and ``cluster()``.

Kept apart from the IPython glue (:mod:`twinhub.kernels.extension`) so that scripts and the
Panel apps can use the same session without a kernel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from twinhub.catalogs import catalog_files
from twinhub.catalogs.access import catalog_for, open_catalog
from twinhub.twins.twin import Twin, load_twin

TWIN_ENV = "TWINHUB_TWIN"
GATEWAY_ENV = "DASK_GATEWAY__ADDRESS"
MAX_WORKERS_ENV = "TWINHUB_DASK_MAX_WORKERS"
"""Set by the spawn (extensions/spawn_options.py): the most workers the profile allows this
server, already clamped to its twin's."""

LOCAL_WORKERS = 2
"""Most workers of a LocalCluster (laptops and Binder are small)."""


@dataclass
class Session:
    """The twin of this session (or None), with its catalog and the way to get a cluster."""

    twin: Twin | None = None
    clusters: list[Any] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> Session:
        name = os.environ.get(TWIN_ENV, "").strip()
        return cls(twin=load_twin(name) if name else None)

    def use(self, name: str) -> Twin:
        """Switch to the twin ``name`` (what ``%twin name`` does)."""
        self.twin = load_twin(name)
        os.environ[TWIN_ENV] = name
        return self.twin

    @property
    def catalog(self):
        """The Intake catalog of the twin's first entry, or the first shipped catalog."""
        if self.twin is not None and self.twin.manifest.catalog:
            return catalog_for(self.twin.manifest.catalog[0])
        return open_catalog(catalog_files()[0])

    def cluster(self, **options: Any):
        """A Dask cluster for this session's work, scaled for the twin.

        Through Dask Gateway when ``DASK_GATEWAY__ADDRESS`` is set (the hub sets it, with the
        profile's options; ``options`` override them), else a LocalCluster of processes. At
        most the twin's ``max_workers``, and never more than the server's profile allows
        (``TWINHUB_DASK_MAX_WORKERS``).
        """
        spec = self.twin.manifest.dask if self.twin else None
        low = spec.min_workers if spec else 0
        # the twin's maximum, clamped to what the spawn allowed this server's profile
        allowed = os.environ.get(MAX_WORKERS_ENV, "").strip()
        limits = ([spec.max_workers] if spec else []) + ([int(allowed)] if allowed else [])
        high = min(limits, default=LOCAL_WORKERS)
        low = min(low, high)
        if os.environ.get(GATEWAY_ENV):
            from dask_gateway import Gateway

            gateway = Gateway()
            cluster = gateway.new_cluster(**options)
            cluster.adapt(minimum=max(low, 1), maximum=high)
        else:
            from dask.distributed import LocalCluster

            workers = max(1, min(high, LOCAL_WORKERS))
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, dashboard_address=":0", **options
            )
        self.clusters.append(cluster)
        return cluster

    def close(self) -> None:
        """Shut down every cluster this session started."""
        while self.clusters:
            self.clusters.pop().close()
