"""Extremes twin: xclim's indicators against plain pandas counts, the GEV fit against samples of
a known GEV, the anomaly detector on planted anomalies, provenance, Dask = in-process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dask.distributed import Client, LocalCluster
from scipy import stats
from twinhub.twins.extremes import anomaly, gev, model
from twinhub.twins.extremes.indicators import compute_indicators
from twinhub.twins.manifest import ManifestError, entry_point_errors
from twinhub.twins.params import ParameterError
from twinhub.twins.twin import Twin, load_twin

from tests.support.data import ensure_built

THRESHOLDS = {**model.DEFAULTS, "hot_threshold": 33.0, "heatwave_tmin": 16.0, "heatwave_tmax": 30.0}


@pytest.fixture(scope="module")
def twin() -> Twin:
    ensure_built()
    return load_twin("extremes")


@pytest.fixture(scope="module")
def champion(twin) -> pd.DataFrame:
    return twin.inputs("champion_daily").load().to_dataframe()


def runs_by_year(flags: pd.Series, minimum: int) -> pd.DataFrame:
    """Per year: number of runs of True of length >= minimum, longest such run, days in them."""
    rows = {}
    for year, days in flags.groupby(flags.index.year):
        lengths, run = [], 0
        for flag in [*days.to_numpy(), False]:
            if flag:
                run += 1
            else:
                if run >= minimum:
                    lengths.append(run)
                run = 0
        rows[year] = (len(lengths), max(lengths, default=0), sum(lengths))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["count", "longest", "days"])


def test_indicators_equal_plain_pandas_counts(champion: pd.DataFrame) -> None:
    series = [xr.DataArray(champion[v], dims="time") for v in ("tmax", "tmin", "precip")]
    ours = {k: v.values for k, v in compute_indicators(*series, THRESHOLDS).items()}
    year = champion.index.year
    assert ours["hot_days"].tolist() == (champion.tmax > 33.0).groupby(year).sum().tolist()
    assert ours["frost_days"].tolist() == (champion.tmin < 0.0).groupby(year).sum().tolist()
    waves = runs_by_year((champion.tmin > 16.0) & (champion.tmax > 30.0), minimum=3)
    assert ours["heat_wave_frequency"].tolist() == waves["count"].tolist()
    assert ours["heat_wave_max_length"].tolist() == waves["longest"].tolist()
    assert waves["count"].sum() > 20  # the comparison is not all zeros
    np.testing.assert_allclose(ours["rx1day"], champion.precip.groupby(year).max())
    rx5 = champion.precip.rolling(5).sum().groupby(year).max()
    np.testing.assert_allclose(ours["rx5day"], rx5, rtol=1e-12)
    # WSDI: calendar-day 90th percentile over a 5-day window, Hyndman-Fan type 8 (xclim's
    # alpha = beta = 1/3), 29 February left out of the climatology
    doy = champion.index.dayofyear.to_numpy()
    leap = champion.index.is_leap_year
    doy365 = np.where(leap & (doy > 59), doy - 1, doy)
    feb29 = leap & (doy == 60)
    tx90 = np.empty(366)
    for day in range(1, 366):
        near = np.abs(((doy365 - day + 182) % 365) - 182) <= 2
        tx90[day] = np.percentile(champion.tmax[near & ~feb29], 90, method="median_unbiased")
    above = pd.Series(champion.tmax.to_numpy() > tx90[doy365], index=champion.index)
    wsdi = runs_by_year(above, minimum=6)["days"]
    assert np.abs(ours["warm_spell_duration"] - wsdi.to_numpy()).max() <= 6
    assert (ours["warm_spell_duration"] == wsdi.to_numpy()).mean() > 0.9


def test_gev_recovers_known_parameters_within_the_bootstrap_interval() -> None:
    # 10 records of 50 annual maxima from a known GEV; the 95 % bootstrap interval must hold the
    # true parameters and 50-year level in most of them (coverage, not one lucky draw)
    truth = np.array([-0.1, 40.0, 12.0])  # scipy c = -0.1: a heavy tail, xi = 0.1
    periods = np.array([50.0])
    true_level = gev.return_levels(truth, periods)
    covered = np.zeros(4)
    records = 10
    for seed in range(records):
        sample = stats.genextreme.rvs(*truth, size=50, random_state=100 + seed)
        params, levels = gev.bootstrap(sample, np.arange(80), periods, seed=seed)
        low, high = np.percentile(np.column_stack([params, levels]), [2.5, 97.5], axis=0)
        value = np.append(truth, true_level)
        covered += (low <= value) & (value <= high)
        best = np.append(gev.fit(sample), gev.return_levels(gev.fit(sample), periods))
        assert np.all((low <= best) & (best <= high))
    print("bootstrap coverage of c, loc, scale, 50-year level:", covered / records)
    assert np.all(covered >= 0.7 * records), covered
    # and with many years the fit is close
    big = stats.genextreme.rvs(*truth, size=2000, random_state=0)
    assert np.all(np.abs(gev.fit(big) - truth) <= [0.04, 0.8, 0.6])


def test_anomaly_detector_flags_planted_unusual_days() -> None:
    time = pd.date_range("1990-01-01", "2009-12-31", freq="D")
    rng = np.random.default_rng(5)
    season = 12 + 14 * np.sin(2 * np.pi * (time.dayofyear.to_numpy() - 110) / 365.25)
    values = season + rng.normal(0, 2.5, time.size)
    planted = rng.choice(time.size, size=8, replace=False)
    values[planted] += np.where(np.arange(8) % 2 == 0, 15.0, -15.0)
    z = anomaly.robust_z(values, time.dayofyear.to_numpy(), window=15)
    flagged = set(np.flatnonzero(np.abs(z) > 3.5))
    assert set(planted) <= flagged
    assert len(flagged - set(planted)) <= 0.001 * time.size  # 7 days: Gaussian tail at 3.5 sd


def test_run_keeps_provenance_and_cluster_equals_in_process(twin) -> None:
    params = {"bootstrap": 24, "block": 8, "gev_indicator": "rx5day"}
    local, record = twin.run(params, entry="champion_daily")
    assert record.inputs[0].entry == "champion_daily" and record.status == "finished"
    assert "return_level_band" in record.outputs and local.sizes["member"] == 24
    band = local.return_level_band
    assert bool((band.sel(bound=band.bound[0]) <= local.return_level).all())
    assert bool((local.return_level <= band.sel(bound=band.bound[-1])).all())
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        remote, again = twin.run(params, entry="champion_daily", client=client)
    assert again.outputs == record.outputs
    xr.testing.assert_identical(local, remote)


def test_manifest_entry_points_import(twin) -> None:
    assert entry_point_errors(twin.manifest) == []


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"bootstrap": -1}, "parameters.bootstrap"),
        ({"gev_indicator": "rx3day"}, "parameters.gev_indicator"),
        ({"return_periods": [0.5]}, "parameters.return_periods.0"),
        ({"anomaly_threshold": 0}, "parameters.anomaly_threshold"),
        ({"hot_threshold": "hot"}, "parameters.hot_threshold"),
    ],
)
def test_bad_parameters_are_refused_by_name(twin, params, name) -> None:
    with pytest.raises(ManifestError) as err:
        twin.run(params)
    assert name in str(err.value)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"block": 0}, "block"),
        ({"confidence": 1.5}, "confidence"),
        ({"anomaly_variable": "precip"}, "anomaly_variable"),
        ({"return_periods": []}, "return_periods"),
        ({"threshold": 3}, "threshold"),
    ],
)
def test_model_refuses_bad_parameters_by_name(params, name) -> None:
    with pytest.raises(ParameterError) as err:
        model.check_parameters(params)
    assert err.value.name == name
