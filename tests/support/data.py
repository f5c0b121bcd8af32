"""The demo data for tests, built by the same code as ``make data`` (a no-op when current)."""

from __future__ import annotations

from pathlib import Path

from twinhub.catalogs import build
from twinhub.catalogs.location import data_dir


def ensure_built() -> Path:
    """The data folder, with every dataset built."""
    folder = data_dir()
    build.build_all(folder)
    return folder
