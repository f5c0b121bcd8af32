"""Latency of the flood dashboard through the real service, in Chromium (``make bench``).

Two numbers a person feels: page load to the first plot, and a widget change to the plot
showing the new data (read from Bokeh's data sources in the page). Every widget of the flood
dashboard reruns the ensemble, so the update time includes a model run; the table says so.
Not part of ``make test`` (it measures, it does not check): ``make bench`` sets TWINHUB_BENCH.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from twinhub.catalogs import build

from tests.support.browser import chromium, hub_login
from tests.support.gateway import Gateway

pytestmark = pytest.mark.skipif(
    not os.environ.get("TWINHUB_BENCH"), reason="a benchmark: run it with `make bench`"
)
ROUNDS = int(os.environ.get("TWINHUB_BENCH_ROUNDS", "8"))
URL = "/services/twinhub-apps/flood"

PLOTTED_SUM = """
() => {
  let best = null;
  for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
    for (const m of doc.all_models) {
      if (m.type === "ColumnDataSource" || m.constructor.name === "ColumnDataSource") {
        const c = m.data.get ? m.data.get("discharge") : m.data["discharge"];
        if (c && c.length) best = (best ?? 0) + Array.from(c).reduce((a, b) => a + b, 0);
      }
    }
  }
  return best;
}
"""


@pytest.fixture(scope="module")
def page(gateway: Gateway) -> Iterator[Page]:
    build.build_all(gateway.settings.state_dir / "data")
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1366, "height": 850}).new_page()
        page.set_default_timeout(120_000)
        hub_login(page, gateway.url, "bench", gateway.user_password)
        page.wait_for_url(lambda url: "/hub/login" not in url)
        yield page


def wait_for_plot(page: Page, different_from: float | None, timeout: float = 180) -> float:
    """Poll every frame until the plotted discharge (sum of every series) exists and differs."""
    handle = page.wait_for_function(
        f"() => {{ const v = ({PLOTTED_SUM})(); return v !== null && v !== {different_from!r}"
        " ? v : null; }".replace("None", "null"),
        timeout=timeout * 1000,
        polling="raf",
    )
    return float(handle.json_value())


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{name:<44} {len(samples):>3} {statistics.median(samples):>10.0f} {p95:>10.0f}"


def test_flood_dashboard_latency(gateway: Gateway, page: Page) -> None:
    loads, updates = [], []
    for _ in range(max(2, ROUNDS // 2)):
        start = time.perf_counter()
        page.goto(f"{gateway.url}{URL}")
        value = wait_for_plot(page, None)
        loads.append(1000 * (time.perf_counter() - start))
    storm = page.get_by_label("Synthetic storm (mm)")
    for i in range(ROUNDS):
        storm.fill(str(50 + 25 * (i % 8)))
        start = time.perf_counter()
        storm.press("Enter")
        value = wait_for_plot(page, value)
        updates.append(1000 * (time.perf_counter() - start))
    toggles = []
    observed = page.get_by_label("Show observed discharge")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        observed.click()
        value = wait_for_plot(page, value)
        toggles.append(1000 * (time.perf_counter() - start))
    print()
    print(f"{'flood dashboard (through hub proxy)':<44} {'n':>3} {'median ms':>10} {'p95 ms':>10}")
    print(summary("page load -> first plot", loads))
    print(summary("storm change -> new plot (reruns ensemble)", updates))
    print(summary("observed on/off -> redrawn plot (no model run)", toggles))
    print(f"goal: median redraw without a model run < 150 ms: {statistics.median(toggles):.0f} ms")
    assert len(updates) == ROUNDS
