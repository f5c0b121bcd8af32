"""Headless Chromium (Debian's package) driven by Playwright, as a person uses the pages.

Playwright cannot download its own browsers here, so it launches /usr/bin/chromium with the
flags that keep Chromium off the (closed) network.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    path = os.environ.get("TWINHUB_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError(
            "Chromium is missing: `apt-get install -y chromium` (make test does it as root)"
        )
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, artifacts: Path, name: str) -> Path:
    """Save a full-page screenshot under the artefacts folder (kept by CI)."""
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def hub_login(page: Page, base_url: str, name: str, password: str) -> None:
    """Fill in and submit the hub's login form."""
    page.goto(f"{base_url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
