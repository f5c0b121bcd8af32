"""Front-page figure of the extremes twin: GEV return levels of Rx1day at Champion, Nebraska.

The twin's own run (GEV fit to the 37 annual maxima with a bootstrap band); the skill figures
compare the fitted 2-year and 10-year levels with the observed annual maxima themselves (their
empirical quantiles, Weibull plotting positions), which the fit never sees as such.
"""

from __future__ import annotations

import numpy as np
from twinhub.twins.showcase import Showcase, Skill
from twinhub.twins.twin import load_twin

ENTRY = "champion_daily"
OBSERVED = "empirical quantile of the observed annual maxima (Weibull plotting positions)"


def empirical_level(maxima: np.ndarray, period: float) -> float:
    """The level exceeded on average once in ``period`` years, read off the sorted maxima."""
    return float(np.quantile(maxima, 1.0 - 1.0 / period, method="weibull"))


def showcase() -> Showcase:
    import matplotlib.pyplot as plt

    params = {"gev_indicator": "rx1day", "bootstrap": 60, "block": 20}
    result, _record = load_twin("extremes").run(params, entry=ENTRY)
    result = result.load()
    maxima = np.sort(result.annual_maximum.values)
    periods = result.period.values
    n = len(maxima)
    plotting = (n + 1) / (n - np.arange(n))  # Weibull: T = (n + 1) / rank from the top
    fig, ax = plt.subplots(figsize=(4.8, 3.0))
    band = result.return_level_band
    ax.fill_between(periods, band.isel(bound=0), band.isel(bound=1), color="#c6dbef",
                    label="bootstrap 90 %")  # fmt: skip
    ax.plot(periods, result.return_level, "o-", color="#08519c", label="GEV fit")
    ax.plot(plotting, maxima, "k.", ms=4, label="observed annual maxima")
    ax.set(xscale="log", xlabel="return period (years)", ylabel="Rx1day (mm)",
           title="Champion, Nebraska: heaviest daily rain")  # fmt: skip
    ax.legend(fontsize=8)
    skills = []
    for period in (2, 10):
        fitted = float(result.return_level.sel(period=period))
        observed = empirical_level(maxima, period)
        skills.append(
            Skill(
                f"{period}-year level, GEV vs observed",
                (fitted - observed) / observed * 100,
                OBSERVED,
                "%",
                1,
            )  # fmt: skip
        )
    return Showcase(figure=fig, caption="Return levels of the annual maximum daily rain",
                    skills=skills)  # fmt: skip
