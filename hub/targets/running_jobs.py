"""Servers that run as Slurm jobs, read from the hub's database before the hub starts.

A hub started without Slurm (TWINHUB_SLURM unset, TWINHUB_SPAWNER=local) cannot poll or stop a
server that is a batch job: its local spawner would find no process, mark the server stopped
and leave the job running until its time limit. The launcher refuses to start such a hub and
names the servers, so the operator stops them first (or keeps Slurm on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jupyterhub import orm
from twinhub.contracts.settings import Settings, SettingsError

RUNNING_SERVERS = (
    sa.select(orm.User.name, orm.Spawner.name, orm.Spawner.state)
    .join(orm.Spawner.user)
    .where(orm.Spawner.server_id.is_not(None))
)


def is_slurm_job(state: dict[str, Any]) -> bool:
    """A spawner state of a batch job: the profile spawner's Slurm child or batchspawner's."""
    return state.get("target") == "slurm" or bool(state.get("job_id"))


def slurm_servers(db_url: str) -> list[str]:
    """``user`` or ``user/name`` of every running server whose spawner state is a Slurm job."""
    url = sa.engine.make_url(db_url)
    if url.drivername.startswith("sqlite") and not Path(url.database or "").is_file():
        return []  # a first start: no database yet (connecting would create an empty file)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(orm.Spawner.__tablename__):
                return []
            rows = conn.execute(RUNNING_SERVERS).all()
    finally:
        engine.dispose()
    return sorted(f"{u}/{n}" if n else u for u, n, state in rows if is_slurm_job(state or {}))


def check_no_orphaned_jobs(settings: Settings) -> None:
    """Refuse a hub without Slurm while its database holds servers that are Slurm jobs."""
    if settings.slurm_enabled:
        return
    servers = slurm_servers(settings.hub_db_url)
    if servers:
        raise SettingsError(
            f"{len(servers)} server(s) run as Slurm jobs ({', '.join(servers)}) but Slurm is "
            "off (TWINHUB_SLURM unset): start with TWINHUB_SLURM=1 and stop them first, or "
            "the jobs would keep running unseen until their time limit"
        )
