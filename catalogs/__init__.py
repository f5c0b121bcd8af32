"""Intake catalogs over the demo data, and the code that builds that data.

Each ``catalogs/<family>.yaml`` is an Intake 2 catalog. Twins name the entries they read by id;
the registry checks those ids through :func:`entry_ids`, which reads the YAML only (no data is
opened), so validating a manifest stays cheap. :func:`open_entry` and :func:`describe` are the
data side (imported lazily: intake, zarr and pystac load only when data is asked for).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import xarray as xr

CATALOG_DIR = Path(__file__).resolve().parent


def catalog_files() -> list[Path]:
    """The shipped catalog files, in name order."""
    return sorted(CATALOG_DIR.glob("*.yaml"))


def entry_ids() -> set[str]:
    """Ids of every entry (and alias) of the shipped catalogs."""
    ids: set[str] = set()
    for path in catalog_files():
        spec = yaml.safe_load(path.read_text()) or {}
        ids.update(spec.get("entries") or {})
        ids.update(spec.get("aliases") or {})
    return ids


def open_entry(entry_id: str) -> xr.Dataset:
    """The entry as a lazy, Dask-chunked xarray dataset (see :mod:`twinhub.catalogs.access`)."""
    from twinhub.catalogs.access import open_entry as _open

    return _open(entry_id)


def describe(entry_id: str) -> dict[str, Any]:
    """Metadata and STAC Item of an entry (see :mod:`twinhub.catalogs.access`)."""
    from twinhub.catalogs.access import describe as _describe

    return _describe(entry_id)
