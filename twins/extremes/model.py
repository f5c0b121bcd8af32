"""The extremes twin's model: ``run(inputs, params) -> xr.Dataset`` (the framework's convention).

Yearly xclim indicators with their linear trend, a GEV fit to the annual maxima of one indicator
with return levels and a bootstrap ensemble (``member``, chunked by ``block`` so Dask spreads the
refits over the cluster), and robust z-scores of daily temperature that flag unusual days.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from twinhub.twins.extremes import anomaly, gev
from twinhub.twins.extremes.indicators import INDICATORS, yearly_indicators
from twinhub.twins.params import ParameterError

DEFAULTS: dict[str, Any] = {
    "hot_threshold": 30.0, "heatwave_tmin": 18.0, "heatwave_tmax": 32.0, "heatwave_window": 3,
    "gev_indicator": "rx1day", "return_periods": [2, 5, 10, 20, 50, 100], "bootstrap": 100,
    "seed": 0, "block": 25, "confidence": 0.9, "anomaly_variable": "tmax",
    "anomaly_threshold": 3.5, "anomaly_window": 15,
}  # fmt: skip
GEV_INDICATORS = ("rx1day", "rx5day", "txx", "tnn_negated")
"""Annual maxima a GEV can be fitted to (txx: hottest day; tnn_negated: minus the coldest night)."""
ANOMALY_VARIABLES = ("tmax", "tmin", "tmean")
MAX_BOOTSTRAP = 2000


def _number(p: dict[str, Any], name: str, low: float, high: float) -> float:
    value = p[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ParameterError(name, f"must be a number, got {value!r}")
    if not low <= value <= high:
        raise ParameterError(name, f"must be within [{low}, {high}], got {value}")
    return float(value)


def _integer(p: dict[str, Any], name: str, low: int, high: int) -> int:
    value = p[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ParameterError(name, f"must be an integer in {low}..{high}, got {value!r}")
    return value


def _is_period(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 1 < value <= 10000


def check_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every value checked; errors name the parameter."""
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ParameterError(sorted(unknown)[0], "unknown parameter of the extremes model")
    p = {**DEFAULTS, **params}
    for name in ("hot_threshold", "heatwave_tmin", "heatwave_tmax"):
        _number(p, name, -50.0, 60.0)
    _integer(p, "heatwave_window", 1, 30)
    _integer(p, "bootstrap", 0, MAX_BOOTSTRAP)
    _integer(p, "seed", 0, 2**32 - 1)
    _integer(p, "block", 1, MAX_BOOTSTRAP)
    _integer(p, "anomaly_window", 1, 60)
    _number(p, "confidence", 0.5, 0.99)
    _number(p, "anomaly_threshold", 1.0, 10.0)
    if p["gev_indicator"] not in GEV_INDICATORS:
        raise ParameterError("gev_indicator", f"must be one of {GEV_INDICATORS}")
    if p["anomaly_variable"] not in ANOMALY_VARIABLES:
        raise ParameterError("anomaly_variable", f"must be one of {ANOMALY_VARIABLES}")
    periods = p["return_periods"]
    if (
        not isinstance(periods, list | tuple)
        or not periods
        or not all(_is_period(t) for t in periods)
    ):
        raise ParameterError("return_periods", f"must be years > 1 (up to 10000), got {periods}")
    p["return_periods"] = sorted(float(t) for t in set(periods))
    return p


def annual_maxima(inputs: xr.Dataset, indicators: xr.Dataset, name: str) -> xr.DataArray:
    """The yearly series the GEV is fitted to."""
    if name in indicators:
        return indicators[name]
    by_year = {"txx": inputs.tmax, "tnn_negated": -inputs.tmin}[name]
    series = by_year.groupby("time.year").max()
    units = "degC"
    return series.assign_attrs(units=units, long_name=f"Annual maximum ({name})")


def _single_chunk(da: xr.DataArray, dim: str) -> xr.DataArray:
    return da.chunk({dim: -1}) if da.chunks else da


def run(inputs: xr.Dataset, params: Mapping[str, Any]) -> xr.Dataset:
    """Indicators, trends, GEV return levels with bootstrap ensemble, and daily anomalies."""
    p = check_parameters(params)
    if "tmean" not in inputs:
        inputs = inputs.assign(tmean=((inputs.tmin + inputs.tmax) / 2).assign_attrs(units="degC"))
    indicators = yearly_indicators(inputs, p)
    years = indicators.year.values.astype("float64")
    trends = {
        f"{name}_trend": xr.apply_ufunc(
            lambda y: np.polyfit(years, y, 1)[0] * 10.0, _single_chunk(indicators[name], "year"),
            input_core_dims=[["year"]], dask="parallelized", output_dtypes=["float64"],
        ).assign_attrs(units=f"{INDICATORS[name][0]} per decade",
                       long_name=f"Linear trend of {name} (least squares)")
        for name in INDICATORS
    }  # fmt: skip
    maxima = _single_chunk(annual_maxima(inputs, indicators, p["gev_indicator"]), "year")
    periods = xr.DataArray(
        p["return_periods"], dims="period", coords={"period": p["return_periods"]}
    )
    fitted = xr.apply_ufunc(
        gev.fit, maxima, input_core_dims=[["year"]], output_core_dims=[["parameter"]],
        dask="parallelized", output_dtypes=["float64"],
        dask_gufunc_kwargs={"output_sizes": {"parameter": 3}},
    ).assign_coords(parameter=list(gev.PARAMETERS))  # fmt: skip
    levels = xr.apply_ufunc(
        gev.return_levels, fitted, periods, input_core_dims=[["parameter"], ["period"]],
        output_core_dims=[["period"]], dask="parallelized", output_dtypes=["float64"],
    )  # fmt: skip
    out = xr.Dataset({**{k: indicators[k] for k in INDICATORS}, **trends})
    out["annual_maximum"] = maxima.assign_attrs(
        long_name=f"Annual maxima fitted by the GEV ({p['gev_indicator']})"
    )
    out["gev_parameters"] = fitted.assign_attrs(long_name="GEV fit (scipy genextreme: c = -xi)")
    out["return_level"] = levels.assign_attrs(
        units=maxima.attrs.get("units", ""), long_name="Return level (GEV, maximum likelihood)"
    )
    if p["bootstrap"]:
        members = xr.DataArray(np.arange(p["bootstrap"]), dims="member")
        members = members.assign_coords(member=members.values).chunk({"member": p["block"]})
        boot_params, boot_levels = xr.apply_ufunc(
            gev.bootstrap, maxima, members, periods, kwargs={"seed": p["seed"]},
            input_core_dims=[["year"], [], ["period"]],
            output_core_dims=[["parameter"], ["period"]],
            dask="parallelized", output_dtypes=["float64", "float64"],
            dask_gufunc_kwargs={"output_sizes": {"parameter": 3}},
        )  # fmt: skip
        tail = (1 - p["confidence"]) / 2
        out["bootstrap_parameters"] = boot_params.assign_coords(parameter=list(gev.PARAMETERS))
        out["bootstrap_return_level"] = boot_levels.assign_attrs(
            units=out.return_level.attrs["units"]
        )
        out["return_level_band"] = boot_levels.chunk({"member": -1}).quantile(
            [tail, 1 - tail], dim="member"
        ).rename(quantile="bound").assign_attrs(
            units=out.return_level.attrs["units"],
            long_name=f"{p['confidence']:.0%} bootstrap interval of the return level",
        )  # fmt: skip
    variable = _single_chunk(inputs[p["anomaly_variable"]], "time")
    doy = xr.DataArray(inputs.time.dt.dayofyear.values, dims="time")
    z, unusual = xr.apply_ufunc(
        anomaly.detect, variable, doy,
        kwargs={"window": p["anomaly_window"], "threshold": p["anomaly_threshold"]},
        input_core_dims=[["time"], ["time"]], output_core_dims=[["time"], ["time"]],
        dask="parallelized", output_dtypes=["float64", "bool"],
    )  # fmt: skip
    out["anomaly_z"] = z.assign_attrs(
        units="1", long_name=f"Robust z-score of {p['anomaly_variable']} against its calendar days"
    )
    out["unusual"] = unusual.assign_attrs(long_name=f"|z| > {p['anomaly_threshold']}")
    out[p["anomaly_variable"]] = inputs[p["anomaly_variable"]]
    out.attrs = {
        "model": "twinhub extremes twin (xclim indicators, GEV by maximum likelihood, bootstrap)",
        "gev_indicator": p["gev_indicator"], "bootstrap": p["bootstrap"], "seed": p["seed"],
        "confidence": p["confidence"], "anomaly_variable": p["anomaly_variable"],
    }  # fmt: skip
    return out
