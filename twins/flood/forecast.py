"""Forecast mode: an ensemble of parameter sets and perturbed precipitation, summarised as
quantile bands and the probability of exceeding flood return levels.

``forecast(inputs, params)`` is the twin's model entry point (framework convention): pure, lazy,
blockwise over ``member``, so the same call runs in-process, on a LocalCluster or on the gateway's
cluster with identical numbers. The whole record is simulated (the states need the years before
the period), then the output is cut to the requested period.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats
from twinhub.twins.ensemble import (
    DEFAULT_BLOCK,
    exceedance_probability,
    quantile_bands,
    run_ensemble,
)
from twinhub.twins.flood import calibrated, hbv, model
from twinhub.twins.flood.forcing import perturbed_precip
from twinhub.twins.params import ParameterError

MAX_ENSEMBLE = 200
"""Largest ensemble a run may ask for (also the limit in twin.yaml)."""

RETURN_PERIODS = (2, 10)
"""Return periods (years) of the flood thresholds."""

FORECAST_DEFAULTS: dict[str, Any] = {
    "ensemble_size": 20, "precip_sigma": 0.2, "seed": 0, "parameter_sets": None,
    "start": "1985-01-01", "end": "1988-12-31", "block": DEFAULT_BLOCK,
}  # fmt: skip

OUTPUT_VARIABLES = ("discharge", "runoff", "precip", "aet", "storage")


def _check(params: Mapping[str, Any]) -> dict[str, Any]:
    p = {**FORECAST_DEFAULTS, **model.SCENARIO_DEFAULTS, **params}
    size = p["ensemble_size"]
    if not isinstance(size, int | np.integer) or not 1 <= size <= MAX_ENSEMBLE:
        raise ParameterError(
            "ensemble_size", f"must be an integer in 1..{MAX_ENSEMBLE}, got {size}"
        )
    sigma = p["precip_sigma"]
    if not np.isfinite(sigma) or not 0 <= sigma <= 1:
        raise ParameterError("precip_sigma", f"must be within [0, 1] (log-sd), got {sigma}")
    if not isinstance(p["block"], int) or p["block"] < 1:
        raise ParameterError("block", f"must be a positive integer, got {p['block']}")
    # no sets named (the manifest's default): the calibrated sets shipped with the twin
    sets = p["parameter_sets"] or calibrated.parameter_sets()
    missing = set(hbv.PARAMETERS) - set(sets)
    if missing:
        raise ParameterError("parameter_sets", f"missing parameters {sorted(missing)}")
    p["parameter_sets"] = sets
    return p


def forecast(inputs: xr.Dataset, params: Mapping[str, Any]) -> xr.Dataset:
    """Lazy ensemble of ``ensemble_size`` members over the period ``start``..``end``.

    Member ``i`` uses parameter set ``i mod k`` of ``parameter_sets`` (k sets, e.g. sampled from
    a calibration; by default the calibrated sets shipped with the twin, see
    :mod:`twinhub.twins.flood.calibrated`) and precipitation perturbed with log-sd
    ``precip_sigma`` (stream ``seed, i``), after the scenario (``precip_scale``, ``storm_mm`` on
    ``storm_day``).
    """
    p = _check(params)
    n = int(p["ensemble_size"])
    sets = {k: np.resize(np.asarray(v, dtype="float64"), n) for k, v in p["parameter_sets"].items()}
    members = inputs.assign(precip=perturbed_precip(inputs.precip, p["precip_sigma"], n, p["seed"]))
    scenario = {k: p[k] for k in model.SCENARIO_DEFAULTS}
    ens = run_ensemble(model.run, members, sets, fixed=scenario, block=p["block"])
    try:
        period = ens[list(OUTPUT_VARIABLES)].sel(time=slice(p["start"], p["end"]))
    except (ValueError, TypeError) as e:
        raise ParameterError("start", f"start/end must be dates YYYY-MM-DD: {e}") from None
    if period.sizes["time"] == 0:
        raise ParameterError("start", f"no data between {p['start']} and {p['end']}")
    period = period.assign(**flood_exceedance(inputs.discharge, period.discharge))
    return period.assign_attrs(ens.attrs, ensemble_size=n, precip_sigma=p["precip_sigma"])


def gumbel_levels(maxima: np.ndarray, periods=RETURN_PERIODS) -> np.ndarray:
    """Levels of the given return periods: Gumbel (EV1) fit by maximum likelihood to ``maxima``."""
    loc, scale = stats.gumbel_r.fit(maxima[np.isfinite(maxima)])
    return np.array([stats.gumbel_r.ppf(1 - 1 / t, loc, scale) for t in periods])


def return_levels(discharge: xr.DataArray, periods=RETURN_PERIODS) -> dict[int, float]:
    """Discharge (m3/s) of the given return periods: Gumbel (EV1) fit by maximum likelihood to
    the annual maxima of the observed series."""
    levels = gumbel_levels(discharge.resample(time="YS").max().values, periods)
    return {t: float(level) for t, level in zip(periods, levels, strict=True)}


def flood_exceedance(observed: xr.DataArray, discharge: xr.DataArray) -> dict[str, xr.DataArray]:
    """The flood levels of :data:`RETURN_PERIODS` (from the observed record, as
    :func:`return_levels`) and the fraction of members exceeding each at least once in the
    period (as :func:`summarize`), lazily: the twin's declared outputs ``p_exceed_2y`` and
    ``p_exceed_10y`` (twin.yaml) read them, so a pipeline can bind to them."""
    maxima = observed.resample(time="YS").max().rename(time="year")
    level = xr.apply_ufunc(
        gumbel_levels, maxima.chunk({"year": -1}) if maxima.chunks else maxima,
        input_core_dims=[["year"]], output_core_dims=[["period"]], dask="parallelized",
        output_dtypes=["float64"], dask_gufunc_kwargs={"output_sizes": {"period": 2}},
    ).assign_coords(period=list(RETURN_PERIODS))  # fmt: skip
    exceeded = (discharge > level).any("time").mean("member")
    return {
        "flood_level": level.assign_attrs(
            units="m3 s-1", long_name="Flood of the return period (Gumbel fit, observed maxima)"
        ),
        "p_exceed": exceeded.assign_attrs(
            units="1", long_name="Fraction of members exceeding the flood at least once"
        ),
    }


def summarize(ensemble: xr.Dataset, levels: Mapping[int, float]) -> xr.Dataset:
    """Quantile bands of discharge and, per return level, the probability that the ensemble
    exceeds it at least once in the period (fraction of members) and on each day."""
    q = ensemble.discharge
    out = xr.Dataset({"band": quantile_bands(q)})
    for period, level in levels.items():
        out[f"p_exceed_{period}y"] = exceedance_probability(q, level)
        out[f"p_exceed_{period}y_daily"] = (
            (q > level).mean("member").assign_attrs(units="1", threshold=level)
        )
    return out
