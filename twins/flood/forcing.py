"""Model forcing from the catalog data: precipitation scenarios and Hargreaves evapotranspiration.

The Fulda series has no radiation or humidity, so potential evapotranspiration comes from the
Hargreaves-Samani (1985) equation, which needs only daily temperatures and the extraterrestrial
radiation at the catchment's latitude (FAO-56, Allen et al. 1998, eqs. 21-25 and 52).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from twinhub.twins.params import ParameterError

LATITUDE_DEG = 50.74
"""Latitude of the Grebenau gauge (the catchment centroid is within half a degree)."""

SOLAR_CONSTANT = 0.0820
"""MJ m-2 min-1 (FAO-56)."""

LATENT_HEAT_INVERSE = 0.408
"""mm day-1 per MJ m-2 day-1: converts radiation to an evaporation equivalent (FAO-56)."""


def extraterrestrial_radiation(day_of_year: np.ndarray, latitude_deg: float) -> np.ndarray:
    """Ra in MJ m-2 day-1 (FAO-56 eq. 21)."""
    phi = np.deg2rad(latitude_deg)
    dr = 1 + 0.033 * np.cos(2 * np.pi / 365 * day_of_year)
    delta = 0.409 * np.sin(2 * np.pi / 365 * day_of_year - 1.39)
    omega = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))
    return (
        24
        * 60
        / np.pi
        * SOLAR_CONSTANT
        * dr
        * (omega * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(omega))
    )


def hargreaves_pet(ds: xr.Dataset, latitude_deg: float = LATITUDE_DEG) -> xr.DataArray:
    """Potential evapotranspiration (mm/day, FAO-56 eq. 52), never negative."""
    ra = extraterrestrial_radiation(ds.time.dt.dayofyear, latitude_deg)
    spread = np.sqrt(np.maximum(ds.tmax - ds.tmin, 0.0))
    pet = 0.0023 * LATENT_HEAT_INVERSE * ra * (ds.tmean + 17.8) * spread
    pet = np.maximum(pet, 0.0)
    return pet.rename("pet").assign_attrs(
        units="mm/day", long_name="Potential evapotranspiration (Hargreaves-Samani)"
    )


def scenario_precip(
    precip: xr.DataArray, scale: float = 1.0, storm_mm: float = 0.0, storm_day: str | None = None
) -> xr.DataArray:
    """Precipitation scaled by ``scale``, plus ``storm_mm`` on ``storm_day`` (a what-if storm)."""
    out = precip * scale
    if storm_mm:
        day = _storm_day(storm_day, precip)
        storm = xr.zeros_like(precip).where(precip.time != day, storm_mm)
        out = out + storm
    return out.assign_attrs(precip.attrs)


def _storm_day(storm_day: str | None, precip: xr.DataArray) -> np.datetime64:
    if storm_day is None:
        raise ParameterError("storm_day", "give the day of the synthetic storm (YYYY-MM-DD)")
    try:
        day = np.datetime64(storm_day, "D")
    except ValueError:
        raise ParameterError("storm_day", f"{storm_day!r} is not a date YYYY-MM-DD") from None
    first, last = precip.time.values[[0, -1]].astype("datetime64[D]")
    if not first <= day <= last:
        raise ParameterError("storm_day", f"{storm_day} is outside the record ({first}..{last})")
    return day.astype("datetime64[ns]")


def perturbed_precip(precip: xr.DataArray, sigma: float, members: int, seed: int) -> xr.DataArray:
    """``members`` multiplicative log-normal perturbations with mean 1 and log-sd ``sigma``.

    Member ``i`` draws from its own stream (seed, i), so a member is the same whatever the
    ensemble size or the block it is computed in.
    """
    n = precip.sizes["time"]
    noise = np.stack(
        [
            np.random.default_rng([seed, i]).standard_normal(n) if sigma > 0 else np.zeros(n)
            for i in range(members)
        ]
    )
    factor = np.exp(sigma * noise - sigma**2 / 2)
    return (precip * xr.DataArray(factor, dims=("member", "time"))).assign_attrs(precip.attrs)
