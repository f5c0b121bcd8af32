"""A gateway whose registry discovers test twins, and users with different rights.

Its own gateway (not the session one): the registry must start on a twins folder we control.
Users: ``admin`` (hub admin), ``mia`` (in the ``twin-maintainers`` group), ``lena`` (in the
``lab`` group), ``carol`` (a maintainer of the private twin, by hub user name), ``alice``
(nobody in particular).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from twinhub.extensions.registry.config import default_database

from tests.support.gateway import Gateway, Session, free_ports, start_gateway
from tests.support.twins import make_twins_dir, manifest
from tests.support.waiting import wait_until_answers

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


@dataclass
class RegistryProcess:
    process: subprocess.Popen
    url: str
    start_seconds: float
    """From starting the process to its first answer (imports, migrations, discovery)."""
    modules_file: Path

    def modules(self) -> set[str]:
        """Every module the registry had imported once it started (written by the registry
        itself when TWINHUB_REGISTRY_MODULES_FILE is set: read from outside the process)."""
        return set(self.modules_file.read_text().split())


@contextmanager
def registry_process(
    root: Path, env: dict[str, str] | None = None, command: list[str] | None = None
) -> Iterator[RegistryProcess]:
    """The registry service alone, as the hub starts it (``python -m
    twinhub.extensions.registry``), on the shipped twins unless ``env`` says otherwise; stopped
    on exit. Its API needs a hub to authenticate; what it serves without one (the OpenAPI
    document) tells that it listens. ``command`` replaces how it is started (benchmarks)."""
    port, hub_port = free_ports(2)
    root.mkdir(parents=True, exist_ok=True)
    modules_file = root / "registry-modules.txt"
    child_env = {
        **os.environ,
        "TWINHUB_STATE_DIR": str(root),
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}",
        "JUPYTERHUB_SERVICE_PREFIX": "/services/twinhub/",
        "TWINHUB_REGISTRY_MODULES_FILE": str(modules_file),
        # a hub-managed service's variables; no hub answers there (nothing here logs in)
        "JUPYTERHUB_API_TOKEN": "registry-alone",
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{hub_port}/hub/api",
        **(env or {}),
    }
    url = f"http://127.0.0.1:{port}/services/twinhub"
    log = open(root / "registry.log", "wb")  # noqa: SIM115 - closed below
    start = time.monotonic()
    process = subprocess.Popen(
        command or [sys.executable, "-m", "twinhub.extensions.registry"],
        env=child_env,
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_answers(
            f"{url}/api/openapi.json",
            timeout=180,
            interval=0.1,
            message="the registry answers",
            process=process,
        )
        yield RegistryProcess(process, url, time.monotonic() - start, modules_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
