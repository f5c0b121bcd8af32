"""Yearly climate-extreme indicators, computed by xclim (ETCCDI definitions).

xclim is the reference implementation used across the climate-services community (Copernicus,
Ouranos); the twin only chooses thresholds and gives the results units and names. Inputs are the
catalog's daily ``tmax``/``tmin`` (degC) and ``precip`` (mm/day). Indicators are lazy (xclim
works on Dask arrays).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
import xclim.indices as xi
from xclim.core.calendar import percentile_doy

INDICATORS: dict[str, tuple[str, str]] = {
    "hot_days": ("days", "Days with maximum temperature above the hot-day threshold"),
    "frost_days": ("days", "Days with minimum temperature below 0 °C"),
    "heat_wave_frequency": ("1", "Heat waves: runs of >= window days, tmin and tmax above limits"),
    "heat_wave_max_length": ("days", "Longest heat wave of the year"),
    "warm_spell_duration": ("days", "Days in runs of >= 6 days above the daily 90th pct of tmax"),
    "rx1day": ("mm", "Largest one-day precipitation (Rx1day)"),
    "rx5day": ("mm", "Largest five-day precipitation total (Rx5day)"),
}  # fmt: skip


def _celsius(value: float) -> str:
    return f"{value} degC"


def compute_indicators(
    tmax: xr.DataArray, tmin: xr.DataArray, pr: xr.DataArray, p: Mapping[str, Any]
) -> dict[str, xr.DataArray]:
    """xclim's indicators of in-memory daily series (``time`` coordinate), one value per year."""
    tmax, tmin = tmax.assign_attrs(units="degC"), tmin.assign_attrs(units="degC")
    pr = pr.assign_attrs(units="mm/d")
    hw = {
        "thresh_tasmin": _celsius(p["heatwave_tmin"]),
        "thresh_tasmax": _celsius(p["heatwave_tmax"]),
        "window": p["heatwave_window"],
    }
    tx90 = percentile_doy(tmax, window=5, per=90).sel(percentiles=90)
    return {
        "hot_days": xi.tx_days_above(tmax, thresh=_celsius(p["hot_threshold"])),
        "frost_days": xi.frost_days(tmin),
        "heat_wave_frequency": xi.heat_wave_frequency(tmin, tmax, **hw),
        "heat_wave_max_length": xi.heat_wave_max_length(tmin, tmax, **hw),
        "warm_spell_duration": xi.warm_spell_duration_index(tmax, tx90, window=6),
        "rx1day": xi.max_1day_precipitation_amount(pr),
        "rx5day": xi.max_n_day_precipitation_amount(pr, window=5),
    }


def _block(tmax, tmin, pr, time, p):
    """One Dask task: xclim on the whole (numpy) record, stacked as (indicator, year)."""
    series = [xr.DataArray(v, dims="time", coords={"time": time}) for v in (tmax, tmin, pr)]
    values = compute_indicators(*series, p)
    return np.stack([np.asarray(values[name].values, dtype="float64") for name in INDICATORS])


def yearly_indicators(inputs: xr.Dataset, p: Mapping[str, Any]) -> xr.Dataset:
    """Every indicator of :data:`INDICATORS` per calendar year (dimension ``year``).

    xclim runs on the in-memory record inside one Dask task (its run-length code builds a large
    graph on Dask arrays, which costs more than the computation on a few decades of days).
    """
    time = inputs.time.values
    years = np.unique(inputs.time.dt.year.values)
    args = [
        inputs[v].chunk({"time": -1}) if inputs[v].chunks else inputs[v]
        for v in ("tmax", "tmin", "precip")
    ]
    stacked = xr.apply_ufunc(
        _block, *args, kwargs={"time": time, "p": dict(p)},
        input_core_dims=[["time"]] * 3, output_core_dims=[["indicator", "year"]],
        dask="parallelized", output_dtypes=["float64"],
        dask_gufunc_kwargs={"output_sizes": {"indicator": len(INDICATORS), "year": years.size}},
    )  # fmt: skip
    stacked = stacked.assign_coords(indicator=list(INDICATORS), year=years)
    return xr.Dataset(
        {
            name: stacked.sel(indicator=name, drop=True).assign_attrs(units=u, long_name=ln)
            for name, (u, ln) in INDICATORS.items()
        }
    )
