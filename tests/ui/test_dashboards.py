"""Twins as services, in headless Chromium against the real gateway, as people use them.

A new user finds the flood twin on the Twins page, opens its dashboard (the hub-managed
service, behind hub login), changes a widget and sees the plotted data change; the link with
the widget state opens the same view for a colleague. Logged-out visitors are sent to the
login; unknown or private twins get the service's 404 page; another user's server is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from twinhub.catalogs import build

from tests.support.browser import hub_login, screenshot
from tests.support.gateway import Gateway
from tests.support.panel_app import PLOTTED_MAXIMA, drawn

pytestmark = [pytest.mark.ui, pytest.mark.integration]

APPS = "/services/twinhub-apps"
STORM = "synthetic_storm_mm"  # the query key of the "Synthetic storm (mm)" widget


@pytest.fixture(scope="module")
def dashboards(gateway: Gateway) -> Gateway:
    """The session gateway with the demo data built in its state folder."""
    build.build_all(gateway.settings.state_dir / "data")
    return gateway


def new_page(browser: Browser) -> Page:
    page = browser.new_context(viewport={"width": 1366, "height": 850}).new_page()
    page.set_default_timeout(60_000)
    return page


@pytest.fixture
def pages(browser: Browser) -> Iterator[list[Page]]:
    opened: list[Page] = []
    yield opened
    for page in opened:
        page.context.close()


def logged_in(browser: Browser, pages: list[Page], gw: Gateway, name: str) -> Page:
    page = new_page(browser)
    pages.append(page)
    hub_login(page, gw.url, name, gw.user_password)
    page.wait_for_url(lambda url: "/hub/login" not in url)
    return page


def test_logged_out_dashboard_redirects_to_login(
    dashboards: Gateway, browser: Browser, pages: list[Page], artifacts_dir: Path
) -> None:
    page = new_page(browser)
    pages.append(page)
    page.goto(f"{dashboards.url}{APPS}/flood")
    page.wait_for_url("**/hub/login**")
    assert page.locator("#username_input").is_visible()
    screenshot(page, artifacts_dir, "dash-1-logged-out-redirected-to-login")
    # logging in there comes back to the dashboard
    page.fill("#username_input", "dora")
    page.fill("#password_input", dashboards.user_password)
    page.click("#login_submit")
    page.wait_for_url(f"**{APPS}/flood")


def test_new_user_opens_flood_dashboard_and_the_plot_follows_a_widget(
    dashboards: Gateway, browser: Browser, pages: list[Page], artifacts_dir: Path
) -> None:
    page = logged_in(browser, pages, dashboards, "nina")
    page.goto(f"{dashboards.url}/services/twinhub/twins")
    card = page.locator('.twin-card[data-twin="flood"]')
    card.wait_for()
    screenshot(page, artifacts_dir, "dash-2-twins-page")
    card.locator(".twin-dashboard").click()
    page.wait_for_url(f"**{APPS}/flood")
    expect(page.locator(".twinhub-user")).to_have_text("nina")  # the session knows the user
    before = drawn(page, PLOTTED_MAXIMA, timeout_ms=180_000)
    screenshot(page, artifacts_dir, "dash-3-flood-dashboard")

    storm = page.get_by_label("Synthetic storm (mm)")
    storm.fill("250")
    storm.press("Enter")
    after = drawn(
        page,
        PLOTTED_MAXIMA,
        until="(maxima, above) => maxima.some(m => m > above)",
        arg=max(before) + 100,
        timeout_ms=180_000,
    )
    assert max(after) > max(before) + 100, f"plotted peak stayed near {max(before):.1f}"
    screenshot(page, artifacts_dir, "dash-4-flood-after-storm")

    # the run is recorded in the registry under the person who clicked, not the service
    page.get_by_text("Record run in registry").click()
    page.get_by_text("saved to").wait_for()
    nina = dashboards.login("nina")
    with dashboards.client(headers=nina.headers) as c:
        runs = c.get("/services/twinhub/api/runs", params={"twin": "flood"}).json()["items"]
        assert [r["user"] for r in runs] == ["nina"]
        assert runs[0]["parameters"]["storm_mm"] == 250.0 and runs[0]["has_provenance"]
        prov = c.get(f"/services/twinhub/api/runs/{runs[0]['id']}/provenance").text
        assert "nina" in prov and "twinhub-apps" not in prov

    # the link carries the widget state: a colleague opening it sees the same storm
    query = parse_qs(urlsplit(page.url).query)
    assert query.get(STORM) == ["250.0"] or query.get(STORM) == ["250"], page.url
    colleague = logged_in(browser, pages, dashboards, "omar")
    colleague.goto(page.url)
    field = colleague.get_by_label("Synthetic storm (mm)")
    field.wait_for()
    assert float(field.input_value()) == 250.0
    screenshot(colleague, artifacts_dir, "dash-5-shared-link")

    # a link carrying the run (the Runs page's "in the dashboard"): its PROV one click away;
    # for the colleague, who may not read nina's runs, a note instead
    run_id = runs[0]["id"]
    colleague.goto(f"{dashboards.url}{APPS}/flood?run={run_id}")
    colleague.get_by_text(f"run='{run_id}' is not a run you may see").wait_for()
    page.goto(f"{dashboards.url}{APPS}/flood?storm_mm=250&run={run_id}")
    page.get_by_text(f"This link shows run {run_id} of flood by nina").wait_for()
    assert float(page.get_by_label("Synthetic storm (mm)").input_value()) == 250.0
    screenshot(page, artifacts_dir, "dash-5b-run-link")
    page.get_by_role("link", name="Its provenance (PROV)").click()
    page.wait_for_url(f"**/services/twinhub/runs/{run_id}/provenance")
    expect(page.locator("#provenance-document")).to_contain_text("nina")


def test_bad_links_get_a_404_page_and_a_visible_warning(
    dashboards: Gateway, browser: Browser, pages: list[Page], artifacts_dir: Path
) -> None:
    page = logged_in(browser, pages, dashboards, "nina")
    response = page.goto(f"{dashboards.url}{APPS}/no-such-twin")
    assert response is not None and response.status == 404  # a real 404, with a friendly page
    # the page's text lives in shadow roots: get_by_text pierces them
    page.get_by_text("404: no twin named “no-such-twin” is available to you").wait_for()
    assert page.get_by_role("link", name="Flood forecasting").count() == 1
    screenshot(page, artifacts_dir, "dash-6-unknown-twin-404")
    # with a trailing slash the page's files resolved below it and it never loaded
    slash = page.request.get(f"{dashboards.url}{APPS}/flood/?{STORM}=20", max_redirects=0)
    assert slash.status == 301
    assert slash.headers["location"].endswith(f"{APPS}/flood?{STORM}=20")

    page.goto(f"{dashboards.url}{APPS}/flood?ensemble_size=lots&{STORM}=-5&precipitation_scale=1.5")
    page.get_by_text("Some settings in the link could not be used").wait_for()
    page.get_by_text("ensemble_size='lots' was ignored").wait_for()
    page.get_by_text(f"{STORM}='-5' was ignored").wait_for()
    assert "Traceback" not in page.content()
    # the good value was applied, the bad ones kept their defaults
    assert page.get_by_label("Synthetic storm (mm)").input_value() in ("0", "0.0")
    screenshot(page, artifacts_dir, "dash-7-malformed-link-warning")


def test_other_users_server_and_private_twin_dashboard_are_refused(
    dashboards: Gateway, browser: Browser, pages: list[Page], artifacts_dir: Path
) -> None:
    # flood made private to Pia (a twin's code stays its own package's: no copy under a new name)
    admin = dashboards.login("admin", dashboards.admin_password)
    api = "/services/twinhub/api/twins/flood"
    with dashboards.client(headers=admin.headers) as c:
        public = c.get(api).json()["manifest"]
        pia_only = {"visibility": "private", "maintainers": [{"name": "Pia", "github": "pia"}]}
        r = c.put(api, json={**public, **pia_only})
        assert r.status_code < 300, r.text
    pia = dashboards.login("pia")
    dashboards.start_server(pia)
    try:
        page = logged_in(browser, pages, dashboards, "quinn")
        response = page.goto(f"{dashboards.url}/user/pia/lab")
        assert response is not None and response.status in (403, 404)
        screenshot(page, artifacts_dir, "dash-8-other-users-server-refused")

        response = page.goto(f"{dashboards.url}{APPS}/flood")
        assert response is not None and response.status == 404
        page.get_by_text("404: no twin named “flood” is available to you").wait_for()
        screenshot(page, artifacts_dir, "dash-9-private-twin-404")

        owner = logged_in(browser, pages, dashboards, "pia")
        owner.goto(f"{dashboards.url}{APPS}/flood")
        owner.get_by_label("Synthetic storm (mm)").wait_for()  # its audience gets the app
    finally:
        dashboards.stop_server(pia)
        with dashboards.client(headers=admin.headers) as c:
            assert c.put(api, json=public).status_code < 300
