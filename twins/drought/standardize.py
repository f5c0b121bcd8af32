"""Standardized indices: SPI (gamma, WMO 2012) and SPEI (log-logistic, Vicente-Serrano 2010).

Both fit one distribution per calendar month to the accumulated series of the calibration period
and map each value through its fitted cumulative probability to the standard normal
(equiprobability transform, Panofsky & Brier 1958). SPI fits a two-parameter gamma by maximum
likelihood to the non-zero totals and mixes in the probability of a zero total,
``H(x) = q + (1 - q) G(x)`` (McKee et al. 1993; WMO-No. 1090). SPEI fits a three-parameter
log-logistic to the water balance P - PET by L-moments (Vicente-Serrano et al. 2010), written as
Hosking's generalized logistic like the SPEI reference code, so that it also fits months whose
water balance is skewed to the left.

The fit comes from the baseline (observed) series and is applied to a scenario series, so a
what-if ("10 % less rain") is judged against the climate that was observed: refitting the
scenario would hide the change, since a scaled gamma sample standardizes to the same SPI.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

MIN_FIT_VALUES = 8
"""Fewer non-zero values than this for a calendar month give no fit (NaN index)."""

PROBABILITY_FLOOR = 1e-9
"""Cumulative probabilities are kept within [floor, 1 - floor]: |index| <= 6.0, never infinite."""


def _to_normal(probability: np.ndarray) -> np.ndarray:
    p = np.clip(probability, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return np.where(np.isfinite(probability), stats.norm.ppf(p), np.nan)


def gamma_fit(sample: np.ndarray) -> tuple[float, float, float]:
    """(zero probability q, shape, scale) of a zero-inflated gamma by maximum likelihood."""
    sample = sample[np.isfinite(sample)]
    positive = sample[sample > 0]
    if positive.size < MIN_FIT_VALUES:
        return np.nan, np.nan, np.nan
    q = 1.0 - positive.size / sample.size
    shape, _, scale = stats.gamma.fit(positive, floc=0)
    return q, shape, scale


def spi_probability(x: np.ndarray, q: float, shape: float, scale: float) -> np.ndarray:
    """H(x) = q + (1 - q) G(x; shape, scale); a zero total has H = q."""
    g = stats.gamma.cdf(np.maximum(x, 0.0), shape, scale=scale)
    return np.where(np.isfinite(x), q + (1 - q) * g, np.nan)


def sample_lmoments(sample: np.ndarray) -> tuple[float, float, float]:
    """l1, l2 and L-skewness t3 from unbiased probability-weighted moments (Hosking 1990)."""
    x = np.sort(sample)
    n = x.size
    j = np.arange(1, n + 1)
    b0 = x.mean()
    b1 = np.sum((j - 1) / (n - 1) * x) / n
    b2 = np.sum((j - 1) * (j - 2) / ((n - 1) * (n - 2)) * x) / n
    l1, l2, l3 = b0, 2 * b1 - b0, 6 * b2 - 6 * b1 + b0
    return l1, l2, l3 / l2


def loglogistic_fit(sample: np.ndarray) -> tuple[float, float, float]:
    """(location xi, scale alpha, shape k) of the three-parameter log-logistic in Hosking's
    generalized-logistic form, by L-moments, as the SPEI reference code does (``parglo``)."""
    x = sample[np.isfinite(sample)]
    if x.size < MIN_FIT_VALUES:
        return np.nan, np.nan, np.nan
    l1, l2, t3 = sample_lmoments(x)
    k = -t3
    if not l2 > 0 or not abs(k) < 1:
        return np.nan, np.nan, np.nan
    if abs(k) < 1e-6:  # the logistic limit
        return l1, l2, 0.0
    ratio = k * np.pi / np.sin(k * np.pi)
    alpha = l2 / ratio
    return l1 - alpha * (1 / k - np.pi / np.sin(k * np.pi)), alpha, k


def loglogistic_probability(x: np.ndarray, xi: float, alpha: float, k: float) -> np.ndarray:
    """F(x) = 1 / (1 + exp(-y)), y = -log(1 - k (x - xi) / alpha) / k; 0 or 1 beyond the bound."""
    z = (x - xi) / alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = 1 - k * z
        y = z if k == 0 else np.where(arg > 0, -np.log(np.where(arg > 0, arg, 1.0)) / k, np.nan)
        f = 1.0 / (1.0 + np.exp(-y))
    beyond = 0.0 if k < 0 else 1.0  # k < 0: lower bound (positive skew); k > 0: upper bound
    return np.where(np.isfinite(x), np.where(np.isfinite(y), f, beyond), np.nan)


FITS = {"spi": (gamma_fit, spi_probability), "spei": (loglogistic_fit, loglogistic_probability)}


def standardize(
    baseline: np.ndarray,
    scenario: np.ndarray,
    calendar_month: np.ndarray,
    calibration: np.ndarray,
    kind: str,
) -> np.ndarray:
    """The standardized index of ``scenario`` with fits from ``baseline`` over ``calibration``.

    Arrays share a last (time) axis of months; leading axes (e.g. accumulation scales) are
    handled one by one. ``calendar_month`` is 1..12, ``calibration`` a boolean mask.
    """
    fit, probability = FITS[kind]
    baseline, scenario = np.asarray(baseline, "float64"), np.asarray(scenario, "float64")
    out = np.full(np.broadcast_shapes(baseline.shape, scenario.shape), np.nan)
    for lead in np.ndindex(out.shape[:-1]):
        base = np.broadcast_to(baseline, out.shape)[lead]
        scen = np.broadcast_to(scenario, out.shape)[lead]
        for month in range(1, 13):
            this = calendar_month == month
            params = fit(base[this & calibration])
            if np.isfinite(params).all():
                out[lead][this] = _to_normal(probability(scen[this], *params))
    return out
