"""Observables of Markov-chain time series with autocorrelation-aware errors.

Successive Monte Carlo configurations are correlated, so the naive error sigma/sqrt(n) is too
small by sqrt(2 tau_int). We estimate tau_int with Sokal's automatic window (the standard of
Madras & Sokal 1988, also in Wolff's "Monte Carlo errors with less errors", 2004), and get
errors of derived quantities (susceptibility, Binder cumulant: non-linear in the means) by
jackknife over blocks that are long compared to tau_int, pooling independent replicas.
"""

from __future__ import annotations

import numpy as np


def autocorrelation(series: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation function rho(t), by FFT (zero-padded, so not circular)."""
    x = np.asarray(series, dtype=float) - np.mean(series)
    n = x.size
    if n < 2 or not np.any(x):
        return np.ones(1)
    f = np.fft.rfft(x, 2 * n)
    acov = np.fft.irfft(f * np.conj(f))[:n] / np.arange(n, 0, -1)
    return acov / acov[0]


def integrated_autocorrelation_time(series: np.ndarray, c: float = 6.0) -> float:
    """tau_int = 1/2 + sum_t rho(t), summed up to the first window W >= c * tau_int(W).

    The window cuts off the noise of rho(t) at large t (which would otherwise dominate the
    sum) while keeping the bias, of order exp(-W/tau), negligible for c ~ 6.
    """
    rho = autocorrelation(series)
    if rho.size == 1:
        return 0.5
    tau = 0.5 + np.cumsum(rho[1:])
    windows = np.arange(1, rho.size)
    ok = windows >= c * tau
    w = int(np.argmax(ok)) if ok.any() else rho.size - 2
    return float(max(tau[w], 0.5))


def block_means(series: np.ndarray, n_blocks: int) -> np.ndarray:
    """Means of ``n_blocks`` consecutive equal blocks along the last axis (the tail is dropped)."""
    series = np.asarray(series, dtype=float)
    length = series.shape[-1] // n_blocks
    if length < 1:
        raise ValueError(f"need at least n_blocks={n_blocks} measurements, got {series.shape[-1]}")
    trimmed = series[..., : length * n_blocks]
    return trimmed.reshape(*series.shape[:-1], n_blocks, length).mean(axis=-1)


def jackknife(blocks: np.ndarray, estimator) -> tuple[float, float]:
    """Jackknife estimate and error of ``estimator(means)`` from per-block means.

    ``blocks`` has shape (n_quantities, n_blocks); ``estimator`` maps the vector of the
    quantities' means to a number. The bias-corrected estimate is returned.
    """
    blocks = np.asarray(blocks, dtype=float)
    n = blocks.shape[-1]
    total = blocks.sum(axis=-1)
    full = estimator(total / n)
    leave_one_out = np.array([estimator((total - blocks[:, k]) / (n - 1)) for k in range(n)])
    mean_loo = leave_one_out.mean()
    error = np.sqrt((n - 1) / n * np.sum((leave_one_out - mean_loo) ** 2))
    return float(n * full - (n - 1) * mean_loo), float(error)
