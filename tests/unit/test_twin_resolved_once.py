"""A twin is resolved once: inside a hub server, what a notebook runs is the registry's manifest.

The registry (its real app and database, over HTTP on loopback; only the hub's answer about whose
token it is is supplied by the test) holds the flood twin; an admin narrows its ensemble with a
``PUT``. ``load_twin("flood")`` in a server's environment then checks runs against the narrowed
schema, as the flood dashboard (served the registry's manifest by its router) does.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import Request
from twinhub.contracts.manifest import ManifestError
from twinhub.contracts.names import SCOPE_TWINS_WRITE
from twinhub.extensions.registry.app import create_app
from twinhub.extensions.registry.auth import User
from twinhub.extensions.registry.config import PACKAGE_ROOT, RegistryConfig
from twinhub.twins.twin import UnknownTwinError, load_twin

from tests.support.gateway import free_ports
from tests.support.waiting import wait_for

PREFIX = "/services/twinhub"


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The registry's API base URL, served by uvicorn in a thread of this process."""
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "a-server-token")
    [port] = free_ports(1)
    config = RegistryConfig(
        state_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'registry.sqlite'}",
        twins_dir=PACKAGE_ROOT / "twins",
        profiles_file=PACKAGE_ROOT / "hub" / "profiles.yaml",
        prefix=f"{PREFIX}/",
        host="127.0.0.1",
        port=port,
        auth_cache_seconds=60,
    )
    app = create_app(config)

    def as_admin(request: Request) -> User:  # the hub vouches for the token
        return User("ada", frozenset(), frozenset({SCOPE_TWINS_WRITE}), "user", "a-server-token")

    app.dependency_overrides[app.state.auth.require_api_user] = as_admin
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    api = f"http://127.0.0.1:{port}{PREFIX}/api"
    wait_for(lambda: server.started, until=bool, timeout=60, message="the registry serving")
    try:
        yield api
    finally:
        server.should_exit = True
        thread.join(30)


def test_a_put_changes_what_a_notebook_runs(registry: str, monkeypatch) -> None:
    headers = {"Authorization": "token a-server-token"}
    manifest = httpx.get(f"{registry}/twins/flood", headers=headers).json()["manifest"]
    assert manifest["parameters"]["properties"]["ensemble_size"]["maximum"] == 200
    narrowed = copy.deepcopy(manifest)
    narrowed["parameters"]["properties"]["ensemble_size"]["maximum"] = 50
    narrowed["version"] = "9.9.9"
    r = httpx.put(f"{registry}/twins/flood", json=narrowed, headers=headers, timeout=60)
    assert r.status_code == 200, r.text

    on_disk = load_twin("flood")  # no registry configured: the folder's manifest
    assert on_disk.manifest.version != "9.9.9"

    monkeypatch.setenv("TWINHUB_API_URL", registry)  # as the spawner sets it in a server
    twin = load_twin("flood")
    assert twin.manifest.version == "9.9.9"
    with pytest.raises(ManifestError, match="ensemble_size"):
        twin.run({"ensemble_size": 100})
    r = httpx.delete(f"{registry}/twins/flood", headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    with pytest.raises(UnknownTwinError, match="retired"):
        load_twin("flood")
