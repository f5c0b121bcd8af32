"""The gwnoise dashboard in Chromium: a new detector curve redraws the spectra and the map, and
a run in the dashboard service leaves a PROV record under its user, listed by the registry and
replayable bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
from twinhub.twins.gwnoise.app import create_app

from tests.support.gateway import Gateway
from tests.support.panel_app import (
    check_recorded_run,
    open_in_service,
    serve_factory,
    wait_for_text,
)

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


def test_service_run_is_recorded_for_its_user_and_replays(
    gateway: Gateway, page, artifacts_dir: Path
) -> None:
    open_in_service(page, gateway, "gwen", "gwnoise", "duration=32&seed=4")
    wait_for_text(page, "witness subtraction gain", timeout_ms=180_000)
    page.get_by_text("(updating...)").wait_for(state="hidden")
    # a widget change in the page starts the run that is then recorded
    page.locator("select").first.select_option("aLIGO")
    wait_for_text(page, "aLIGO, ")
    page.get_by_text("(updating...)").wait_for(state="hidden")
    page.screenshot(full_page=True, path=str(artifacts_dir / "gwnoise-service-run.png"))
    assert page.locator("select").first.input_value() == "aLIGO"

    widgets = {"curve": "aLIGO", "duration": 32, "seed": 4, "glitch_rate": 0.2,
               "glitch_snr": 12.0, "witness_coupling": 3.0}  # fmt: skip
    again = check_recorded_run(page, gateway, "gwen", "gwnoise", widgets)
    assert again.attrs["curve"] == "aLIGO"
