"""Browser test (b): a person opens the flood twin in JupyterLab from the page they land on,
runs the notebook's first cells in JupyterLab itself (Shift+Enter, as people do), including the
cell that starts a Dask Gateway cluster, and opens that cluster's dashboard link through the
hub's proxy: the Bokeh task-stream page shows the tasks of the calibration it runs.

Real components throughout: hub, registry, spawner, JupyterLab, the twinhub kernel, Dask
Gateway with a worker process, headless Chromium. Bounded to about two minutes of work.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from twinhub.catalogs import build
from twinhub.kernels.install import install
from twinhub.twins import showcase

from tests.support.browser import hub_login, screenshot
from tests.support.gateway import Gateway, cluster_names
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.ui, pytest.mark.integration]

USER = "jules"
CLUSTER_CELL = 7  # `c = cluster(); client = c.get_client(); client` in flood.ipynb
CALIBRATION_CELL = 8  # differential evolution with the cluster's workers

# every Bokeh figure title and the number of tasks drawn in the task stream (its rectangles'
# data source carries one row per finished task, with "start", "duration" and "worker")
TASK_STREAM = """
() => {
  const out = {titles: [], tasks: 0};
  for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
    for (const model of doc.all_models) {
      const title = model.title;
      if (title && typeof title === "object" && "text" in title) out.titles.push(title.text);
      if (model.type === "ColumnDataSource" || model.constructor.name === "ColumnDataSource") {
        const data = model.data;
        const get = (key) => (data.get ? data.get(key) : data[key]);
        if (get("start") && get("duration") && get("worker") && get("key")) {
          // the figure starts with one invisible placeholder row whose key is "start"
          const real = Array.from(get("key")).filter((key) => key !== "start").length;
          out.tasks = Math.max(out.tasks, real);
        }
      }
    }
  }
  return out;
}
"""

# whether the selected cell of the notebook shown is the n-th (counting from 0)
ACTIVE_CELL_IS = """
(n) => [...document.querySelectorAll(
  ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"
)].findIndex((cell) => cell.classList.contains("jp-mod-active")) === n
"""


@pytest.fixture(scope="module")
def lab_gateway(gateway: Gateway) -> Iterator[Gateway]:
    """The session gateway with data, showcases and the twinhub kernel; jules's servers
    stopped at the end whatever happens."""
    data = gateway.settings.state_dir / "data"
    build.build_all(data)
    showcase.build_all(data)
    install(prefix=sys.prefix)  # the kernelspec, as `make install` installs it
    yield gateway
    user = gateway.login(USER)
    with gateway.client(headers=user.headers) as c:
        servers = c.get(f"/hub/api/users/{USER}").json().get("servers", {})
    for name in servers:
        gateway.stop_server(user, name)


def run_cells(page: Page, count: int) -> None:
    """Select the first cell and press Shift+Enter ``count`` times (run, move to the next)."""
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.keyboard.press("Escape")  # command mode: Shift+Enter runs the selected cell
    for index in range(1, count + 1):
        page.keyboard.press("Shift+Enter")
        # the next key press goes to the next cell only once JupyterLab has selected it
        page.wait_for_function(ACTIVE_CELL_IS, arg=index)


def test_notebook_in_jupyterlab_starts_a_cluster_and_its_task_stream_opens(
    lab_gateway: Gateway, browser: Browser, artifacts_dir: Path
) -> None:
    gw = lab_gateway
    started = time.monotonic()
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        hub_login(page, gw.url, USER, gw.user_password)
        page.wait_for_url(f"{gw.url}/services/twinhub/twins")
        card = page.locator(".twin-card[data-twin='flood']")
        expect(card.locator(".twin-thumbnail")).to_be_visible(timeout=30_000)
        loaded = "imgs => imgs.map(img => img.complete && img.naturalWidth)"
        page.wait_for_function(
            "() => [...document.querySelectorAll('.twin-thumbnail')]"
            ".every(img => img.complete && img.naturalWidth > 0)"
        )
        widths = page.locator(".twin-thumbnail").evaluate_all(loaded)
        assert len(widths) == 5 and all(w > 200 for w in widths), widths  # every figure drawn
        expect(card.locator(".twin-skill").first).to_contain_text("NSE, validation")
        screenshot(page, artifacts_dir, "b-1-landing-page")

        card.locator(".twin-launch").click()  # "Open in JupyterLab": the twin's named server
        page.wait_for_url(re.compile(rf"/user/{USER}/flood/lab/tree/flood/flood\.ipynb"))
        notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
        expect(notebook.locator(".jp-Cell").first).to_be_visible(timeout=90_000)
        kernel = page.locator(".jp-NotebookPanel-toolbar .jp-KernelName").first
        expect(kernel).to_contain_text("twinhub", timeout=60_000)
        expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
            1, timeout=90_000
        )
        screenshot(page, artifacts_dir, "b-2-notebook-opened")

        run_cells(page, CLUSTER_CELL + 1)  # markdown and code cells 0..7, as a reader would
        link = notebook.locator(".jp-OutputArea-output a[href*='/services/dask-gateway/clusters/']")
        expect(link.first).to_be_visible(timeout=180_000)
        href = link.first.get_attribute("href")
        assert href and href.startswith(f"{gw.url}/services/dask-gateway/clusters/"), href
        cluster = href.split("/clusters/")[1].split("/")[0]
        outputs = notebook.locator(".jp-Cell").nth(5).locator(".jp-OutputArea-output")
        expect(outputs.first).to_contain_text(
            "2-year flood", timeout=30_000
        )  # the data cells ran before it
        page.keyboard.press("Shift+Enter")  # the calibration: tasks for the cluster's workers
        screenshot(page, artifacts_dir, "b-3-notebook-cluster-started")

        user = gw.login(USER)
        assert cluster in cluster_names(gw, user)  # the cluster is the user's, on the gateway

        dash = context.new_page()
        dash.set_default_timeout(60_000)
        response = dash.goto(href)  # through the hub's proxy to the gateway's dashboard proxy
        assert response is not None and response.status == 200
        seen = wait_for(
            lambda: dash.evaluate(TASK_STREAM),
            until=lambda seen: "Task Stream" in seen["titles"] and seen["tasks"] >= 4,
            timeout=120,
            interval=1,
            message="a task stream with 4 tasks drawn",
        )
        assert "Task Stream" in seen["titles"], seen
        assert seen["tasks"] >= 4, f"the task stream drew {seen['tasks']} tasks"
        screenshot(dash, artifacts_dir, "b-4-dask-task-stream")
        page.bring_to_front()
        screenshot(page, artifacts_dir, "b-5-notebook-calibrating")

        # back on the Twins page the twin shows as running; its button reopens the notebook
        page.goto(f"{gw.url}/services/twinhub/twins")
        card = page.locator(".twin-card[data-twin='flood']")
        expect(card.locator(".twin-status")).to_contain_text("running")
        notebook_url = f"/user/{USER}/flood/lab/tree/flood/flood.ipynb"
        expect(card.locator(".twin-open")).to_have_attribute("href", notebook_url)
        screenshot(page, artifacts_dir, "b-6-twins-page-running")
    finally:
        context.close()

    # stopping the twin's server stops its cluster (the hub's post_stop_hook)
    user = gw.login(USER)
    gw.stop_server(user, "flood")
    wait_for(
        lambda: cluster not in cluster_names(gw, user),
        timeout=60,
        interval=1,
        message=f"the server's cluster {cluster} stopped",
    )
    assert cluster not in cluster_names(gw, user)
    assert time.monotonic() - started < 420  # bounded, even on a loaded machine
