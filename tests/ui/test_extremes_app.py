"""The extremes dashboard in headless Chromium: a higher hot-day threshold lowers the plotted
yearly series, and the return-level plot carries its bootstrap band."""

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
TWIN = "extremes"  # the app served by the ``app_url`` fixture (tests/ui/conftest.py)


def test_higher_threshold_lowers_the_hot_day_series(app_url, page, artifacts_dir) -> None:
    page.goto(app_url)
    page.locator(".indicator-mean").wait_for(timeout=120_000)
    # once the yearly series, the bootstrap band (a polygon) and the GEV return levels with the
    # annual maxima are drawn
    series_before = drawn(page, PLOTTED_COLUMNS, "value")
    band = drawn(page, PLOTTED_COLUMNS, "y")
    levels = drawn(page, PLOTTED_COLUMNS, "level", until="(c) => c.some(l => l.length === 6)")
    page.screenshot(path=artifacts_dir / "extremes-app-loaded.png", full_page=True)
    before = number_in(page, "indicator-mean")
    assert series_before and max(len(c) for c in series_before) == 37  # one value per year
    assert band and levels
    fitted = min(levels, key=len)  # six return periods (the maxima are 37 points)
    assert len(fitted) == 6
    assert min(band[0]) < min(fitted) and max(fitted) < max(band[0])

    set_input(page, "Threshold (°C)", "35")
    after = wait_for_change(page, "indicator-mean", before)
    # once the yearly series of the new mean is drawn
    series_after = drawn(
        page,
        PLOTTED_COLUMNS,
        "value",
        until="(c, mean) => c.some(y => y.length === 37 && "
        "Math.abs(y.reduce((a, b) => a + b, 0) / y.length - mean) < 0.01)",
        arg=after,
    )
    page.screenshot(path=artifacts_dir / "extremes-app-threshold.png", full_page=True)
    assert after < before - 10  # far fewer days above 35 °C than above 30 °C
    assert any(abs(sum(c) / len(c) - after) < 0.01 for c in series_after if len(c) == 37)
