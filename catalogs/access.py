"""Open catalog entries as lazy xarray datasets and describe them (metadata + STAC Item).

The kernel's ``catalog`` object and the twins (their runs and the checksums in their provenance)
all go through these functions, so every consumer resolves the data folder and entry ids the same
way. The registry serves no data: it only checks a manifest's entry ids
(:func:`twinhub.catalogs.entry_ids`, which reads the catalog YAML and opens nothing).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import intake
import numpy as np
import pystac
import xarray as xr
import yaml
from twinhub.catalogs.location import data_dir


class UnknownEntryError(KeyError):
    """No shipped catalog has this entry; the message lists the ones that exist."""

    def __init__(self, entry_id: str, known: set[str]):
        self.entry_id = entry_id
        super().__init__(
            f"catalog entry {entry_id!r} does not exist; known entries: {', '.join(sorted(known))}"
        )

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


def _catalog_files() -> list[Path]:
    from twinhub.catalogs import catalog_files

    return catalog_files()


@cache
def _spec(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def _locate(entry_id: str) -> tuple[Path, str]:
    """The catalog file holding ``entry_id`` and the entry's canonical name (aliases resolved)."""
    known: set[str] = set()
    for path in _catalog_files():
        spec = _spec(path)
        entries, aliases = spec.get("entries") or {}, spec.get("aliases") or {}
        if entry_id in entries:
            return path, entry_id
        if entry_id in aliases:
            return path, aliases[entry_id]
        known.update(entries, aliases)
    raise UnknownEntryError(entry_id, known)


def open_catalog(path: Path, folder: Path | None = None) -> intake.entry.Catalog:
    """An Intake catalog with ``data_dir`` bound to this deployment's data folder."""
    cat = intake.from_yaml_file(str(path))
    folder = folder or data_dir()
    cat.user_parameters["data_dir"] = cat.user_parameters["data_dir"].with_default(str(folder))
    return cat


def catalog_for(entry_id: str) -> intake.entry.Catalog:
    """The Intake catalog that holds ``entry_id`` (``cat[entry_id].read()`` opens it)."""
    path, _ = _locate(entry_id)
    return open_catalog(path)


def entry_metadata(entry_id: str) -> dict[str, Any]:
    """The entry's metadata block from the YAML (no data opened)."""
    path, name = _locate(entry_id)
    return dict(_spec(path)["entries"][name].get("metadata") or {})


def open_entry(entry_id: str) -> xr.Dataset:
    """The entry as a lazy, Dask-chunked dataset; a missing store says to run ``make data``."""
    path, name = _locate(entry_id)
    meta = entry_metadata(name)
    store = data_dir() / meta.get("store", f"{name}.zarr")
    if not store.exists():
        raise FileNotFoundError(
            f"catalog entry {entry_id!r}: {store} is missing; build it with `make data`"
        )
    ds = open_catalog(path)[name].read()
    ds.attrs.setdefault("catalog_entry", name)
    ds.attrs["catalog_version"] = meta.get("version", "unversioned")
    return ds


def dataset_checksum(ds: xr.Dataset) -> str:
    """SHA-256 over names, dtypes, shapes and values of every variable and coordinate.

    Independent of the storage format and chunking: two datasets with the same numbers have the
    same checksum, which is what provenance needs to say "these were the inputs".
    """
    digest = hashlib.sha256()
    for name in sorted(map(str, ds.variables)):
        values = np.ascontiguousarray(ds[name].values)
        digest.update(f"{name}|{values.dtype.str}|{values.shape}|".encode())
        if values.dtype.kind == "M":
            values = values.astype("datetime64[ns]").view("int64")
        digest.update(values.tobytes())
    return digest.hexdigest()


def _stac_item(entry_id: str, meta: dict[str, Any], store: Path) -> pystac.Item:
    west, south, east, north = meta["bbox"]
    start = datetime.fromisoformat(meta["start"]).replace(tzinfo=UTC)
    end = datetime.fromisoformat(meta["end"]).replace(tzinfo=UTC)
    item = pystac.Item(
        id=entry_id,
        geometry={
            "type": "Polygon",
            "coordinates": [
                [[west, south], [east, south], [east, north], [west, north], [west, south]]
            ],
        },
        bbox=[west, south, east, north],
        datetime=None,
        start_datetime=start,
        end_datetime=end,
        properties={
            "title": meta.get("title", entry_id),
            "version": meta.get("version"),
            "license": meta.get("license", "MIT"),
            "twinhub:variables": meta.get("variables", []),
        },
    )
    item.add_asset(
        "zarr",
        pystac.Asset(
            href=store.name,
            media_type="application/vnd+zarr",
            roles=["data"],
            title=f"{entry_id} (zarr store, relative to the data folder)",
        ),
    )
    return item


def describe(entry_id: str) -> dict[str, Any]:
    """Metadata, variables with units, and a STAC Item dict for the registry's catalog API."""
    _, name = _locate(entry_id)
    meta = entry_metadata(name)
    store = data_dir() / meta.get("store", f"{name}.zarr")
    info: dict[str, Any] = {
        "id": name,
        "metadata": meta,
        "built": store.exists(),
        "stac": _stac_item(name, meta, store).to_dict(),
    }
    if store.exists():
        ds = xr.open_zarr(store)
        info["variables"] = {
            str(k): {"units": v.attrs.get("units"), "long_name": v.attrs.get("long_name")}
            for k, v in ds.data_vars.items()
        }
        info["attrs"] = {k: v for k, v in ds.attrs.items() if isinstance(v, str | int | float)}
    return info
