"""The demo data match their source CSV, and the catalog opens them lazily without machine paths."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import dask.array
import numpy as np
import pytest
import yaml
from twinhub import catalogs
from twinhub.catalogs import build
from twinhub.catalogs.access import UnknownEntryError

from tests.support.data import ensure_built


@pytest.fixture(scope="module")
def source_rows() -> tuple[list[str], list[str], list[list[str]]]:
    """The CSV read with the csv module: an independent reader of the same file."""
    with open(build.fulda_source(), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1], rows[2:]


@pytest.fixture(scope="module")
def built_data_dir() -> Path:
    return ensure_built()


@pytest.fixture(scope="module")
def fulda(built_data_dir: Path):
    return catalogs.open_entry("fulda_daily")


def test_dataset_matches_source_csv(fulda, source_rows) -> None:
    header, units, rows = source_rows
    assert fulda.sizes["time"] == len(rows) == 3653
    column = {name: header.index(name) for name in header}
    for i in (0, 1, 1000, len(rows) - 1):
        row = rows[i]
        day = datetime.strptime(row[column["date"]], "%d.%m.%Y")
        assert fulda.time.values[i] == np.datetime64(day)
        assert fulda.precip.values[i] == float(row[column["Prec"]])
        assert fulda.discharge.values[i] == float(row[column["Q"]])
        assert fulda.tmax.values[i] == float(row[column["tmax"]])
        assert fulda.tmin.values[i] == float(row[column["tmin"]])
    assert fulda.discharge.values[0] == 143.0 and fulda.precip.values[0] == 1.0
    assert units[header.index("Q")] == "m³/s" and fulda.discharge.attrs["units"] == "m3 s-1"
    assert units[header.index("Prec")] == "mm/day" and fulda.precip.attrs["units"] == "mm/day"
    assert fulda.tmean.attrs["units"] == "degC"
    for var in fulda.data_vars.values():
        assert var.attrs["long_name"]
    assert "spotpy" in fulda.attrs["source"] and "MIT" in fulda.attrs["licence"]


def test_entry_is_lazy_and_dask_chunked(fulda) -> None:
    assert isinstance(fulda.precip.data, dask.array.Array)
    assert fulda.attrs["catalog_version"] == "1.0.0"


def test_build_is_idempotent(built_data_dir: Path) -> None:
    assert build.build_all(built_data_dir) == {"fulda_daily": False, "champion_daily": False}


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def test_catalog_files_hold_no_machine_paths() -> None:
    """Data locations are templates resolved at load time, never absolute paths of a machine."""
    for path in catalogs.catalog_files():
        spec = yaml.safe_load(path.read_text())
        assert spec["version"] == 2
        absolute = [s for s in _strings(spec) if s.startswith(("/", "~"))]
        assert absolute == [], f"{path.name} names absolute paths: {absolute}"
        assert any("{data_dir}" in s or "data_dir" in s for s in _strings(spec)), path.name


def test_alias_and_describe_give_stac_item(built_data_dir: Path) -> None:
    assert {"fulda", "fulda_daily"} <= catalogs.entry_ids()
    info = catalogs.describe("fulda")
    assert info["id"] == "fulda_daily" and info["built"]
    stac = info["stac"]
    assert stac["type"] == "Feature" and stac["properties"]["start_datetime"].startswith(
        "1979-01-01"
    )
    assert stac["properties"]["end_datetime"].startswith("1988-12-31")
    assert stac["assets"]["zarr"]["href"] == "fulda_daily.zarr"
    assert info["variables"]["discharge"]["units"] == "m3 s-1"
    import pystac

    assert pystac.Item.from_dict(stac).id == "fulda_daily"


def test_unknown_entry_names_the_entry() -> None:
    with pytest.raises(UnknownEntryError, match="'fulda_hourly'.*fulda_daily"):
        catalogs.open_entry("fulda_hourly")


def test_champion_matches_the_aquacrop_file(built_data_dir: Path) -> None:
    from twinhub.catalogs.champion import champion_source

    with open(champion_source(), encoding="utf-8") as f:
        header, *rows = [line.split() for line in f if line.strip()]
    assert header[:6] == ["Day", "Month", "Year", "Tmin(C)", "Tmax(C)", "Prcp(mm)"]
    ds = catalogs.open_entry("champion")
    assert ds.sizes["time"] == len(rows) == 13514
    for i in (0, 5000, len(rows) - 1):
        day, month, year, tmin, tmax, prcp, et0 = rows[i]
        assert ds.time.values[i] == np.datetime64(f"{year}-{int(month):02d}-{int(day):02d}")
        assert ds.tmin.values[i] == float(tmin) and ds.tmax.values[i] == float(tmax)
        assert ds.precip.values[i] == float(prcp) and ds.et0.values[i] == float(et0)
    total = sum(float(r[5]) for r in rows)
    assert abs(float(ds.precip.sum()) - total) < 1e-6 * total
    assert "aquacrop" in ds.attrs["source"] and "Apache-2.0" in ds.attrs["licence"]
    assert ds.precip.attrs["units"] == "mm/day" and ds.tmax.attrs["units"] == "degC"
    stac = catalogs.describe("champion_daily")["stac"]
    assert stac["properties"]["license"] == "Apache-2.0"
    assert stac["properties"]["start_datetime"].startswith("1982-01-01")
