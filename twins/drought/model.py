"""The drought twin's model: ``run(inputs, params) -> xr.Dataset`` (the framework's convention).

From a daily precipitation/temperature record: monthly totals, Thornthwaite PET, SPI and SPEI at
several accumulation scales, a daily soil-moisture bucket with its monthly percentile, and the
months of each drought event (run theory) of the chosen index and scale. A precipitation scenario
(``precip_scale``) is judged against fits and climatologies of the observed record. Lazy and
Dask-friendly: every numerical step is an ``apply_ufunc(dask="parallelized")`` block (one per
accumulation scale for the indices), so a cluster computes what the in-process scheduler does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from twinhub.twins.drought import bucket, events, pet, standardize
from twinhub.twins.params import ParameterError

DEFAULTS: dict[str, Any] = {
    "scales": [1, 3, 6, 12], "index": "spi", "event_scale": 3, "threshold": -1.0,
    "min_duration": 1, "precip_scale": 1.0, "calibration_start": None, "calibration_end": None,
    "bucket_capacity": 150.0, "latitude": None,
}  # fmt: skip
MAX_SCALE = 24
MIN_CALIBRATION_YEARS = standardize.MIN_FIT_VALUES
"""Years of calibration a fit per calendar month needs: one value per year and month."""
AGRICULTURAL_PERCENTILE = 20.0
"""Soil moisture below this percentile of its calendar month is agricultural drought (D1)."""


OUTPUTS: dict[str, tuple[str, str]] = {
    "precip_monthly": ("mm/month", "Precipitation (scenario)"),
    "pet_monthly": ("mm/month", "Potential evapotranspiration (Thornthwaite)"),
    "water_balance": ("mm/month", "Climatic water balance P - PET (scenario)"),
    "spi": ("1", "Standardized Precipitation Index"),
    "spei": ("1", "Standardized Precipitation-Evapotranspiration Index"),
    "event_id": ("1", "Drought event number of the chosen index and scale, 0 outside events"),
    "pet": ("mm/day", "Potential evapotranspiration (Thornthwaite, daily)"),
    "soil_moisture": ("mm", "Soil moisture of the bucket, end of day"),
    "aet": ("mm/day", "Actual evapotranspiration"),
    "drainage": ("mm/day", "Drainage above the bucket capacity"),
    "sm_percentile": ("%", "Soil-moisture percentile among the same calendar months"),
    "agri_event_id": ("1", "Agricultural drought event number (percentile < 20), 0 outside"),
}


def check_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every value checked; errors name the parameter."""
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ParameterError(sorted(unknown)[0], "unknown parameter of the drought model")
    p = {**DEFAULTS, **params}
    scales = p["scales"]
    if (
        not isinstance(scales, list | tuple)
        or not scales
        or not all(isinstance(k, int) and 1 <= k <= MAX_SCALE for k in scales)
        or len(set(scales)) != len(scales)
    ):
        raise ParameterError("scales", f"must be distinct integers in 1..{MAX_SCALE}, got {scales}")
    p["scales"] = sorted(scales)
    if p["index"] not in standardize.FITS:
        raise ParameterError(
            "index", f"must be one of {sorted(standardize.FITS)}, got {p['index']!r}"
        )
    if p["event_scale"] not in p["scales"]:
        raise ParameterError("event_scale", f"must be one of scales {p['scales']}")
    _number(p, "threshold", -3.0, 0.0)
    _number(p, "precip_scale", 0.0, 3.0)
    _number(p, "bucket_capacity", 10.0, 1000.0)
    if not isinstance(p["min_duration"], int) or not 1 <= p["min_duration"] <= 24:
        raise ParameterError(
            "min_duration", f"must be an integer in 1..24, got {p['min_duration']}"
        )
    if p["latitude"] is not None:
        pet.check_latitude(_number(p, "latitude", -90.0, 90.0))
    return p


def _number(p: dict[str, Any], name: str, low: float, high: float) -> float:
    value = p[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ParameterError(name, f"must be a number, got {value!r}")
    if not low <= value <= high:
        raise ParameterError(name, f"must be within [{low}, {high}], got {value}")
    return float(value)


def min_calibration_years(scale: int) -> int:
    """Years a calibration period starting with the record needs for ``scale``-month indices.

    A k-month total is complete from the record's k-th month on, so the first year of the
    record gives January no 3-month total (nor a 12-month one to any month before December):
    each calendar month needs ``MIN_CALIBRATION_YEARS`` complete totals, which takes
    ``ceil((k - 1) / 12)`` more years. A calibration period starting later needs fewer.
    """
    return MIN_CALIBRATION_YEARS + math.ceil((scale - 1) / 12)


def calibration_mask(
    months: pd.DatetimeIndex, start: str | None, end: str | None, scales: list[int]
) -> np.ndarray:
    """Boolean mask of the calibration months (whole record by default).

    Refused (naming the scale and the calendar months) unless every calendar month of every
    scale has ``MIN_CALIBRATION_YEARS`` complete totals in it, the fits' minimum: otherwise the
    index of those months would be NaN all through the record.
    """
    bounds = []
    for name, value, default in (
        ("calibration_start", start, months[0]),
        ("calibration_end", end, months[-1]),
    ):
        try:
            bounds.append(pd.Timestamp(value) if value is not None else default)
        except (ValueError, TypeError):
            raise ParameterError(name, f"{value!r} is not a date YYYY-MM-DD") from None
    first, last = bounds
    mask = np.asarray((months >= first.to_period("M").start_time) & (months <= last))
    calendar = months.month.to_numpy()
    for scale in sorted(scales, reverse=True):  # the longest scale needs the most
        complete = mask & (np.arange(months.size) >= scale - 1)
        counts = np.bincount(calendar[complete], minlength=13)[1:]
        short = [m for m in range(1, 13) if counts[m - 1] < MIN_CALIBRATION_YEARS]
        if short:
            names = ", ".join(_month_name(m) for m in short)
            hint = f"calibrate on at least {min_calibration_years(scale)} years from its start"
            if scale > 1:
                hint += (
                    f" ({MIN_CALIBRATION_YEARS} years if they start {scale - 1} months after "
                    f"it), or leave scale {scale} out"
                )
            raise ParameterError(
                "calibration_start",
                f"the calibration period {first.date()}..{last.date()} has fewer than "
                f"{MIN_CALIBRATION_YEARS} complete {scale}-month totals for {names}, so "
                f"SPI-{scale} and SPEI-{scale} of these months could not be fitted (NaN). The "
                f"record is {months[0]:%Y-%m}..{months[-1]:%Y-%m}: {hint}",
            )
    return mask


def _month_name(month: int) -> str:
    return pd.Timestamp(2000, month, 1).strftime("%b")


def monthly_reduce(values: np.ndarray, starts: np.ndarray, how: str) -> np.ndarray:
    """Monthly sums or means of a daily series (last axis), months starting at ``starts``."""
    total = np.add.reduceat(values, starts, axis=-1)
    if how == "sum":
        return total
    return total / np.diff(np.append(starts, values.shape[-1]))


def _single_chunk(da: xr.DataArray, dim: str) -> xr.DataArray:
    return da.chunk({dim: -1}) if da.chunks else da


def _accumulate(monthly: xr.DataArray, scales: list[int]) -> xr.DataArray:
    acc = xr.concat(
        [monthly.rolling(month=k).sum() for k in scales], dim=pd.Index(scales, name="scale")
    )
    return acc.chunk({"scale": 1, "month": -1}) if monthly.chunks else acc


def run(inputs: xr.Dataset, params: Mapping[str, Any]) -> xr.Dataset:
    """SPI/SPEI, PET, soil moisture and drought events from ``precip`` and temperatures."""
    p = check_parameters(params)
    lat = pet.check_latitude(
        p["latitude"] if p["latitude"] is not None else inputs.attrs["latitude"]
    )
    precip = _single_chunk(inputs.precip, "time")
    tmean = inputs.tmean if "tmean" in inputs else (inputs.tmin + inputs.tmax) / 2
    tmean = _single_chunk(tmean, "time")
    scenario = precip * p["precip_scale"]

    days_index = pd.DatetimeIndex(precip.time.values)
    months = pd.date_range(days_index[0].to_period("M").start_time, days_index[-1], freq="MS")
    starts = np.searchsorted(days_index, months)

    def to_months(da: xr.DataArray, how: str) -> xr.DataArray:
        out = xr.apply_ufunc(
            monthly_reduce, da, kwargs={"starts": starts, "how": how},
            input_core_dims=[["time"]], output_core_dims=[["month"]], dask="parallelized",
            output_dtypes=["float64"], dask_gufunc_kwargs={"output_sizes": {"month": starts.size}},
        )  # fmt: skip
        return out.assign_coords(month=months)

    p_month, t_month, s_month = (
        to_months(precip, "sum"),
        to_months(tmean, "mean"),
        to_months(scenario, "sum"),
    )
    cal_month = xr.DataArray(months.month.to_numpy(), dims="month")
    calib = xr.DataArray(
        calibration_mask(months, p["calibration_start"], p["calibration_end"], p["scales"]),
        dims="month",
    )
    gufunc = {"dask": "parallelized", "output_dtypes": ["float64"]}

    normals = xr.apply_ufunc(
        pet.monthly_normals, t_month, cal_month, calib,
        input_core_dims=[["month"]] * 3, output_core_dims=[["calendar_month"]],
        dask_gufunc_kwargs={"output_sizes": {"calendar_month": 12}}, **gufunc,
    )  # fmt: skip
    days = xr.DataArray(months.days_in_month.to_numpy(), dims="month")
    mid_day = xr.DataArray(months.day_of_year.to_numpy() + (days.values - 1) / 2, dims="month")
    pet_month = xr.apply_ufunc(
        pet.thornthwaite_monthly, t_month, normals, days, mid_day, kwargs={"latitude_deg": lat},
        input_core_dims=[["month"], ["calendar_month"], ["month"], ["month"]],
        output_core_dims=[["month"]], **gufunc,
    )  # fmt: skip
    balance, scenario_balance = p_month - pet_month, s_month - pet_month

    def index(kind: str, base: xr.DataArray, scen: xr.DataArray) -> xr.DataArray:
        return xr.apply_ufunc(
            standardize.standardize, _accumulate(base, p["scales"]),
            _accumulate(scen, p["scales"]), cal_month, calib, kwargs={"kind": kind},
            input_core_dims=[["month"]] * 4, output_core_dims=[["month"]], **gufunc,
        )  # fmt: skip

    spi, spei = index("spi", p_month, s_month), index("spei", balance, scenario_balance)

    doy = xr.DataArray(precip.time.dt.dayofyear.values, dims="time")
    pet_day = xr.apply_ufunc(
        pet.thornthwaite_daily, tmean, normals, doy, kwargs={"latitude_deg": lat},
        input_core_dims=[["time"], ["calendar_month"], ["time"]],
        output_core_dims=[["time"]], **gufunc,
    )  # fmt: skip

    def soil(rain: xr.DataArray) -> tuple[xr.DataArray, ...]:
        return xr.apply_ufunc(
            bucket.simulate, rain, pet_day, kwargs={"capacity": p["bucket_capacity"]},
            input_core_dims=[["time"], ["time"]], output_core_dims=[["time"]] * 3,
            dask="parallelized", output_dtypes=["float64"] * 3,
        )  # fmt: skip

    sm, aet, drainage = soil(scenario)
    sm_base = soil(precip)[0]
    sm_percentile = xr.apply_ufunc(
        bucket.percentile_against, to_months(sm_base, "mean"), to_months(sm, "mean"),
        cal_month, calib, input_core_dims=[["month"]] * 4, output_core_dims=[["month"]], **gufunc,
    )  # fmt: skip

    def labels(series: xr.DataArray, threshold: float) -> xr.DataArray:
        return xr.apply_ufunc(
            events.label_runs, series,
            kwargs={"threshold": threshold, "min_duration": p["min_duration"]},
            input_core_dims=[["month"]], output_core_dims=[["month"]],
            dask="parallelized", output_dtypes=["int64"],
        )  # fmt: skip

    chosen = {"spi": spi, "spei": spei}[p["index"]].sel(scale=p["event_scale"])
    data = {
        "precip_monthly": s_month, "pet_monthly": pet_month, "water_balance": scenario_balance,
        "spi": spi, "spei": spei, "event_id": labels(chosen, p["threshold"]), "pet": pet_day,
        "soil_moisture": sm, "aet": aet, "drainage": drainage, "sm_percentile": sm_percentile,
        "agri_event_id": labels(sm_percentile, AGRICULTURAL_PERCENTILE),
    }  # fmt: skip
    ds = xr.Dataset(
        {name: da.assign_attrs(units=OUTPUTS[name][0], long_name=OUTPUTS[name][1])
         for name, da in data.items()},
        coords={"month": months, "scale": p["scales"]},
    )  # fmt: skip
    ds.event_id.attrs["definition"] = (
        f"{p['index'].upper()}-{p['event_scale']} below {p['threshold']} for at least "
        f"{p['min_duration']} month(s)"
    )
    cal = months[calib.values]
    ds.attrs = {
        "model": "twinhub drought twin (SPI gamma, SPEI log-logistic, Thornthwaite PET, bucket)",
        "index": p["index"], "event_scale": p["event_scale"], "threshold": p["threshold"],
        "precip_scale": p["precip_scale"], "latitude": lat,
        "calibration_period": f"{cal[0]:%Y-%m}..{cal[-1]:%Y-%m}",
        "bucket_capacity_mm": p["bucket_capacity"],
    }  # fmt: skip
    return ds
