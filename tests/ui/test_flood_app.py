"""The flood dashboard in headless Chromium: it loads; a bigger storm raises the plotted peak."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.support.data import ensure_built

pytestmark = pytest.mark.ui

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip

# the largest value of every plotted series that has a "discharge" column (read from Bokeh's
# own data sources: what is drawn, not what the server thinks it sent)
PLOTTED_MAXIMA = """
() => {
  const maxima = [];
  for (const doc of window.Bokeh.documents) {
    for (const model of doc.all_models) {
      if (model.type === "ColumnDataSource" || model.constructor.name === "ColumnDataSource") {
        const column = model.data.get ? model.data.get("discharge") : model.data["discharge"];
        if (column && column.length) maxima.push(Math.max(...Array.from(column)));
      }
    }
  }
  return maxima;
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory) -> Path:
    """The working folder of the app's process (where locally kept run records go)."""
    return tmp_path_factory.mktemp("flood-app")


@pytest.fixture(scope="module")
def app_url(artifacts_dir: Path, app_dir: Path) -> Iterator[str]:
    """``panel serve twins/flood/app.py`` as a user would start it."""
    ensure_built()
    port = free_port()
    log = open(artifacts_dir / "flood-app.log", "w")  # noqa: SIM115 - closed below
    env = {**os.environ, "TWINHUB_API_URL": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", str(REPO / "twins" / "flood" / "app.py"),
         "--port", str(port),
         "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
        cwd=app_dir, stdout=log,
        stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/app"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"panel serve did not answer at {url}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture
def page(artifacts_dir: Path) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        try:
            yield page
        finally:
            browser.close()


def wait_for_dashboard(page: Page, artifacts_dir: Path, name: str) -> None:
    """Until the first ensemble is drawn; a screenshot shows what the user saw if it never is."""
    try:
        page.locator(".peak-median").wait_for(timeout=120_000)
    except Exception:
        page.screenshot(path=artifacts_dir / f"{name}-failed.png", full_page=True)
        raise


def peak_indicator(page: Page) -> float:
    texts = page.locator(".peak-median div").all_inner_texts()
    numbers = [t.strip() for t in texts if t.strip().replace(".", "", 1).isdigit()]
    return float(numbers[-1])


def wait_for_peak_change(page: Page, old: float, timeout: float = 90) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = peak_indicator(page)
            if value != old:
                return value
        except Exception:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the peak stayed at {old}")


def test_bigger_storm_raises_the_plotted_peak(app_url: str, page: Page, artifacts_dir) -> None:
    page.goto(app_url)
    wait_for_dashboard(page, artifacts_dir, "flood-app-storm")
    page.wait_for_timeout(1000)
    page.screenshot(path=artifacts_dir / "flood-app-loaded.png", full_page=True)
    before = peak_indicator(page)
    plotted_before = page.evaluate(PLOTTED_MAXIMA)
    assert plotted_before, "no discharge series found in the Bokeh plot"
    assert page.get_by_text("P(exceed 2-year flood").count() == 1

    storm = page.get_by_label("Synthetic storm (mm)")
    storm.fill("250")
    storm.press("Enter")
    after = wait_for_peak_change(page, before)
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
    with page.expect_download() as download:
        page.get_by_text("Download provenance (PROV-JSON)").click()
    document = Path(download.value.path()).read_text()
    record = RunRecord.from_provenance(document)  # prov parses it
    assert record.twin == "flood" and record.inputs[0].entry == "fulda_daily"
    assert record.parameters["ensemble_size"] == 20

    page.get_by_text("Record run in registry").click()
    page.get_by_text("saved to").wait_for(timeout=30_000)
    kept = list((app_dir / "twinhub-runs").glob("flood-*.prov.json"))
    assert len(kept) == 1
