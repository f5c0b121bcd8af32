"""The gwnoise dashboard in Chromium: a new detector curve redraws the spectra and the map."""

from __future__ import annotations

from pathlib import Path

import pytest
from twinhub.twins.gwnoise.app import create_app

from tests.support.panel_app import serve_factory, wait_for_text

pytestmark = pytest.mark.ui


def test_curve_change_redraws_spectra(page, artifacts_dir: Path) -> None:
    with serve_factory(lambda: create_app(duration=32), "gwnoise") as url:
        page.goto(url)
        wait_for_text(page, "witness subtraction gain")
        wait_for_text(page, "AdV, ")
        before = page.screenshot(full_page=True, path=str(artifacts_dir / "gwnoise-AdV.png"))
        page.locator("select").first.select_option("aLIGO")
        wait_for_text(page, "aLIGO, ")
        page.get_by_text("(updating...)").wait_for(state="hidden")
        after = page.screenshot(full_page=True, path=str(artifacts_dir / "gwnoise-aLIGO.png"))
        assert before != after
