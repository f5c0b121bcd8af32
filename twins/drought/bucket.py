"""A single-layer soil-moisture bucket (Thornthwaite-Mather type) for agricultural drought.

Each day: rain enters the bucket, water above the holding capacity drains away, and the soil
loses ``AET = PET * S / capacity`` (evaporation falls linearly as the soil dries). The monthly
mean relative moisture is ranked against the same calendar month of the calibration years;
a percentile below 20 marks agricultural drought (the US Drought Monitor's D1 class).
"""

from __future__ import annotations

import numpy as np


def simulate(
    precip: np.ndarray, pet: np.ndarray, capacity: float, initial_fraction: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soil moisture at the end of each day (mm), actual ET and drainage (mm/day).

    Mass balance holds exactly: ``sum(precip) = sum(aet) + sum(drainage) + S_end - S_0``.
    """
    n = precip.shape[-1]
    storage = np.empty(n)
    aet = np.empty(n)
    drainage = np.empty(n)
    s = capacity * initial_fraction
    for i in range(n):
        s += precip[i]
        drainage[i] = max(s - capacity, 0.0)
        s -= drainage[i]
        aet[i] = min(pet[i] * s / capacity, s)
        s -= aet[i]
        storage[i] = s
    return storage, aet, drainage


def percentile_against(
    baseline: np.ndarray, scenario: np.ndarray, calendar_month: np.ndarray, calibration: np.ndarray
) -> np.ndarray:
    """Weibull plotting-position percentile (0-100) of each scenario month among the baseline
    calibration values of the same calendar month."""
    out = np.full(scenario.shape, np.nan)
    for month in range(1, 13):
        this = calendar_month == month
        reference = np.sort(baseline[this & calibration])
        ranks = np.searchsorted(reference, scenario[this], side="right")
        out[this] = 100.0 * ranks / (reference.size + 1)
    return out
