"""Profile validation, semantic version order, and the registry's migrations on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from twinhub.extensions.registry import db
from twinhub.extensions.registry.errors import Invalid
from twinhub.extensions.registry.validation import check_profile, semver_key

PROFILE = {"slug": "small", "display_name": "Small", "cpu": 1, "memory": "2G"}

HEAD = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
"""The newest migration (branches add theirs; the lead re-chains them at merge)."""


def test_memory_in_jupyterhub_units_becomes_bytes() -> None:
    assert check_profile(PROFILE).memory_bytes == 2 * 1024**3
    assert check_profile({**PROFILE, "memory": "512M"}).memory_bytes == 512 * 1024**2
    assert check_profile({**PROFILE, "memory": "1.5G"}).memory_bytes == 1536 * 1024**2


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"memory": "lots"}, "memory", "'lots' is not a memory size"),
        ({"memory": "2GB"}, "memory", "memory size"),
        ({"cpu": -1}, "cpu", "greater than 0"),
        ({"slug": "Small"}, "slug", "slug"),
        ({"node_selector": {"bad key!": "x"}}, "node_selector", "label key"),
        ({"tolerations": [{"key": "k", "effect": "Sometimes"}]}, "tolerations.0.effect", ""),
        ({"dask_gateway": {"max_workers": 0}}, "dask_gateway.max_workers", "greater"),
        ({"gpus": 1}, "gpus", "unknown field"),
    ],
)
def test_bad_profile_names_the_field(change: dict, field: str, text: str) -> None:
    with pytest.raises(Invalid) as error:
        check_profile({**PROFILE, **change})
    messages = dict(error.value.detail)
    assert field in messages and text in messages[field]


def test_semver_order_follows_the_specification() -> None:
    # the precedence example of semver.org, section 11
    spec = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
    ]
    assert sorted(reversed(spec), key=semver_key) == spec
    assert semver_key("1.10.0") > semver_key("1.9.0") > semver_key("1.0.0+build.7")
    assert semver_key("1.0.0+a") == semver_key("1.0.0+b")  # build metadata has no order


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_migrations_create_upgrade_and_downgrade_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    assert {
        "twins",
        "profiles",
        "history",
        "runs",
        "jobs",
        "pipelines",
        "alembic_version",
    } <= tables(path)
    assert db.current_revision(engine) == HEAD
    with sqlite3.connect(path) as con:
        con.execute(
            "INSERT INTO profiles (slug, profile, source, created_at, updated_at, updated_by) "
            "VALUES ('kept', '{}', 'api', '2026-01-01', '2026-01-01', 'admin')"
        )
    db.upgrade(engine)  # a second start: nothing recreated, the row stays
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT slug FROM profiles").fetchall() == [("kept",)]
    cfg = db.alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")
    assert tables(path) == {"alembic_version"}
