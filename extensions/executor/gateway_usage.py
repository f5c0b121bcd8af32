"""A user's active Dask Gateway clusters, read from dask-gateway-server's database.

The run executor counts them, beside the user's running jobs, in the user's Dask quota
(:class:`twinhub.extensions.registry.jobs.Quota`). A cluster counts as the gateway's own quota
check counts it (``extensions/gateway_backends/quotas.py``): from creation until its target
is stopped, its scheduler's cores plus ``count`` workers of its configured cores. The
database is read only: an SQLite file is opened read-only (``mode=ro``), and one that does
not exist yet (no gateway has started) holds no clusters.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, Unicode, create_engine, select
from sqlalchemy.engine import Engine, make_url

from ..registry.jobs import Usage

STOPPED = 5
"""dask_gateway_server.backends.db_base.JobStatus.STOPPED: a cluster whose target is below
it is active (``Cluster.is_active``)."""

_clusters = Table(  # the columns of dask-gateway-server's ``clusters`` table read here
    "clusters",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("username", Unicode(255)),
    Column("target", Integer),
    Column("count", Integer),
    Column("config", LargeBinary),
)


class GatewayClusters:
    """``GatewayClusters(url)(username)``: the user's active clusters and their cores."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine | None = None

    def _engine(self) -> Engine | None:
        if self.engine is not None:
            return self.engine
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite":
            path = Path(url.database or "")
            if not path.is_file():
                return None  # no gateway has run yet: no clusters (not created here)
            uri = f"file:{path}?mode=ro"
            self.engine = create_engine(
                "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=5)
            )
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        return self.engine

    def __call__(self, username: str) -> Usage:
        engine = self._engine()
        if engine is None:
            return Usage()
        query = select(_clusters.c.count, _clusters.c.config).where(
            _clusters.c.username == username, _clusters.c.target < STOPPED
        )
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        usage = Usage()
        for count, config in rows:
            usage = usage + Usage(1, _cores(count, config))
        return usage


def _cores(count: int, config: Any) -> float:
    """A cluster's scheduler and workers' cores (its config is JSON, as the gateway stores it)."""
    if isinstance(config, bytes | str):
        config = json.loads(config)
    return float(config.get("scheduler_cores", 1)) + count * float(config.get("worker_cores", 1))
