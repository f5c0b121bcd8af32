"""Unusual days: a robust z-score against the day-of-year climatology.

For each calendar day the climatology is the median of the values within ± ``window`` days of it
over all years, and its spread the median absolute deviation scaled by 1.4826 (the normal
consistency constant); ``z = (x - median) / (1.4826 MAD)``. Medians resist the very outliers we
look for, which a mean and standard deviation would absorb. ``|z| > threshold`` flags a day.
"""

from __future__ import annotations

import numpy as np

MAD_TO_SD = 1.4826


def robust_z(values: np.ndarray, day_of_year: np.ndarray, window: int) -> np.ndarray:
    """Robust z-score of each day (last axis) against its ±window-day calendar neighbourhood."""
    doy = np.minimum(day_of_year, 365)  # 29 February joins 28 February
    z = np.full(values.shape, np.nan)
    for day in range(1, 366):
        distance = np.abs(doy - day)
        near = np.minimum(distance, 365 - distance) <= window
        ref = values[near]
        ref = ref[np.isfinite(ref)]
        if ref.size < 10:
            continue
        median = np.median(ref)
        spread = MAD_TO_SD * np.median(np.abs(ref - median))
        this = doy == day
        if spread > 0:
            z[this] = (values[this] - median) / spread
    return z


def detect(
    values: np.ndarray, day_of_year: np.ndarray, window: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-scores and the flags ``|z| > threshold`` (NaN scores are never flagged)."""
    z = robust_z(values, day_of_year, window)
    return z, np.abs(np.nan_to_num(z)) > threshold
