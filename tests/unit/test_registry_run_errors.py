"""Failed runs keep their error: the 0002 migration on a real 0001 database, and the rule that
only a failed run has an error message."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from twinhub.extensions.registry.db import alembic_config, current_revision, make_engine, upgrade
from twinhub.extensions.registry.errors import Invalid
from twinhub.extensions.registry.store import _check_run_error

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
"""The newest migration (branches add theirs; the lead re-chains them at merge)."""


def test_upgrade_from_0001_keeps_runs_and_adds_an_empty_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    engine = make_engine(url)
    cfg = alembic_config()
    with engine.begin() as connection:  # the schema a deployed 0001 registry has
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
    with sqlite3.connect(tmp_path / "registry.sqlite") as db:
        db.execute(
            "INSERT INTO runs VALUES ('r1', 'flood', '0.1.0', 'alice', '{}', 'failed', NULL,"
            " '2026-11-25 10:00:00', '2026-11-25 10:00:00')"
        )
    upgrade(engine)
    assert current_revision(engine) == HEAD
    with sqlite3.connect(tmp_path / "registry.sqlite") as db:
        rows = db.execute("SELECT id, user, status, error FROM runs").fetchall()
    assert rows == [("r1", "alice", "failed", None)]


@pytest.mark.parametrize("status", ["queued", "running", "succeeded"])
def test_error_on_a_run_that_did_not_fail_names_the_field(status: str) -> None:
    with pytest.raises(Invalid) as err:
        _check_run_error(status, "SchedulerLost: gone")
    ((field, message),) = err.value.detail
    assert field == "error" and repr(status) in message


def test_failed_run_may_carry_an_error() -> None:
    _check_run_error("failed", "SchedulerLost: the Dask scheduler was lost")
    _check_run_error("succeeded", None)
