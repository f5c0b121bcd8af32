"""Untrusted text on dashboard pages is shown as text: a twin name from the URL, a query value
and a run's error message that are Markdown links or images stay literal text, in Chromium and
in the panes the service builds (no <a>/<img> pointing elsewhere in a page users trust)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from bokeh.document import Document
from playwright.sync_api import Browser, Page
from twinhub.twins.lattice.app import LatticeDashboard

from tests.support.browser import screenshot
from tests.support.gateway import Gateway

from .conftest import APPS, chromium_page

LINK = "[log in](http://evil.example)"
IMAGE = "![x](http://evil.example/x.png)"
INJECTED = 'a[href*="evil.example"], img[src*="evil.example"]'  # pierces shadow roots


@pytest.fixture
def page(browser: Browser, dashboards: Gateway) -> Iterator[Page]:
    with chromium_page(browser, dashboards, "eve") as page:
        yield page


@pytest.mark.integration
@pytest.mark.ui
def test_twin_name_from_the_url_is_text(
    page: Page, dashboards: Gateway, artifacts_dir: Path
) -> None:
    for name in (LINK, IMAGE):
        response = page.goto(f"{dashboards.url}{APPS}/{quote(name, safe='')}")
        assert response is not None and response.status == 404
        page.get_by_text(f"no twin named “{name}”").wait_for()  # shown literally
        assert page.locator(INJECTED).count() == 0, name
    screenshot(page, artifacts_dir, "security-twin-name-as-text")


@pytest.mark.integration
@pytest.mark.ui
def test_query_values_are_text_in_the_warning(
    page: Page, dashboards: Gateway, artifacts_dir: Path
) -> None:
    query = f"curve={quote(LINK)}&seed={quote(IMAGE)}"
    page.goto(f"{dashboards.url}{APPS}/gwnoise?{query}")
    page.get_by_text("Some settings in the link could not be used").wait_for()
    page.get_by_text(LINK, exact=False).first.wait_for()
    page.get_by_text(IMAGE, exact=False).first.wait_for()
    assert page.locator(INJECTED).count() == 0
    screenshot(page, artifacts_dir, "security-query-values-as-text")


def rendered_html(pane) -> str:
    """What the browser receives for a pane (Bokeh's HTML model carries it escaped)."""
    return html.unescape(pane.get_root(Document()).text)


def test_a_run_error_is_text() -> None:
    dashboard = LatticeDashboard()
    dashboard.error = f"run failed for input {LINK} {IMAGE}"
    shown = rendered_html(dashboard.error_view())
    assert LINK in shown and IMAGE in shown
    assert "<a " not in shown and "<img" not in shown
