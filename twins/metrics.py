"""Skill scores of simulated against observed series (NSE, KGE), for calibration and reporting.

Computed over the last axis (time), so one call scores a whole population or ensemble. Both
ignore days where the observation is missing (NaN).
"""

from __future__ import annotations

import numpy as np


def nse(sim: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Nash-Sutcliffe efficiency (Nash & Sutcliffe 1970): 1 is perfect, 0 is the mean's skill."""
    sim, obs = np.asarray(sim, dtype="float64"), np.asarray(obs, dtype="float64")
    ok = np.isfinite(obs)
    o, s = obs[ok], sim[..., ok]
    return 1.0 - np.sum((s - o) ** 2, axis=-1) / np.sum((o - o.mean()) ** 2)


def kge(sim: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Kling-Gupta efficiency (Gupta et al. 2009): correlation, variability and bias in one."""
    sim, obs = np.asarray(sim, dtype="float64"), np.asarray(obs, dtype="float64")
    ok = np.isfinite(obs)
    o, s = obs[ok], sim[..., ok]
    s_mean = s.mean(axis=-1)
    s_std = s.std(axis=-1)
    cov = ((s - s_mean[..., None]) * (o - o.mean())).mean(axis=-1)
    r = cov / (s_std * o.std())
    alpha = s_std / o.std()
    beta = s_mean / o.mean()
    return 1.0 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2)
