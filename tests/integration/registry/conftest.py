"""The registry tests' gateway (see tests/support/registry.py for its twins and users)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.registry import API, Registry, start_registry_gateway

__all__ = ["API", "Registry"]


@pytest.fixture(scope="package")
def registry(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Registry]:
    log = artifacts_dir / "registry-gateway.log"
    reg = start_registry_gateway(tmp_path_factory.mktemp("registry"), log)
    try:
        yield reg
    finally:
        reg.gateway.stop()
        shutil.copy(log, artifacts_dir / "registry-gateway-session.log")
