"""The drought dashboard in headless Chromium: less rain gives more drought events, and the
plotted index series changes with it."""

from __future__ import annotations

import pytest

from tests.support.panel_app import (
    PLOTTED_COLUMNS,
    drawn,
    number_in,
    set_input,
    wait_for_change,
)

pytestmark = pytest.mark.ui
TWIN = "drought"  # the app served by the ``app_url`` fixture (tests/ui/conftest.py)


def test_less_rain_means_more_drought_events_in_the_plot(app_url, page, artifacts_dir) -> None:
    page.goto(app_url)
    page.locator(".events-scenario").wait_for(timeout=120_000)
    page.get_by_text("duration_months").first.wait_for(timeout=30_000)  # the event table
    index_before = drawn(page, PLOTTED_COLUMNS, "drought_index")
    page.screenshot(path=artifacts_dir / "drought-app-loaded.png", full_page=True)
    observed = number_in(page, "events-baseline")
    before = number_in(page, "events-scenario")
    assert before == observed > 0  # no change of rain: the what-if is the observed climate
    assert index_before and len(index_before[0]) > 400  # SPI-3 of 37 years, monthly

    set_input(page, "Precipitation change (%)", "-30")
    after = wait_for_change(page, "events-scenario", before)
    # the drier series is drawn (old data sources may linger in the document, so look for it)
    means_before = [sum(c) / len(c) for c in index_before]
    index_after = drawn(
        page,
        PLOTTED_COLUMNS,
        "drought_index",
        until="(c, below) => c.some(y => y.reduce((a, b) => a + b, 0) / y.length < below)",
        arg=min(means_before) - 0.3,
    )
    page.screenshot(path=artifacts_dir / "drought-app-drier.png", full_page=True)
    assert after > before + 2
    assert number_in(page, "events-baseline") == observed
    assert min(sum(c) / len(c) for c in index_after) < min(means_before) - 0.3
    assert page.evaluate(
        PLOTTED_COLUMNS, "observed_index"
    )  # the observed series drawn for comparison
