"""A gateway whose registry discovers test twins, and users with different rights.

Its own gateway (not the session one): the registry must start on a twins folder we control.
Users: ``admin`` (hub admin), ``mia`` (in the ``twin-maintainers`` group), ``lena`` (in the
``lab`` group), ``carol`` (a maintainer of the private twin, by hub user name), ``alice``
(nobody in particular).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import httpx
from twinhub.extensions.registry.config import default_database

from tests.support.gateway import Gateway, Session, start_gateway
from tests.support.twins import make_twins_dir, manifest

API = "/services/twinhub/api"

DISCOVERED = [
    manifest("growth"),
    manifest("growth-lab", title="Lab-only growth", visibility={"groups": ["lab"]}),
    manifest(
        "growth-private",
        title="Carol's private growth",
        domain="physics",
        visibility="private",
        maintainers=[{"name": "Carol", "github": "carol"}],
    ),
]


@dataclass
class Registry:
    gateway: Gateway
    users: dict[str, Session]
    twins_dir: Path

    def client(self, who: str | None) -> httpx.Client:
        """An API client as a user (None: anonymous)."""
        headers = self.users[who].headers if who else {}
        return httpx.Client(base_url=self.gateway.url + API, headers=headers, timeout=60)

    def rows(self) -> dict[str, int]:
        """Row counts of every registry table, read from the database file itself."""
        path = default_database(self.gateway.settings.state_dir)
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return {
                table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("twins", "profiles", "history", "runs")
            }


def _add_to_group(gateway: Gateway, admin: Session, group: str, users: list[str]) -> None:
    with gateway.client(headers=admin.headers) as c:
        r = c.get(f"/hub/api/groups/{group}")
        if r.status_code == 404:
            c.post(f"/hub/api/groups/{group}", json={}).raise_for_status()
        c.post(f"/hub/api/groups/{group}/users", json={"users": users}).raise_for_status()


def start_registry_gateway(root: Path, log: Path, env: dict[str, str] | None = None) -> Registry:
    """Start a gateway on test twins under ``root``, with the users above logged in; ``env``
    adds settings (e.g. ``TWINHUB_DATABASE_URL`` for PostgreSQL)."""
    twins_dir, pythonpath = make_twins_dir(root, DISCOVERED)
    gw = start_gateway(
        root / "state",
        log,
        {"TWINHUB_TWINS_DIR": str(twins_dir), "PYTHONPATH": str(pythonpath), **(env or {})},
    )
    try:
        users = {"admin": gw.login("admin", gw.admin_password)}
        for name in ("mia", "lena", "carol", "alice"):
            users[name] = gw.login(name)
        # groups before the first registry call, so no cached identity predates them
        _add_to_group(gw, users["admin"], "twin-maintainers", ["mia"])
        _add_to_group(gw, users["admin"], "lab", ["lena"])
    except Exception:
        gw.stop()
        raise
    return Registry(gateway=gw, users=users, twins_dir=twins_dir)
