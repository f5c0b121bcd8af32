"""Return levels from a GEV fit to annual maxima, with bootstrap confidence intervals.

The generalized extreme value distribution is fitted by maximum likelihood
(``scipy.stats.genextreme``; note scipy's shape ``c`` is minus the climatological shape ξ).
Uncertainty: a non-parametric bootstrap (resample the annual maxima with replacement, refit),
each resample an ensemble member drawn from its own random stream ``(seed, member)``, so a member
is the same whatever the ensemble size or the Dask block it is computed in.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

PARAMETERS = ("shape_c", "loc", "scale")
MAX_ABS_SHAPE = 0.5
"""|c| is kept within 0.5: beyond it the likelihood is irregular (c > 0.5, i.e. ξ < -0.5) or the
tail implausibly heavy for daily climate (ξ > 0.5); a fit that leaves the range is refitted with
the shape at the bound (a restricted maximum likelihood). Short records (ten Fulda years) and
their bootstrap resamples hit it; 37 Champion years rarely do."""


def fit(maxima: np.ndarray) -> np.ndarray:
    """(c, loc, scale) by maximum likelihood, started from the method-of-moments Gumbel guess."""
    x = np.asarray(maxima, dtype="float64")
    x = x[np.isfinite(x)]
    scale0 = np.sqrt(6) * x.std() / np.pi
    loc0 = x.mean() - 0.5772 * scale0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        c, loc, scale = stats.genextreme.fit(x, 0.0, loc=loc0, scale=scale0)
        if abs(c) > MAX_ABS_SHAPE:
            bound = float(np.sign(c) * MAX_ABS_SHAPE)
            c, loc, scale = stats.genextreme.fit(x, fc=bound, loc=loc0, scale=scale0)
    return np.array([c, loc, scale])


def return_levels(params: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Levels exceeded on average once every T years: the 1 - 1/T quantile."""
    c, loc, scale = params
    return stats.genextreme.ppf(1 - 1 / np.asarray(periods, dtype="float64"), c, loc, scale)


def bootstrap(
    maxima: np.ndarray, members: np.ndarray, periods: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Refitted parameters (member, 3) and return levels (member, period) of bootstrap members."""
    x = np.asarray(maxima, dtype="float64")
    x = x[np.isfinite(x)]
    params = np.empty((members.size, len(PARAMETERS)))
    levels = np.empty((members.size, np.size(periods)))
    for row, member in enumerate(members):
        rng = np.random.default_rng([seed, int(member)])
        params[row] = fit(rng.choice(x, size=x.size, replace=True))
        levels[row] = return_levels(params[row], periods)
    return params, levels
