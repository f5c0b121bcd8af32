"""Fixtures shared by every test: the artefacts folder and the real gateway."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import Gateway, start_gateway

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where screenshots and logs go (kept by CI; gitignored)."""
    path = Path(os.environ.get("TWINHUB_TEST_ARTIFACTS", REPO / "tests" / "ui" / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Gateway]:
    """One real gateway for the whole session: launcher, hub, proxy, dask-gateway."""
    state = tmp_path_factory.mktemp("state")
    log = artifacts_dir / "gateway.log"
    gw = start_gateway(state, log)
    try:
        yield gw
    finally:
        gw.stop()
        shutil.copy(log, artifacts_dir / "gateway-session.log")


@pytest.fixture(autouse=True)
def _no_dangling_default_dask_client() -> Iterator[None]:
    """Keep a test that leaves a default distributed Client behind from breaking later ones.

    A ``Client`` sets dask's ``scheduler`` option to ``dask.distributed`` until it is closed; if
    one is dropped unclosed, every later ``.compute()`` in this process asks for a client that
    is gone ("Requested dask.distributed scheduler but no Client active").
    """
    yield
    import dask
    from distributed.client import _get_global_client

    if dask.config.get("scheduler", None) in ("dask.distributed", "distributed") and (
        _get_global_client() is None
    ):
        dask.config.config.pop("scheduler", None)
        dask.config.config.pop("shuffle", None)
