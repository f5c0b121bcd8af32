"""Fixtures and helpers of the security tests: the registry on SQLite (the embedded default)
and, for the classes whose failure depended on the engine, on a real PostgreSQL as production
runs it; the real gateway's dashboard service (and the hub's pages around it) in headless
Chromium and over HTTP."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page
from twinhub.catalogs import build

from tests.support.browser import chromium, hub_login
from tests.support.gateway import Gateway
from tests.support.postgres import PostgresServer, postgres_or_skip
from tests.support.registry import Registry, start_registry_gateway
from tests.support.waiting import wait_for


def _registry(root: Path, log: Path, artifacts_dir: Path, env: dict | None = None):
    reg = start_registry_gateway(root, log, env)
    try:
        yield reg
    finally:
        reg.gateway.stop()
        shutil.copy(log, artifacts_dir / f"{log.stem}-session.log")


@pytest.fixture(scope="package")
def registry(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("security")
    yield from _registry(root, artifacts_dir / "security-gateway.log", artifacts_dir)


@pytest.fixture(scope="package")
def postgres() -> Iterator[PostgresServer]:
    with postgres_or_skip() as server:
        yield server


@pytest.fixture(scope="package")
def postgres_registry(
    tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path, postgres: PostgresServer
) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("security-pg")
    env = {"TWINHUB_DATABASE_URL": postgres.create_database("registry")}
    yield from _registry(root, artifacts_dir / "security-pg-gateway.log", artifacts_dir, env)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_registry(request: pytest.FixtureRequest) -> Registry:
    """Each test once per database engine: both must answer the same 4xx."""
    name = "registry" if request.param == "sqlite" else "postgres_registry"
    return request.getfixturevalue(name)


APPS = "/services/twinhub-apps"
T = TypeVar("T")


@pytest.fixture(scope="package")
def dashboards(gateway: Gateway) -> Gateway:
    """The session gateway with the demo data built in its state folder (twins can run)."""
    build.build_all(gateway.settings.state_dir / "data")
    return gateway


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per module (Playwright's sync API holds the main thread's event
    loop while it is open: the package's later tests run kernels and Dask clients)."""
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
    """Poll ``get`` until ``good`` holds for its value (:func:`tests.support.waiting.wait_for`)."""
    return wait_for(get, until=good, message=what, timeout=timeout, interval=0.2)


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
