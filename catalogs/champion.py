"""The Champion (Nebraska) daily weather record 1982-2018 that the ``aquacrop`` package ships.

Thirty-seven complete years of daily precipitation and minimum/maximum temperature from a
semi-arid, drought-prone site of the US High Plains: long enough for per-month distribution fits
(SPI) and for annual-maximum statistics (GEV), where the Fulda series (ten years) is too short.
The file is found through the installed distribution's file list, without importing ``aquacrop``
(its import pulls in the crop model and plotting stack, which the data do not need).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from twinhub.catalogs.cf import SourceVariable, daily_dataset

SOURCE_FILE = "aquacrop/data/champion_climate.txt"
COLUMNS = ("Day", "Month", "Year", "Tmin(C)", "Tmax(C)", "Prcp(mm)", "Et0(mm)")
LATITUDE = 40.47
"""Approximate latitude of Champion, Chase County, Nebraska (the file carries no coordinates)."""
LONGITUDE = -101.75


CHAMPION_VARIABLES = (
    SourceVariable("Prcp(mm)", "precip", "mm/day", "Daily precipitation", "lwe_precipitation_rate"),
    SourceVariable("Tmin(C)", "tmin", "degC", "Daily minimum air temperature", "air_temperature"),
    SourceVariable("Tmax(C)", "tmax", "degC", "Daily maximum air temperature", "air_temperature"),
    SourceVariable(
        "Et0(mm)", "et0", "mm/day", "Reference evapotranspiration (as shipped by aquacrop)"
    ),
)


def champion_source() -> Path:
    """The text file inside the installed ``aquacrop`` distribution."""
    try:
        dist = metadata.distribution("aquacrop")
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(
            "the Champion record comes from the 'aquacrop' package: run `make install`"
        ) from None
    path = Path(str(dist.locate_file(SOURCE_FILE)))
    if not path.exists():
        raise FileNotFoundError(f"aquacrop {dist.version} does not ship {SOURCE_FILE}")
    return path


def read_champion(path: Path) -> pd.DataFrame:
    """The whitespace-separated table, checked: expected columns, consecutive days, no gaps."""
    table = pd.read_csv(path, sep=r"\s+")
    if tuple(table.columns) != COLUMNS:
        raise ValueError(f"{path}: columns {tuple(table.columns)}, expected {COLUMNS}")
    days = pd.to_datetime({"year": table.Year, "month": table.Month, "day": table.Day})
    if not (np.diff(days.to_numpy()) == np.timedelta64(1, "D")).all():
        raise ValueError(f"{path}: days are not consecutive")
    return table.set_index(pd.DatetimeIndex(days, name="date"))


def champion_dataset(path: Path) -> xr.Dataset:
    """The record with CF-style attributes, source and licence."""
    table = read_champion(path)
    version = metadata.version("aquacrop")
    ds = daily_dataset(table, CHAMPION_VARIABLES, time_long_name="day")
    ds.attrs = {
        "title": "Champion, Nebraska (USA): daily weather 1982-2018",
        "source": f"aquacrop {version} (AquaCrop-OSPy): {SOURCE_FILE}",
        "licence": (
            "Apache-2.0 (LICENSE file of the aquacrop distribution; its classifier says MIT), "
            "https://github.com/aquacropos/aquacrop"
        ),
        "station": "Champion, Chase County, Nebraska, USA (AquaCrop-OSPy example weather)",
        "latitude": LATITUDE,
        "longitude": LONGITUDE,
        "bbox": [-102.0, 40.3, -101.5, 40.6],
        "comment": "tmin/tmax in degC, precipitation and reference ET in mm/day, as shipped",
        "Conventions": "CF-1.8",
    }
    return ds
