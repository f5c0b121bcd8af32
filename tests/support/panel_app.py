"""Serve a twin's Panel app with ``panel serve`` and open it in headless Chromium (UI tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import panel as pn
from playwright.sync_api import Page

from tests.support.gateway import free_ports

REPO = Path(__file__).resolve().parents[2]

# every numeric column of every Bokeh data source, by column name: what is drawn in the page
PLOTTED_COLUMNS = """
(name) => {
  const found = [];
  for (const doc of window.Bokeh.documents) {
    for (const model of doc.all_models) {
      if (model.type === "ColumnDataSource" || model.constructor.name === "ColumnDataSource") {
        const column = model.data.get ? model.data.get(name) : model.data[name];
        if (column && column.length) found.push(Array.from(column).filter(Number.isFinite));
      }
    }
  }
  return found;
}
"""


def _wait_for(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Panel server did not answer at {url}")


@contextmanager
def served(app: str, log_path: Path, cwd: Path = REPO, timeout: float = 60) -> Iterator[str]:
    """``panel serve <app>`` on a free loopback port, as a user would start it; yields the URL."""
    (port,) = free_ports(1)
    env = {**os.environ, "TWINHUB_API_URL": ""}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", app, "--port", str(port),
             "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
            cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/app"
        try:
            _wait_for(url, timeout)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@contextmanager
def serve_factory(factory: Callable, name: str, timeout: float = 30) -> Iterator[str]:
    """``pn.serve`` of an app factory in a thread (for apps built with test arguments)."""
    (port,) = free_ports(1)
    server = pn.serve(
        {name: factory},
        port=port,
        address="127.0.0.1",
        websocket_origin=[f"127.0.0.1:{port}"],
        show=False,
        threaded=True,
        start=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/{name}"
        _wait_for(url, timeout)
        yield url
    finally:
        server.stop()


def wait_for_text(page: Page, text: str, timeout_ms: int = 90_000) -> None:
    """Wait until ``text`` is visible (Playwright's text locators pierce Panel's shadow DOM)."""
    page.get_by_text(text).first.wait_for(state="visible", timeout=timeout_ms)


def number_in(page: Page, css_class: str) -> float:
    """The value shown by a ``pn.indicators.Number`` with that CSS class."""
    texts = page.locator(f".{css_class} div").all_inner_texts()
    numbers = [t.strip() for t in texts if t.strip().replace(".", "", 1).lstrip("-").isdigit()]
    return float(numbers[-1])


def wait_for_change(page: Page, css_class: str, old: float, timeout: float = 90) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = number_in(page, css_class)
            if value != old:
                return value
        except (IndexError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"the number in .{css_class} stayed at {old}")
