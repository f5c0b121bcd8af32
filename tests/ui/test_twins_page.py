"""A person opens the Twins page from the hub's nav bar, launches a twin, sees it running in
JupyterLab and on the page, and stops it (headless Chromium against a real gateway)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import hub_login, screenshot
from tests.support.registry import Registry, start_registry_gateway
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Registry]:
    log = artifacts_dir / "twins-page-gateway.log"
    reg = start_registry_gateway(tmp_path_factory.mktemp("twins-page"), log)
    try:
        yield reg
    finally:
        reg.gateway.stop()
        shutil.copy(log, artifacts_dir / "twins-page-gateway-session.log")


def servers(registry: Registry, who: str) -> dict:
    user = registry.users[who]
    with registry.gateway.client(headers=user.headers) as c:
        return c.get(f"/hub/api/users/{user.name}").json()["servers"]


def test_launch_and_stop_a_twin_from_the_twins_page(
    page: Page, registry: Registry, artifacts_dir: Path
) -> None:
    url = registry.gateway.url
    hub_login(page, url, "lena", registry.gateway.user_password)
    page.wait_for_url(f"{url}/services/twinhub/twins")  # where people land after login
    page.goto(f"{url}/hub/home")
    page.click("#twinhub-twins-link")  # the hub's nav bar links the registry's page
    page.wait_for_url(f"{url}/services/twinhub/twins")  # through hub OAuth, no extra login
    cards = page.locator(".twin-card")
    expect(cards).to_have_count(2)  # growth and lena's group twin; not carol's private one
    card = page.locator(".twin-card[data-twin='growth-lab']")
    expect(card).to_contain_text("Lab-only growth")
    expect(card).to_contain_text("environment")
    expect(card).to_contain_text("v1.0.0")
    expect(card).to_contain_text("Ada Maintainer")
    # the twin has a Panel app: its card opens the dashboard service
    dashboard = card.locator(".twin-dashboard")
    expect(dashboard).to_have_text("Open dashboard")
    assert dashboard.get_attribute("href").endswith("services/twinhub-apps/growth-lab")
    screenshot(page, artifacts_dir, "twins-01-page")

    card.locator("select[name=profile]").select_option("small")
    card.locator(".twin-launch").click()
    page.wait_for_url(f"{url}/user/lena/growth-lab/lab**", timeout=120_000)
    expect(page.locator(".jp-LauncherCard").first).to_be_visible(timeout=120_000)
    screenshot(page, artifacts_dir, "twins-02-jupyterlab")
    assert servers(registry, "lena")["growth-lab"]["user_options"]["twin"] == "growth-lab"

    page.goto(f"{url}/services/twinhub/twins")
    card = page.locator(".twin-card[data-twin='growth-lab']")
    expect(card.locator(".twin-status")).to_contain_text("running")
    expect(card.locator(".twin-open")).to_have_attribute("href", "/user/lena/growth-lab/lab")
    screenshot(page, artifacts_dir, "twins-03-running")

    card.locator(".twin-stop").click()
    page.wait_for_url(f"{url}/services/twinhub/twins**")
    wait_for(
        lambda: "growth-lab" not in servers(registry, "lena"),
        timeout=60,
        interval=1,
        message="the server growth-lab stopped",
    )
    assert "growth-lab" not in servers(registry, "lena")
    page.reload()
    card = page.locator(".twin-card[data-twin='growth-lab']")
    expect(card.locator(".twin-launch")).to_be_visible()
    expect(card.locator(".twin-status")).to_have_count(0)
    screenshot(page, artifacts_dir, "twins-04-stopped")
