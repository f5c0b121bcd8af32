"""The lattice dashboard in Chromium: curves build up, and a new lattice size redraws them."""

from __future__ import annotations

from pathlib import Path

import pytest
from twinhub.twins.lattice.app import create_app

from tests.support.panel_app import serve_factory, wait_for_text

pytestmark = pytest.mark.ui


def test_size_change_redraws_curves(
    page,
    artifacts_dir: Path,
) -> None:
    with serve_factory(create_app, "lattice") as url:
        page.goto(url)
        wait_for_text(page, "9/9 temperatures done")
        wait_for_text(page, "L = 16")
        plots = page.locator(".bk-Canvas, canvas").first
        before = page.screenshot(full_page=True, path=str(artifacts_dir / "lattice-L16.png"))
        page.get_by_role("button", name="8", exact=True).click()
        wait_for_text(page, "L = 8")
        wait_for_text(page, "9/9 temperatures done")
        after = page.screenshot(full_page=True, path=str(artifacts_dir / "lattice-L8.png"))
        assert plots.is_visible()
        assert before != after
