"""The extremes dashboard in headless Chromium: a higher hot-day threshold lowers the plotted
yearly series, and the return-level plot carries its bootstrap band."""

from __future__ import annotations

import pytest

from tests.support.panel_app import (
    PLOTTED_COLUMNS,
    number_in,
    set_input,
    wait_for_change,
)

pytestmark = pytest.mark.ui
TWIN = "extremes"  # the app served by the ``app_url`` fixture (tests/ui/conftest.py)


def test_higher_threshold_lowers_the_hot_day_series(app_url, page, artifacts_dir) -> None:
    page.goto(app_url)
    page.locator(".indicator-mean").wait_for(timeout=120_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=artifacts_dir / "extremes-app-loaded.png", full_page=True)
    before = number_in(page, "indicator-mean")
    series_before = page.evaluate(PLOTTED_COLUMNS, "value")
    assert series_before and max(len(c) for c in series_before) == 37  # one value per year
    band = page.evaluate(PLOTTED_COLUMNS, "y")  # the bootstrap band, drawn as a polygon
    levels = page.evaluate(PLOTTED_COLUMNS, "level")  # GEV return levels and annual maxima
    assert band and levels
    fitted = min(levels, key=len)  # six return periods (the maxima are 37 points)
    assert len(fitted) == 6
    assert min(band[0]) < min(fitted) and max(fitted) < max(band[0])

    set_input(page, "Threshold (°C)", "35")
    after = wait_for_change(page, "indicator-mean", before)
    page.wait_for_timeout(1500)
    page.screenshot(path=artifacts_dir / "extremes-app-threshold.png", full_page=True)
    assert after < before - 10  # far fewer days above 35 °C than above 30 °C
    series_after = page.evaluate(PLOTTED_COLUMNS, "value")
    assert any(abs(sum(c) / len(c) - after) < 0.01 for c in series_after if len(c) == 37)
