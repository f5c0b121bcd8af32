"""The flood dashboard in headless Chromium: it loads; a bigger storm raises the plotted peak;
the observed-discharge checkbox hides and shows that curve in the drawn figure, without a run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.support.data import ensure_built
from tests.support.panel_app import (
    DISCHARGE_SERIES,
    PLOTTED_MAXIMA,
    REPO,
    checkbox,
    downloaded_provenance,
    drawn,
    number_in,
    record_in_registry,
    served,
    set_input,
    wait_for_change,
)

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory) -> Path:
    """The working folder of the app's process (where locally kept run records go)."""
    return tmp_path_factory.mktemp("flood-app")


@pytest.fixture(scope="module")
def app_url(artifacts_dir: Path, app_dir: Path) -> Iterator[str]:
    """``panel serve twins/flood/app.py`` as a user would start it."""
    ensure_built()
    app = str(REPO / "twins" / "flood" / "app.py")
    with served(app, artifacts_dir / "flood-app.log", cwd=app_dir) as url:
        yield url


def wait_for_dashboard(page: Page, artifacts_dir: Path, name: str) -> None:
    """Until the first ensemble is drawn; a screenshot shows what the user saw if it never is.
    The app process calibrates the model first: minutes on a loaded 2-core machine."""
    try:
        page.locator(".peak-median").wait_for(timeout=300_000)
    except Exception:
        page.screenshot(path=artifacts_dir / f"{name}-failed.png", full_page=True)
        raise


def test_bigger_storm_raises_the_plotted_peak(app_url: str, page: Page, artifacts_dir) -> None:
    page.goto(app_url)
    wait_for_dashboard(page, artifacts_dir, "flood-app-storm")
    plotted_before = drawn(page, PLOTTED_MAXIMA)
    page.screenshot(path=artifacts_dir / "flood-app-loaded.png", full_page=True)
    before = number_in(page, "peak-median")
    assert plotted_before, "no discharge series found in the Bokeh plot"
    assert page.get_by_text("P(exceed 2-year flood").count() == 1

    set_input(page, "Synthetic storm (mm)", "250")
    after = wait_for_change(page, "peak-median", before)
    # once the new median curve is drawn (its peak is the indicator's)
    plotted_after = drawn(
        page,
        PLOTTED_MAXIMA,
        until="(maxima, peak) => maxima.some(m => Math.abs(m - peak) < 0.1)",
        arg=after,
    )
    page.screenshot(path=artifacts_dir / "flood-app-storm.png", full_page=True)
    assert after > before + 100
    assert max(plotted_after) > max(plotted_before) + 100
    # the median curve is one of the plotted series: its peak is what the indicator shows
    assert any(abs(m - after) < 0.1 for m in plotted_after)


def test_provenance_download_and_run_record(
    app_url: str, app_dir: Path, page: Page, artifacts_dir: Path
) -> None:
    from twinhub.twins.runs import RunRecord

    page.goto(app_url)
    wait_for_dashboard(page, artifacts_dir, "flood-app-provenance")
    record = RunRecord.from_provenance(downloaded_provenance(page))  # prov parses it
    assert record.twin == "flood" and record.inputs[0].entry == "fulda_daily"
    assert record.parameters["ensemble_size"] == 20

    record_in_registry(page)
    kept = list((app_dir / "twinhub-runs").glob("flood-*.prov.json"))
    assert len(kept) == 1


def test_observed_checkbox_redraws_the_figure_without_a_model_run(
    app_url: str, page: Page, artifacts_dir: Path
) -> None:
    from twinhub.catalogs import open_entry

    observed = open_entry("fulda_daily").discharge.sel(time=slice("1986-01-01", "1986-12-31"))
    page.goto(app_url)
    wait_for_dashboard(page, artifacts_dir, "flood-app-observed")
    peak = number_in(page, "peak-median")
    box = checkbox(page, "Show observed discharge")
    assert box.is_checked()
    # the observed curve is the drawn series whose values are the gauge's, read from the catalog:
    # wait until it is drawn (the ensemble's curves may be drawn first)
    gauge_sum = float(observed.sum())
    series = drawn(
        page,
        DISCHARGE_SERIES,
        until="(rows, total) => rows.some(s => Math.abs(s[2] - total) < 1e-6 * s[2])",
        arg=gauge_sum,
    )
    (observed_id,) = [s[0] for s in series if abs(s[2] - gauge_sum) < 1e-6 * s[2]]
    assert all(shown for _, shown, *_ in series)

    for shown in (False, True):
        box.click()
        page.wait_for_function(
            f"([id, shown]) => ({DISCHARGE_SERIES})().some(s => s[0] === id && s[1] === shown)",
            arg=[observed_id, shown],
            timeout=20_000,
        )
        if not shown:
            page.screenshot(path=artifacts_dir / "flood-app-observed-hidden.png", full_page=True)
        now = page.evaluate(DISCHARGE_SERIES)
        # the same renderers with the same data: the figure was updated in place, no model ran
        assert [(s[0], s[2]) for s in now] == [(s[0], s[2]) for s in series]
        assert {s[0]: s[1] for s in now} == {s[0]: s[0] != observed_id or shown for s in series}
        assert box.is_checked() is shown
        assert number_in(page, "peak-median") == peak
