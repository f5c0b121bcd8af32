"""The registry keeps its data when it restarts (the hub restarts a service that dies), and its
migrations find the existing schema up to date instead of recreating it."""

from __future__ import annotations

import sqlite3

import psutil
import pytest
import yaml
from alembic.script import ScriptDirectory
from twinhub.extensions.registry.config import default_database
from twinhub.extensions.registry.db import alembic_config

from tests.support.twins import manifest
from tests.support.waiting import wait_until_answers

from .conftest import Registry

pytestmark = pytest.mark.integration


def registry_process(registry: Registry) -> psutil.Process:
    for p in psutil.Process(registry.gateway.process.pid).children(recursive=True):
        try:
            if "twinhub.extensions.registry" in " ".join(p.cmdline()):
                return p
        except psutil.Error:
            continue
    raise LookupError("no registry process under the gateway")


def write_twin(registry: Registry, data: dict) -> None:
    folder = registry.twins_dir / data["name"]
    folder.mkdir(exist_ok=True)
    (folder / "twin.yaml").write_text(yaml.safe_dump(data))


def test_data_survives_a_registry_restart(registry: Registry) -> None:
    with registry.client("mia") as c:
        assert c.post("/twins", json=manifest("survivor", version="2.1.0")).status_code == 201
        assert c.delete("/twins/survivor").status_code == 200  # retired state must survive too
    rows = registry.rows()
    # meanwhile on disk: a newer growth, an older growth-lab, and a new twin folder
    write_twin(registry, manifest("growth", version="1.2.0", summary="Newer on disk."))
    write_twin(registry, manifest("growth-lab", version="0.9.0", visibility={"groups": ["lab"]}))
    write_twin(registry, manifest("growth-new"))
    old = registry_process(registry)
    old.terminate()
    old.wait(30)
    health = f"{registry.gateway.url}/services/twinhub/api/health"
    wait_until_answers(health, timeout=60, timeout_each=2, message="the restarted registry")
    new = registry_process(registry)
    assert new.pid != old.pid
    after = registry.rows()
    assert after["twins"] == rows["twins"] + 1  # growth-new
    assert after["history"] == rows["history"] + 2  # growth updated, growth-new created
    assert after["runs"] == rows["runs"] and after["profiles"] == rows["profiles"]
    with registry.client("mia") as c:
        twin = c.get("/twins/survivor").json()
        versions = {n: c.get(f"/twins/{n}").json()["version"] for n in ("growth", "growth-lab")}
        assert c.get("/twins/growth-new").json()["source"] == "discovered"
    assert (twin["version"], twin["retired"]) == ("2.1.0", True)
    assert versions == {"growth": "1.2.0", "growth-lab": "1.0.0"}  # upsert by version
    path = default_database(registry.gateway.settings.state_dir)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
