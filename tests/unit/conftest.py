"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twinhub.extensions.dashboards import cluster


@pytest.fixture
def service_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The dashboard service's own Dask cluster (one worker), stopped after the test."""
    monkeypatch.setenv("TWINHUB_DASHBOARDS_WORKERS", "1")
    try:
        yield
    finally:
        cluster.close()
