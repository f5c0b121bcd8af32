"""One registry gateway (tests/support/registry.py: twins, users, groups) for the hostile-input,
isolation and security tests of this folder; the crash tests start gateways of their own."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.registry import Registry, start_registry_gateway


@pytest.fixture(scope="package")
def registry(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Registry]:
    log = artifacts_dir / "faults-gateway.log"
    reg = start_registry_gateway(tmp_path_factory.mktemp("faults"), log)
    try:
        yield reg
    finally:
        reg.gateway.stop()
        shutil.copy(log, artifacts_dir / "faults-gateway-session.log")
