"""Serve a twin's Panel app with ``panel serve`` and open it in headless Chromium (UI tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Page

from tests.support.browser import chromium

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(app: str, log_path: Path, timeout: float = 60) -> Iterator[str]:
    """``panel serve <app>`` on a free loopback port, as a user would start it; yields the URL."""
    port = free_port()
    env = {**os.environ, "TWINHUB_API_URL": ""}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", app, "--port", str(port),
             "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/app"
        try:
            deadline = time.monotonic() + timeout
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


@contextmanager
def chromium_page() -> Iterator[Page]:
    """A page of Debian's Chromium (``tests.support.browser``), sized for the dashboards."""
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1400, "height": 1000})


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
