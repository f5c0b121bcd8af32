"""One forecast scenario, computed end to end for the notebook and the dashboard.

Both show the same things (ensemble bands, observed discharge, exceedance probabilities of the
flood return levels, skill scores of the calibrated model) so they share this code: the app only
adds widgets, the notebook only adds prose.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import xarray as xr
from twinhub.twins.calibration import Calibration
from twinhub.twins.flood.calibrated import ENTRY, run_calibration
from twinhub.twins.flood.forecast import return_levels, summarize
from twinhub.twins.runs import RunRecord
from twinhub.twins.twin import Twin, load_twin


@dataclass
class Outcome:
    """A computed scenario: ensemble, its summary, the observations and the run record."""

    ensemble: xr.Dataset
    summary: xr.Dataset
    observed: xr.DataArray
    levels: dict[int, float]
    record: RunRecord
    skill: dict[str, dict[str, Any]]

    @property
    def peak_median(self) -> float:
        """Highest daily value of the ensemble median in the period (m3/s)."""
        return float(self.summary.band.sel(quantile=0.5).max())

    def table(self) -> xr.Dataset:
        """Bands and observations side by side (for CSV download)."""
        bands = self.summary.band.to_dataset("quantile")
        bands = bands.rename({q: f"q{int(round(q * 100)):02d}" for q in bands.data_vars})
        return bands.assign(observed=self.observed)


@cache
def calibrated() -> tuple[Calibration, dict]:
    """The twin's calibration (a few seconds; cached for the process): the one whose sampled
    sets ship in ``calibrated.json``, so the dashboard's 20 members are a default run's."""
    return run_calibration(load_twin("flood").inputs(ENTRY).load())


def run_scenario(
    twin: Twin,
    cal: Calibration,
    skill: dict[str, dict[str, Any]],
    params: dict[str, Any],
    client: Any = None,
    seed: int = 0,
) -> Outcome:
    """Run the forecast ensemble with parameter sets sampled from ``cal``."""
    n = int(params.get("ensemble_size", 20))
    sets = cal.sample(max(1, n), seed=seed)
    full = {**params, "parameter_sets": {k: [float(x) for x in v] for k, v in sets.items()}}
    ensemble, record = twin.run(full, entry=ENTRY, client=client)
    inputs = twin.inputs(ENTRY)
    levels = return_levels(inputs.discharge.load())
    observed = inputs.discharge.sel(time=ensemble.time).load()
    return Outcome(ensemble, summarize(ensemble, levels), observed, levels, record, skill)
