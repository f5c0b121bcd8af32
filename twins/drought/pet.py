"""Potential evapotranspiration from temperature alone: Thornthwaite (1948).

The drought twin's records hold only temperatures and precipitation, so SPEI's climatic water
balance uses Thornthwaite's method, as in Vicente-Serrano et al. (2010): the annual heat index
comes from the calibration period's monthly normals, months are corrected for day length at the
site's latitude (FAO-56 eqs. 24, 25, 34) and their number of days, and mean temperatures above
26.5 °C use Willmott et al.'s (1985) quadratic. The daily variant (the same formula on daily
means) drives the soil-moisture bucket. Plain numpy: the model wraps these with apply_ufunc.
"""

from __future__ import annotations

import numpy as np
from twinhub.twins.params import ParameterError

HOT = 26.5
"""°C above which Thornthwaite's power law is replaced by Willmott's quadratic."""


def check_latitude(latitude_deg: float) -> float:
    if not np.isfinite(latitude_deg) or not -66.5 < latitude_deg < 66.5:
        raise ParameterError(
            "latitude", f"must be within ±66.5° (no polar day), got {latitude_deg}"
        )
    return float(latitude_deg)


def day_length_hours(day_of_year: np.ndarray, latitude_deg: float) -> np.ndarray:
    """Astronomical day length N (hours), FAO-56 eqs. 24, 25 and 34."""
    phi = np.deg2rad(check_latitude(latitude_deg))
    delta = 0.409 * np.sin(2 * np.pi / 365 * np.asarray(day_of_year, dtype="float64") - 1.39)
    omega = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))
    return 24 / np.pi * omega


def monthly_normals(tmean: np.ndarray, calendar_month: np.ndarray, calibration: np.ndarray):
    """Mean temperature of each calendar month (1..12) over the calibration months."""
    return np.array([np.nanmean(tmean[(calendar_month == m) & calibration]) for m in range(1, 13)])


def heat_index(normals: np.ndarray) -> tuple[float, float]:
    """Thornthwaite's annual heat index I (from 12 monthly normals, °C) and his exponent a."""
    t = np.maximum(np.asarray(normals, dtype="float64"), 0.0)
    index = float(np.sum((t / 5.0) ** 1.514))
    if not index > 0:
        raise ValueError("every monthly normal temperature is <= 0 °C: Thornthwaite PET is zero")
    a = 6.75e-7 * index**3 - 7.71e-5 * index**2 + 1.792e-2 * index + 0.49239
    return index, a


def _per_30_days_of_12_hours(t: np.ndarray, index: float, a: float) -> np.ndarray:
    t = np.maximum(t, 0.0)
    cool = 16.0 * (10.0 * t / index) ** a
    hot = -415.85 + 32.24 * t - 0.43 * t**2
    return np.where(t >= HOT, hot, cool)


def thornthwaite_monthly(
    tmean: np.ndarray, normals: np.ndarray, days_in_month: np.ndarray, mid_day: np.ndarray,
    latitude_deg: float,
) -> np.ndarray:  # fmt: skip
    """PET (mm/month) of months with mean temperature ``tmean`` (°C)."""
    index, a = heat_index(normals)
    hours = day_length_hours(mid_day, latitude_deg)
    return _per_30_days_of_12_hours(tmean, index, a) * (hours / 12.0) * (days_in_month / 30.0)


def thornthwaite_daily(
    tmean: np.ndarray, normals: np.ndarray, day_of_year: np.ndarray, latitude_deg: float
) -> np.ndarray:
    """PET (mm/day) of days with mean temperature ``tmean`` (°C)."""
    index, a = heat_index(normals)
    hours = day_length_hours(day_of_year, latitude_deg)
    return _per_30_days_of_12_hours(tmean, index, a) * (hours / 12.0) / 30.0
