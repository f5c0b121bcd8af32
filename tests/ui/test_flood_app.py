"""The flood dashboard in headless Chromium: it loads; a bigger storm raises the plotted peak."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.support.data import ensure_built
from tests.support.panel_app import (
    PLOTTED_MAXIMA,
    REPO,
    downloaded_provenance,
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
    """Until the first ensemble is drawn; a screenshot shows what the user saw if it never is."""
    try:
        page.locator(".peak-median").wait_for(timeout=120_000)
    except Exception:
        page.screenshot(path=artifacts_dir / f"{name}-failed.png", full_page=True)
        raise


def test_bigger_storm_raises_the_plotted_peak(app_url: str, page: Page, artifacts_dir) -> None:
    page.goto(app_url)
    wait_for_dashboard(page, artifacts_dir, "flood-app-storm")
    page.wait_for_timeout(1000)
    page.screenshot(path=artifacts_dir / "flood-app-loaded.png", full_page=True)
    before = number_in(page, "peak-median")
    plotted_before = page.evaluate(PLOTTED_MAXIMA)
    assert plotted_before, "no discharge series found in the Bokeh plot"
    assert page.get_by_text("P(exceed 2-year flood").count() == 1

    set_input(page, "Synthetic storm (mm)", "250")
    after = wait_for_change(page, "peak-median", before)
    page.wait_for_timeout(1500)
    page.screenshot(path=artifacts_dir / "flood-app-storm.png", full_page=True)
    plotted_after = page.evaluate(PLOTTED_MAXIMA)
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
