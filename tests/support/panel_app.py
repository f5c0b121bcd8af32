"""Serve a twin's Panel app with ``panel serve`` and open it in headless Chromium (UI tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import panel as pn
from playwright.sync_api import Locator, Page

from tests.support.browser import hub_login
from tests.support.data import ensure_built
from tests.support.gateway import Gateway, free_ports
from tests.support.waiting import wait_for, wait_until_answers

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

# the largest value of every plotted series with a "discharge" column (the flood hydrograph)
PLOTTED_MAXIMA = """
() => {
  const maxima = [];
  for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
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


# every drawn series with a "discharge" column (the flood hydrograph), one row per renderer:
# [renderer id, shown?, sum of its values, largest value]
DISCHARGE_SERIES = """
() => {
  const rows = [];
  for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
    for (const model of doc.all_models) {
      if (model.type === "GlyphRenderer" || model.constructor.name === "GlyphRenderer") {
        const data = model.data_source.data;
        const column = data.get ? data.get("discharge") : data["discharge"];
        if (column && column.length) {
          const values = Array.from(column).filter(Number.isFinite);
          rows.push([model.id, model.visible, values.reduce((a, b) => a + b, 0),
                     Math.max(...values)]);
        }
      }
    }
  }
  return rows;
}
"""


def drawn(
    page: Page,
    script: str,
    of: object = None,
    *,
    until: str = "(value) => value.length > 0",
    arg: object = None,
    timeout_ms: float = 120_000,
) -> Any:
    """``script(of)`` (e.g. :data:`PLOTTED_COLUMNS`) once ``until(value, arg)`` holds.

    Playwright polls the page for that state, so a test reads a figure only once what it
    needs is drawn (a loaded page may not have drawn every curve yet).
    """
    handle = page.wait_for_function(
        f"""([of, arg]) => {{
          const value = ({script})(of);
          return ({until})(value, arg) ? value : null;
        }}""",
        arg=[of, arg],
        timeout=timeout_ms,
    )
    return handle.json_value()


def _wait_for(url: str, timeout: float) -> None:
    """Until the app's page answers. Serving it runs the app (its first model run): on a loaded
    machine that takes tens of seconds, so one request may take that long (a shorter request
    timeout would only start more sessions)."""
    wait_until_answers(
        url, timeout=timeout, timeout_each=timeout, message=f"the Panel app answering at {url}"
    )


@contextmanager
def served(app: str, log_path: Path, cwd: Path = REPO, timeout: float = 180) -> Iterator[str]:
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
            try:
                proc.wait(timeout=60)  # a loaded machine may still be building a session
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def serve_factory(factory: Callable, name: str, timeout: float = 180) -> Iterator[str]:
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
    return wait_for(
        lambda: number_in(page, css_class),
        until=lambda value: value != old,
        timeout=timeout,
        ignore=(IndexError, ValueError),  # not drawn yet
        message=f"the number in .{css_class} changed from {old}",
    )


@contextmanager
def served_twin(twin: str, artifacts: Path) -> Iterator[str]:
    """``panel serve twins/<twin>/app.py`` with the demo data built; its log in the artefacts."""
    ensure_built()
    with served(f"twins/{twin}/app.py", artifacts / f"{twin}-app.log") as url:
        yield url


def set_input(page: Page, label: str, value: str) -> None:
    """Type into the input widget of that label and commit it, as a person does."""
    field = page.get_by_label(label)
    field.fill(value)
    field.press("Enter")


def checkbox(page: Page, label: str) -> Locator:
    """The box of a Panel ``Checkbox`` with that label.

    Bokeh draws the label as a sibling ``div`` in the widget's shadow root, not as a
    ``<label>``, so ``get_by_label`` finds nothing; the widget's host element has the text.
    """
    return page.locator(".bk-Checkbox").filter(has_text=label).locator("input[type=checkbox]")


def downloaded_provenance(page: Page) -> str:
    """The PROV-JSON the dashboard's "Download provenance" button gives for the last run."""
    with page.expect_download() as download:
        page.get_by_text("Download provenance (PROV-JSON)").click()
    return Path(download.value.path()).read_text()


def record_in_registry(page: Page) -> str:
    """Click "Record run in registry" and return where the dashboard says the run went."""
    page.get_by_text("Record run in registry").click()
    saved = page.get_by_text("saved to")
    saved.wait_for(timeout=30_000)
    return saved.inner_text()


def open_in_service(page: Page, gw: Gateway, user: str, twin: str, query: str = "") -> None:
    """Log in at the hub as ``user`` and open the twin's dashboard in ``twinhub-apps``."""
    hub_login(page, gw.url, user, gw.user_password)
    page.wait_for_url(lambda url: "/hub/login" not in url)
    page.goto(f"{gw.url}/services/twinhub-apps/{twin}{'?' + query if query else ''}")


def registry_runs(gw: Gateway, user: str, twin: str) -> list[dict]:
    """The twin's runs the registry lists for ``user`` (asked with that user's own token)."""
    session = gw.login(user)
    with gw.client(headers=session.headers) as c:
        r = c.get("/services/twinhub/api/runs", params={"twin": twin})
        r.raise_for_status()
        return r.json()["items"]


def check_recorded_run(page: Page, gw: Gateway, user: str, twin: str, widgets: dict) -> Any:
    """The dashboard's last run, as its user gets it: PROV download, registry, replay.

    The downloaded PROV-JSON must parse, name ``user`` and hold ``widgets`` among its
    parameters; "Record run in registry" must list the run for that user (and no one else's);
    the replay (``twins.runs.replay``) raises unless every output is bit for bit the recorded
    one. Returns the replayed output.
    """
    from twinhub.twins.runs import RunRecord, replay

    document = downloaded_provenance(page)
    record = RunRecord.from_provenance(document)  # prov parses it
    assert (record.twin, record.agent, record.status) == (twin, user, "finished")
    assert {k: record.parameters[k] for k in widgets} == widgets
    assert "saved to" in record_in_registry(page)
    runs = registry_runs(gw, user, twin)
    assert [r["user"] for r in runs] == [user]
    assert runs[0]["parameters"] == record.parameters and runs[0]["has_provenance"]
    return replay(document)
