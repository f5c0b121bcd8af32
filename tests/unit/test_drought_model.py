"""Drought twin: SPI against its definition and xclim, SPEI's fit against scipy, events on a
constructed series, the bucket's water balance, runs with provenance, Dask = in-process."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from dask.distributed import Client, LocalCluster
from scipy import stats
from twinhub.twins.drought import bucket, events, model, standardize
from twinhub.twins.ensemble import compute
from twinhub.twins.manifest import ManifestError, entry_point_errors
from twinhub.twins.params import ParameterError
from twinhub.twins.twin import Twin, load_twin

from tests.support.data import ensure_built


@pytest.fixture(scope="module")
def twin() -> Twin:
    ensure_built()
    return load_twin("drought")


@pytest.fixture(scope="module")
def champion(twin):
    return twin.inputs("champion_daily").load()


@pytest.fixture(scope="module")
def baseline(champion) -> xr.Dataset:
    return compute(model.run(champion, {}))


def test_manifest_entry_points_import(twin) -> None:
    assert entry_point_errors(twin.manifest) == []
    assert twin.manifest.catalog == ["champion_daily", "fulda_daily"]


def test_spi_is_standard_normal_over_the_calibration_period(twin, champion) -> None:
    # fit on 1982-2009 only; check the calibration months. SPI-1 of Champion is left out: its
    # winter months have many zero totals, which the WMO zero handling maps to one value
    # (mean 0.12, sd 0.89 here; see docs/twins/drought.md)
    cal = {"calibration_start": "1982-01-01", "calibration_end": "2009-12-31"}
    out = compute(model.run(champion, cal))
    spi = out.spi.sel(month=slice("1982", "2009"))
    for scale in (3, 6, 12):
        values = spi.sel(scale=scale).values
        values = values[np.isfinite(values)]
        assert abs(values.mean()) < 0.1 and abs(values.std() - 1) < 0.1, scale
    fulda = compute(model.run(twin.inputs("fulda_daily").load(), {}))
    for scale in (1, 3, 6, 12):  # ten values per calendar month only: the fits are rough
        values = fulda.spi.sel(scale=scale).values
        values = values[np.isfinite(values)]
        assert abs(values.mean()) < 0.1 and abs(values.std() - 1) < 0.1, scale


def test_spi_agrees_with_xclim(champion, baseline) -> None:
    xclim = pytest.importorskip("xclim")
    pr = champion.precip.assign_attrs(units="mm/d")
    for scale in (1, 3, 6, 12):
        # the WMO SPI is a two-parameter gamma (origin at 0); xclim's default frees the origin
        ref = xclim.indices.standardized_precipitation_index(
            pr, freq="MS", window=scale, dist="gamma", method="ML", fitkwargs={"floc": 0}
        )
        ours = baseline.spi.sel(scale=scale).values
        theirs = ref.values
        both = np.isfinite(ours) & np.isfinite(theirs)
        assert both.sum() > 400
        rms = float(np.sqrt(np.mean((ours[both] - theirs[both]) ** 2)))
        assert rms < 0.05, (scale, rms)
        print(f"SPI-{scale} vs xclim: RMS {rms:.4f} over {both.sum()} months")


@pytest.fixture(scope="module")
def fulda(twin):
    """1979-1988, no month without rain: every fit fails only for want of complete totals."""
    return twin.inputs("fulda_daily").load()


def only(scale: int, calibration_years: int) -> dict:
    """Parameters of a run at one scale, calibrated on whole years from the record's start."""
    end = f"{1979 + calibration_years - 1}-12-31"
    return {"scales": [scale], "event_scale": scale, "calibration_end": end}


@pytest.mark.parametrize("scale", [1, 3, 6, 12])
def test_documented_minimum_calibration_gives_every_month_an_index(fulda, scale) -> None:
    years = model.min_calibration_years(scale)  # docs/twins/drought.md: 8 + ceil((k - 1) / 12)
    assert years == (8 if scale == 1 else 9)
    out = compute(model.run(fulda, only(scale, years)))
    for name in ("spi", "spei"):
        values = out[name].sel(scale=scale).values
        assert np.isnan(values[: scale - 1]).all(), name  # no complete total yet
        assert np.isfinite(values[scale - 1 :]).all(), (name, np.isnan(values).sum())
    xclim = pytest.importorskip("xclim")
    ref = xclim.indices.standardized_precipitation_index(
        fulda.precip.assign_attrs(units="mm/d"), freq="MS", window=scale, dist="gamma",
        method="ML", fitkwargs={"floc": 0}, cal_start="1979-01-01",
        cal_end=only(scale, years)["calibration_end"],
    )  # fmt: skip
    ours, theirs = out.spi.sel(scale=scale).values, ref.values
    assert np.isfinite(theirs[scale - 1 :]).all()  # the reference fits every month too
    rms = float(np.sqrt(np.mean((ours[scale - 1 :] - theirs[scale - 1 :]) ** 2)))
    assert rms < 0.05, rms


@pytest.mark.parametrize("scale", [1, 3, 6, 12])
def test_calibration_below_the_minimum_is_refused_naming_scale_and_months(fulda, scale) -> None:
    with pytest.raises(ParameterError) as err:
        model.run(fulda, only(scale, model.min_calibration_years(scale) - 1))
    message = str(err.value)
    assert err.value.name == "calibration_start"
    assert f"SPI-{scale} and SPEI-{scale}" in message
    # a year short: the months whose first k-month total falls in the record's first year
    short = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    named = short[: scale - 1] if scale > 1 else short
    assert f"totals for {', '.join(named)}, so" in message
    assert f"at least {model.min_calibration_years(scale)} years" in message


def test_spei_is_standard_normal_and_loglogistic_fit_matches_scipy(baseline) -> None:
    for scale in (1, 3, 6, 12):
        values = baseline.spei.sel(scale=scale).values
        values = values[np.isfinite(values)]
        assert abs(values.mean()) < 0.1 and abs(values.std() - 1) < 0.1, scale
    # a known log-logistic (scipy's fisk: c = 1/|k|, loc = xi - alpha/|k|, scale = alpha/|k|)
    c, loc, scale = 6.0, -80.0, 120.0
    sample = stats.fisk.rvs(c, loc=loc, scale=scale, size=4000, random_state=7)
    xi, alpha, k = standardize.loglogistic_fit(sample)
    assert k < 0
    assert abs(1 / -k - c) < 0.5 and abs(alpha / -k - scale) < 8 and abs(xi - alpha / -k - loc) < 8
    grid = np.linspace(-20, 150, 50)
    ours = standardize.loglogistic_probability(grid, xi, alpha, k)
    assert np.max(np.abs(ours - stats.fisk.cdf(grid, c, loc=loc, scale=scale))) < 0.02


def test_run_theory_finds_the_constructed_events() -> None:
    index = np.array([0.5, -1.2, -1.5, -0.4, 0.2, -2.0, -1.1, -1.3, 0.0, np.nan, -1.4, 1.0])
    labels = events.label_runs(index, threshold=-1.0)
    assert labels.tolist() == [0, 1, 1, 0, 0, 2, 2, 2, 0, 0, 3, 0]
    assert events.label_runs(index, -1.0, min_duration=2).tolist() == [
        0, 1, 1, 0, 0, 2, 2, 2, 0, 0, 0, 0
    ]  # fmt: skip
    month = xr.date_range("2000-01-01", periods=12, freq="MS")
    table = events.event_table(
        xr.DataArray(index, coords={"month": month}), xr.DataArray(labels, dims="month"), -1.0
    )
    assert table.onset.tolist() == ["2000-02", "2000-06", "2000-11"]
    assert table.duration_months.tolist() == [2, 3, 1]
    assert table.severity.round(6).tolist() == [0.7, 1.4, 0.4]
    assert table.peak.tolist() == [-1.5, -2.0, -1.4]


def test_bucket_conserves_water_and_stays_within_capacity(baseline, champion) -> None:
    precip, et = champion.precip.values, baseline.pet.values
    storage, aet, drainage = bucket.simulate(precip, et, capacity=150.0)
    balance = precip.sum() - aet.sum() - drainage.sum() - (storage[-1] - 150.0)
    assert abs(balance) < 1e-8 * precip.sum()
    assert storage.min() >= 0 and storage.max() <= 150.0
    assert np.all(aet <= et + 1e-12)
    np.testing.assert_array_equal(baseline.soil_moisture.values, storage)


def test_drier_scenario_means_more_drought(champion, baseline) -> None:
    dry = compute(model.run(champion, {"precip_scale": 0.8}))
    assert events.events_per_decade(dry.event_id) > events.events_per_decade(baseline.event_id)
    assert float((dry.spi < baseline.spi).sum()) > 0.9 * float(np.isfinite(dry.spi).sum())
    assert int(dry.agri_event_id.max()) >= int(baseline.agri_event_id.max())
    assert float(dry.sm_percentile.mean()) < float(baseline.sm_percentile.mean())


def test_run_keeps_provenance_and_cluster_equals_in_process(twin) -> None:
    params = {"index": "spei", "event_scale": 6}
    local, record = twin.run(params, entry="champion_daily")
    assert record.inputs[0].entry == "champion_daily" and record.status == "finished"
    assert record.parameters["index"] == "spei" and "spei" in record.outputs
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        remote, again = twin.run(params, entry="champion_daily", client=client)
    assert again.outputs == record.outputs
    xr.testing.assert_identical(local, remote)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"scales": [0, 3]}, "parameters.scales.0"),
        ({"index": "pdsi"}, "parameters.index"),
        ({"threshold": 1.5}, "parameters.threshold"),
        ({"precip_scale": -0.1}, "parameters.precip_scale"),
        ({"bucket_capacity": 1}, "parameters.bucket_capacity"),
    ],
)
def test_bad_parameters_are_refused_by_name(twin, params, name) -> None:
    with pytest.raises(ManifestError) as err:
        twin.run(params)
    assert name in str(err.value)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"event_scale": 9}, "event_scale"),
        ({"calibration_start": "2015-01-01"}, "calibration_start"),
        ({"calibration_end": "not a date"}, "calibration_end"),
        ({"latitude": 80.0}, "latitude"),
        ({"scale": 3}, "scale"),
    ],
)
def test_model_refuses_bad_parameters_by_name(champion, params, name) -> None:
    with pytest.raises(ParameterError) as err:
        model.run(champion, params)
    assert err.value.name == name
