"""The lattice dashboard in Chromium: curves build up point by point, a new lattice size
redraws them, and a scan run in the dashboard service is one PROV record for the whole sweep,
under the person who ran it, listed by the registry and replayable bit for bit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from twinhub.twins.lattice.app import create_app

from tests.support.gateway import Gateway
from tests.support.panel_app import (
    check_recorded_run,
    open_in_service,
    serve_factory,
    wait_for_text,
)

pytestmark = pytest.mark.ui


def test_size_change_redraws_curves(
    page,
    artifacts_dir: Path,
) -> None:
    with serve_factory(create_app, "lattice") as url:
        page.goto(url)
        # the curves grow while the scan runs: some, not all, temperatures are drawn
        page.get_by_text(re.compile(r"[1-8]/9 temperatures running")).first.wait_for()
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


def test_service_run_is_recorded_for_its_user_and_replays(
    gateway: Gateway, page, artifacts_dir: Path
) -> None:
    open_in_service(page, gateway, "lara", "lattice", "size=8&sweeps=200&n_temperatures=3")
    wait_for_text(page, "L = 8")
    wait_for_text(page, "3/3 temperatures done", timeout_ms=180_000)
    page.screenshot(full_page=True, path=str(artifacts_dir / "lattice-service-run.png"))

    # the widget values (from the link) are the recorded parameters of the whole sweep
    widgets = {"theory": "ising", "quartic_coupling": 1.0, "sizes": [8], "sweeps": 200,
               "temperatures": [1.8, 2.4, 3.0], "algorithm": "wolff"}  # fmt: skip
    again = check_recorded_run(page, gateway, "lara", "lattice", widgets)
    assert again.temperature.values.tolist() == [1.8, 2.4, 3.0]
