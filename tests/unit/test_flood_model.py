"""The flood twin's science: water balance, exact recession, skill on held-out years, ensembles."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from spotpy import objectivefunctions
from twinhub import catalogs
from twinhub.twins import metrics
from twinhub.twins.ensemble import compute
from twinhub.twins.flood import calibrate, hbv, model
from twinhub.twins.flood.forecast import forecast, return_levels, summarize

from tests.support.data import ensure_built


@pytest.fixture(scope="module")
def fulda() -> xr.Dataset:
    ensure_built()
    return catalogs.open_entry("fulda_daily").load()


@pytest.fixture(scope="module")
def calibration(fulda: xr.Dataset):
    """A bounded calibration (about 2000 simulations, a few seconds)."""
    return calibrate.calibrate_flood(fulda, generations=30, popsize=6, progress=False)


def test_water_balance_closes_for_every_member(fulda, calibration) -> None:
    sets = calibration.sample(6, seed=1)
    out = compute(
        forecast(
            fulda,
            {"parameter_sets": {k: list(v) for k, v in sets.items()}, "ensemble_size": 6,
             "precip_sigma": 0.3, "storm_mm": 80.0, "storm_day": "1981-01-10",
             "start": "1979-01-01", "end": "1988-12-31"},
        )
    )  # fmt: skip
    full = compute(
        model.run(fulda.assign(precip=out.precip), {k: xr.DataArray(v, dims="member")
                                                    for k, v in sets.items()})
    )  # fmt: skip
    precip = full.precip.sum("time")
    balance = full.aet.sum("time") + full.runoff.sum("time") + full.storage[:, -1] - full.storage0
    relative = np.abs((precip - balance) / precip)
    assert float(relative.max()) < 1e-6
    # there is snow in the record, so the snow routine was exercised
    assert float(full.swe.max()) > 10


def test_lower_zone_recession_matches_exact_solution() -> None:
    """No rain, no evaporation, only a full lower zone: Q(t) = K2 S0 (1 - K2)^t."""
    days, s0, k2 = 60, 100.0, 0.05
    params = {**model.DEFAULT_PARAMETERS, "K2": k2, "MAXBAS": 1.0, "PERC": 0.0}
    out = hbv.simulate(
        np.zeros(days), np.full(days, 10.0), np.zeros(days), params,
        initial={"soil": 0.0, "lower": s0},
    )  # fmt: skip
    exact = k2 * s0 * (1 - k2) ** np.arange(days)
    np.testing.assert_allclose(out["runoff"][0], exact, rtol=1e-12)


def test_routing_is_the_triangular_unit_hydrograph() -> None:
    np.testing.assert_allclose(hbv.routing_weights(np.array([2.0]))[0], [0.5, 0.5])
    weights = hbv.routing_weights(np.array([4.0]))[0]
    # triangle of base 4, peak 0.5 at day 2: areas 1/8, 3/8, 3/8, 1/8
    np.testing.assert_allclose(weights, [0.125, 0.375, 0.375, 0.125], rtol=1e-12)


def test_skill_scores_agree_with_spotpy(fulda) -> None:
    obs = fulda.discharge.values
    sim = obs * 0.9 + 5 * np.sin(np.arange(obs.size) / 30)
    assert metrics.nse(sim, obs) == pytest.approx(objectivefunctions.nashsutcliffe(obs, sim))
    assert metrics.kge(sim, obs) == pytest.approx(objectivefunctions.kge(obs, sim), rel=1e-9)


def test_validation_nse_on_held_out_years_reaches_the_bar(fulda, calibration) -> None:
    simulated = model.run(fulda, calibration.best)
    skill = calibrate.skill(fulda, simulated)
    assert skill["calibration"]["nse"] == pytest.approx(calibration.score, abs=1e-9)
    assert skill["validation"]["nse"] >= 0.7, skill
    assert skill["validation"]["kge"] >= 0.7, skill


def test_ensemble_spread_widens_with_perturbation_size(fulda, calibration) -> None:
    sets = {k: [v] for k, v in calibration.best.items()}
    widths = []
    for sigma in (0.0, 0.1, 0.3):
        ens = compute(forecast(fulda, {"parameter_sets": sets, "ensemble_size": 12,
                                       "precip_sigma": sigma}))  # fmt: skip
        band = summarize(ens, return_levels(fulda.discharge)).band
        widths.append(float((band.sel(quantile=0.95) - band.sel(quantile=0.05)).mean()))
    assert widths[0] == 0.0
    assert widths[0] < widths[1] < widths[2]


def test_return_levels_bracket_the_annual_maxima(fulda) -> None:
    levels = return_levels(fulda.discharge)
    maxima = fulda.discharge.resample(time="YS").max().values
    assert levels[2] < levels[10]
    # the 2-year flood is exceeded in about half of the years (10 years of record)
    assert 3 <= int((maxima > levels[2]).sum()) <= 7
    assert levels[10] < maxima.max() * 1.5


def test_storm_raises_the_peak(fulda, calibration) -> None:
    sets = {k: [v] for k, v in calibration.best.items()}
    base = {"parameter_sets": sets, "ensemble_size": 1, "precip_sigma": 0.0,
            "start": "1986-06-01", "end": "1986-07-31"}  # fmt: skip
    calm = compute(forecast(fulda, base)).discharge.max()
    storm = compute(forecast(fulda, {**base, "storm_mm": 100.0, "storm_day": "1986-06-20"}))
    assert float(storm.discharge.max()) > float(calm) + 100
