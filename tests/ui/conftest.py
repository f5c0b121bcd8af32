"""Browser fixtures: one Chromium for the UI tests, a fresh context (cookies) per test.

The browser lives for the ``tests/ui`` package only: Playwright's sync API keeps an event loop
running in the main thread while it is open, which would break later tests that call
``asyncio.run`` or start Dask clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import chromium
from tests.support.panel_app import served_twin


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def app_url(request: pytest.FixtureRequest, artifacts_dir: Path) -> Iterator[str]:
    """``panel serve twins/<TWIN>/app.py`` (demo data built) for a module that sets ``TWIN``."""
    with served_twin(request.module.TWIN, artifacts_dir) as url:
        yield url
