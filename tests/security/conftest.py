"""Gateways for the hostile-input tests: the registry on SQLite (the embedded default) and, for
the classes whose failure depended on the engine, on a real PostgreSQL as production runs it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer, postgres_or_skip
from tests.support.registry import Registry, start_registry_gateway


def _registry(root: Path, log: Path, artifacts_dir: Path, env: dict | None = None):
    reg = start_registry_gateway(root, log, env)
    try:
        yield reg
    finally:
        reg.gateway.stop()
        shutil.copy(log, artifacts_dir / f"{log.stem}-session.log")


@pytest.fixture(scope="package")
def registry(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("security")
    yield from _registry(root, artifacts_dir / "security-gateway.log", artifacts_dir)


@pytest.fixture(scope="package")
def postgres() -> Iterator[PostgresServer]:
    with postgres_or_skip() as server:
        yield server


@pytest.fixture(scope="package")
def postgres_registry(
    tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path, postgres: PostgresServer
) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("security-pg")
    env = {"TWINHUB_DATABASE_URL": postgres.create_database("registry")}
    yield from _registry(root, artifacts_dir / "security-pg-gateway.log", artifacts_dir, env)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_registry(request: pytest.FixtureRequest) -> Registry:
    """Each test once per database engine: both must answer the same 4xx."""
    name = "registry" if request.param == "sqlite" else "postgres_registry"
    return request.getfixturevalue(name)
