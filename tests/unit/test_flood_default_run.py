"""The flood twin's default run is the calibrated model its summary and card promise.

A run with the manifest's defaults (``parameter_sets: null``), as the API, a dashboard, a
notebook or a schedule makes it, is scored on the held-out years 1985-1988 against the observed
discharge of the catalog, with NSE written here from its definition (Nash & Sutcliffe 1970) and
spotpy's as a second implementation. The shipped sets are re-derived from the code and the data.
"""

from __future__ import annotations

import numpy as np
import pytest
from spotpy.objectivefunctions import nashsutcliffe
from twinhub.twins.flood import calibrated
from twinhub.twins.twin import load_twin

from tests.support.data import ensure_built

VALIDATION = slice("1985-01-01", "1988-12-31")


def nse(simulated: np.ndarray, observed: np.ndarray) -> float:
    """1 - sum of squared errors / sum of squared deviations of the observations from their mean."""
    return float(
        1 - np.sum((simulated - observed) ** 2) / np.sum((observed - observed.mean()) ** 2)
    )


@pytest.fixture(scope="module")
def twin():
    ensure_built()
    return load_twin("flood")


def test_default_run_is_the_calibrated_model_on_held_out_years(twin) -> None:
    out, record = twin.run()  # the manifest's defaults: 20 members, parameter_sets null
    assert record.parameters["parameter_sets"] is None
    observed = twin.inputs().discharge.sel(time=VALIDATION).values
    median = out.discharge.median("member").sel(time=VALIDATION).values
    assert nse(median, observed) == pytest.approx(nashsutcliffe(observed, median), abs=1e-12)
    assert nse(median, observed) >= 0.8  # the first-guess parameters give 0.70
    # the data the shipped calibration was derived from is the data this run read
    assert record.inputs[0].checksum == calibrated.shipped()["provenance"]["data_sha256"]


def test_default_parameters_without_rain_perturbation_reach_the_promised_skill(twin) -> None:
    out, _ = twin.run({"ensemble_size": 1, "precip_sigma": 0.0})  # member 0: the best set
    observed = twin.inputs().discharge.sel(time=VALIDATION).values
    simulated = out.discharge.isel(member=0).sel(time=VALIDATION).values
    assert nashsutcliffe(observed, simulated) >= 0.85  # docs/twins/flood.md: 0.876


def test_shipped_calibration_is_what_the_calibration_routine_derives(twin, capsys) -> None:
    assert calibrated.main(["--check"]) == 0, capsys.readouterr().err
    kept = calibrated.shipped()
    assert kept["provenance"]["settings"]["seed"] == 42
    assert kept["provenance"]["periods"]["calibration"] == ["1980-01-01", "1984-12-31"]


def test_drift_of_the_shipped_sets_is_reported() -> None:
    kept = calibrated.shipped()
    drifted = {**kept, "parameter_sets": {**kept["parameter_sets"], "FC": [100.0]}}
    found = calibrated.differences(drifted, kept)
    assert found and all(line.startswith("calibrated.parameter_sets.FC") for line in found)
    assert calibrated.differences(kept, kept) == []
