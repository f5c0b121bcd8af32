"""A person logs in at /hub/login, lands on the Twins page, and reaches JupyterLab through the
spawn form of their own server; a wrong password shows the error."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import hub_login, screenshot
from tests.support.gateway import Gateway

pytestmark = pytest.mark.ui


def test_login_reaches_jupyterlab(page: Page, gateway: Gateway, artifacts_dir: Path) -> None:
    page.goto(gateway.url)
    expect(page).to_have_url(f"{gateway.url}/hub/login?next=%2Fhub%2F")
    screenshot(page, artifacts_dir, "01-login-page")
    hub_login(page, gateway.url, "dana", gateway.user_password)
    # people land on the Twins page (twins first), their own server one click away
    page.wait_for_url(f"{gateway.url}/services/twinhub/twins")
    expect(page.locator(".twin-card").first).to_be_visible()
    screenshot(page, artifacts_dir, "01a-landing-twins-page")
    page.click("#own-server-start")
    # the spawn page offers the registry's profiles and twins; the defaults start a dev server
    page.wait_for_url(f"{gateway.url}/hub/spawn**")
    expect(page.locator("#twinhub-profile")).to_contain_text("Small")
    screenshot(page, artifacts_dir, "01b-spawn-options")
    page.click("#spawn_form button[type=submit]")
    # the hub spawns the server and redirects into JupyterLab's launcher
    page.wait_for_url(f"{gateway.url}/user/dana/lab**", timeout=120_000)
    expect(page.locator(".jp-LauncherCard").first).to_be_visible(timeout=120_000)
    expect(page).to_have_title("JupyterLab", timeout=30_000)
    screenshot(page, artifacts_dir, "02-jupyterlab")


def test_wrong_password_shows_the_error(page: Page, gateway: Gateway, artifacts_dir: Path) -> None:
    hub_login(page, gateway.url, "erin", "wrong-password")
    expect(page.locator(".login_error")).to_contain_text("Invalid username or password")
    expect(page).to_have_url(f"{gateway.url}/hub/login?next=")
    screenshot(page, artifacts_dir, "03-login-refused")
