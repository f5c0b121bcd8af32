"""Hostile input against the real gateway's dashboard service (and the hub's pages around it).

Every test here tries one class of attack (untrusted text, missing headers, oversized links,
secrets in logs, a stalled registry) on the session's gateway, the way an attacker or a
careless user would, over HTTP or in headless Chromium.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page
from twinhub.catalogs import build

from tests.support.browser import chromium, hub_login
from tests.support.gateway import Gateway

APPS = "/services/twinhub-apps"
T = TypeVar("T")


@pytest.fixture(scope="package")
def dashboards(gateway: Gateway) -> Gateway:
    """The session gateway with the demo data built in its state folder (twins can run)."""
    build.build_all(gateway.settings.state_dir / "data")
    return gateway


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the package (Playwright's sync API holds the main thread's
    event loop while it is open: tests after this package must not share it)."""
    with chromium() as b:
        yield b


@contextmanager
def chromium_page(browser: Browser, gw: Gateway, name: str) -> Iterator[Page]:
    """A 1400×900 page of a user logged in at the hub (a context of its own: own cookies)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(90_000)
    try:
        hub_login(page, gw.url, name, gw.user_password)
        page.wait_for_url(lambda url: "/hub/login" not in url)
        yield page
    finally:
        context.close()


def until(get: Callable[[], T], good: Callable[[T], bool], what: str, timeout: float = 90) -> T:
    """Poll ``get`` until ``good`` holds for its value (a condition, with a generous bound)."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if good(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(0.2)


@contextmanager
def dashboard_browser(gw: Gateway, name: str):
    """An HTTP client of a logged-in hub user (the hub's cookies), not yet logged in to the
    dashboard service; ``oauth`` collects the ``code`` and ``state`` of each OAuth callback."""
    user = gw.login(name)
    oauth: list[dict[str, str]] = []

    def remember(request: httpx.Request) -> None:
        if request.url.path.endswith("/oauth_callback"):
            query = parse_qs(urlsplit(str(request.url)).query)
            oauth.append({k: v[0] for k, v in query.items()})

    with gw.client(cookies=user.cookies, event_hooks={"request": [remember]}) as c:
        c.oauth = oauth  # type: ignore[attr-defined]
        yield c


def open_dashboard(c: httpx.Client, path: str, **params: str) -> httpx.Response:
    """GET a dashboard path through the whole login round trip (redirects followed)."""
    return c.get(f"{APPS}/{path}", params=params, follow_redirects=True)
