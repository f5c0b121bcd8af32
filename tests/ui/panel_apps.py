"""Serve a twin's Panel app on a free loopback port and drive it from headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import panel as pn
import pytest
from playwright.sync_api import Page, sync_playwright


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app(factory: Callable, name: str) -> Iterator[str]:
    """``pn.serve`` in a thread, one session per page load; stopped on exit."""
    port = free_port()
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
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/{name}"
    finally:
        server.stop()


def wait_for_text(page: Page, text: str, timeout_ms: int = 90_000) -> None:
    """Wait until ``text`` is visible (Playwright's text locators pierce Panel's shadow DOM)."""
    page.get_by_text(text).first.wait_for(state="visible", timeout=timeout_ms)


CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def chromium_page() -> Iterator[Page]:
    """A fresh headless Chromium page (Debian's browser: Playwright cannot download one)."""
    with sync_playwright() as p:
        executable = os.environ.get("TWINHUB_CHROMIUM") or shutil.which("chromium")
        browser = p.chromium.launch(
            executable_path=executable or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()
