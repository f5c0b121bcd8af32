"""The hub and the registry on a real PostgreSQL server, as production runs them.

z2jh deployments set ``hub.db.type: other`` with a PostgreSQL URL for JupyterHub and give the
registry its own database (hub/helm/jupyterhub-values.yaml). Here both URLs point at a real
PostgreSQL on loopback: the registry's alembic migrations and the hub's schema are created
there, users, servers, twins and profiles are written there, and a restart of the whole gateway
with an *empty* state directory finds them again (nothing was kept in SQLite files).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from twinhub.extensions.registry.config import default_database

from tests.support.gateway import start_gateway
from tests.support.postgres import PostgresServer, postgres_or_skip
from tests.support.twins import make_twins_dir, manifest

pytestmark = pytest.mark.integration

API = "/services/twinhub/api"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_or_skip() as server:
        yield server


def test_hub_and_registry_keep_their_state_in_postgres(
    postgres: PostgresServer, tmp_path: Path, artifacts_dir: Path
) -> None:
    twins_dir, pythonpath = make_twins_dir(tmp_path, [manifest("growth")])
    env = {
        "TWINHUB_HUB_DATABASE_URL": postgres.create_database("hub"),
        "TWINHUB_DATABASE_URL": postgres.create_database("registry"),
        "TWINHUB_TWINS_DIR": str(twins_dir),
        "PYTHONPATH": str(pythonpath),
    }
    gw = start_gateway(tmp_path / "state-1", artifacts_dir / "postgres-1.log", env)
    try:
        admin = gw.login("admin", gw.admin_password)
        alice = gw.login("alice")
        gw.start_server(alice)
        with httpx.Client(base_url=gw.url + API, headers=admin.headers, timeout=60) as c:
            r = c.post("/twins", json=manifest("pg-twin", title="Twin kept in PostgreSQL"))
            assert r.status_code == 201, r.text
            r = c.post(
                "/profiles",
                json={"slug": "pg-medium", "display_name": "Medium", "cpu": 1.5, "memory": "4G"},
            )
            assert r.status_code == 201, r.text
        # the rows are in PostgreSQL (not in a file of the state directory)
        assert not default_database(tmp_path / "state-1").exists()
        assert not (tmp_path / "state-1" / "jupyterhub.sqlite").exists()
        users = {row[0] for row in postgres.query("hub", "SELECT name FROM users")}
        assert {"admin", "alice"} <= users
        servers = postgres.query("hub", "SELECT count(*) FROM servers")
        assert servers[0][0] >= 1  # alice's running server
        twins = {row[0] for row in postgres.query("registry", "SELECT name FROM twins")}
        assert twins == {"pg-twin", "growth"}  # written through the API, and discovered
        migrated = postgres.query("registry", "SELECT version_num FROM alembic_version")
        assert len(migrated) == 1
        gw.stop_server(alice)
    finally:
        gw.stop()

    # a new state directory: secrets, cookies and homes are new; the databases are the same
    again = start_gateway(tmp_path / "state-2", artifacts_dir / "postgres-2.log", env)
    try:
        admin = again.login("admin", again.admin_password)
        with again.client(headers=admin.headers) as c:
            hub_users = {u["name"] for u in c.get("/hub/api/users").json()}
        assert "alice" in hub_users  # remembered by the hub's database, not re-created by login
        with httpx.Client(base_url=again.url + API, headers=admin.headers, timeout=60) as c:
            twin = c.get("/twins/pg-twin")
            assert twin.status_code == 200, twin.text
            assert twin.json()["manifest"]["title"] == "Twin kept in PostgreSQL"
            history = c.get("/twins/pg-twin/history").json()
            assert [h["action"] for h in history] == ["create"]
            assert c.get("/profiles/pg-medium").json()["profile"]["memory"] == "4G"
        assert postgres.query("registry", "SELECT version_num FROM alembic_version") == migrated
    finally:
        again.stop()


def test_a_malformed_database_url_is_refused_naming_the_variable(tmp_path: Path) -> None:
    from twinhub.contracts.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="TWINHUB_HUB_DATABASE_URL"):
        Settings.from_env({"TWINHUB_STATE_DIR": str(tmp_path), "TWINHUB_HUB_DATABASE_URL": "pg:/x"})
    with pytest.raises(SettingsError, match="TWINHUB_DATABASE_URL.*psycopg"):
        Settings.from_env({"TWINHUB_DATABASE_URL": "postgresql+nosuchdriver://u@h/d"})
