"""Bring your own twin, in the browser (issue 17 section 4), against the session's real gateway.

alice scaffolds a twin in her server's root as her own account (``twinhub new``, as in her
terminal) and shares it with a group bob is in; in Chromium she opens "Twin dashboards" in her
server and clicks **Publish**: the platform builds and tests it and the page shows it served
(and, clicked again, the registry's refusal of the same archive).
bob finds it on the Twins page, opens its dashboard (the twin's own process, in its built
environment), runs it with another threshold (its slider, from the keyboard), records the run,
and downloads its PROV-JSON from the Runs page (parsed: bob is its agent). carol, not in the
group, gets 404 for its dashboard and its registry entry. Its dashboard opens once a published
twin's process runs as its owner (branch ownerapps): the apps account cannot read the owner's
built environment.
"""

from __future__ import annotations

import csv
from pathlib import Path

import prov
import pytest
from playwright.sync_api import Browser, Page, expect
from prov.model import ProvAgent

from tests.support.browser import hub_login, screenshot
from tests.support.gateway import Gateway
from tests.support.publishing import as_user, user_home
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.ui, pytest.mark.integration]

NAME = "warm-days"
GROUP = "warm-lab"
APPS = "/services/twinhub-apps"
TWINS = "/services/twinhub/twins"
RUNS = "/services/twinhub/runs"


def logged_in(browser: Browser, gw: Gateway, name: str) -> Page:
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    hub_login(page, gw.url, name, gw.user_password)
    page.wait_for_url(lambda url: "/hub/login" not in url)
    return page


def test_alice_publishes_from_her_preview_bob_runs_it_carol_gets_404(
    gateway: Gateway, browser: Browser, artifacts_dir: Path
) -> None:
    gw = gateway
    admin = gw.login("admin", gw.admin_password)
    alice, carol = gw.login("alice"), gw.login("carol")
    gw.login("bob")  # a hub user before joining the group
    with gw.client(headers=admin.headers) as c:
        c.post(f"/hub/api/groups/{GROUP}", json={}).raise_for_status()
        c.post(f"/hub/api/groups/{GROUP}/users", json={"users": ["bob"]}).raise_for_status()

    home = user_home(gw, "alice")
    made = as_user(gw, alice, "new", NAME, cwd=home)
    assert made.returncode == 0, made.stderr
    manifest = home / NAME / "twin.yaml"
    manifest.write_text(
        manifest.read_text().replace("visibility: private", f"visibility: {{groups: [{GROUP}]}}")
    )
    gw.start_server(alice)
    pages: list[Page] = []
    try:
        # alice: Publish in her server's "Twin dashboards"
        page = logged_in(browser, gw, "alice")
        pages.append(page)
        page.goto(f"{gw.url}/user/alice/panel/", timeout=180_000)
        folder = page.locator(f'li.twin-folder[data-folder="{NAME}"]')
        folder.locator("button.publish").click()
        status = page.locator(f"#publish-status-{NAME}")
        state = wait_for(
            lambda: status.get_attribute("data-state"),
            until=lambda s: s in ("served", "failed", "refused"),
            timeout=600,
            interval=1,
            message=f"{NAME} published",
        )
        screenshot(page, artifacts_dir, "publish-1-served-in-preview")
        assert state == "served", status.inner_text()
        expect(status.get_by_role("link", name="Open dashboard")).to_have_attribute(
            "href", f"{APPS}/{NAME}"
        )
        # the same folder again: the registry's refusal, shown as its text
        folder.locator("button.publish").click()
        expect(status).to_have_attribute("data-state", "refused")
        expect(status.locator("pre")).to_have_text(
            f"the registry answered 409:\nthis archive is version 1 of '{NAME}' already "
            "(served): change a file to publish a new version"
        )
        screenshot(page, artifacts_dir, "publish-1b-same-archive-refused")

        # bob: the Twins page, its dashboard, a run, its PROV
        page = logged_in(browser, gw, "bob")
        pages.append(page)
        page.goto(f"{gw.url}{TWINS}")
        card = page.locator(f'.twin-card[data-twin="{NAME}"]')
        card.locator(".twin-dashboard").click()
        page.wait_for_url(f"**{APPS}/{NAME}**")
        summary = page.locator("p", has_text="Warm days:")  # "**Warm days:** <n>"
        summary.wait_for(timeout=180_000)
        before = summary.inner_text()
        # the threshold slider (the other one, the window's, ends at 30): 2.5 °C lower
        threshold = page.locator('[role="slider"][aria-valuemax="60.0"]')
        threshold.focus()
        threshold.press("PageDown")
        threshold.press("PageDown")
        expect(threshold).to_have_attribute("aria-valuenow", "15.0")
        expect(summary).not_to_have_text(before, timeout=120_000)
        # checked against the twin's own data file, counted here without its model
        with (home / NAME / "data" / "sample.csv").open() as f:
            tmean = [float(row["tmean"]) for row in csv.DictReader(f)]
        assert before.split() == ["Warm", "days:", str(sum(t > 20 for t in tmean))]
        assert summary.inner_text().split() == ["Warm", "days:", str(sum(t > 15 for t in tmean))]
        screenshot(page, artifacts_dir, "publish-2-bob-runs-dashboard")
        page.get_by_text("Record run in registry").click()
        page.get_by_text("saved to").wait_for()

        page.goto(f"{gw.url}{RUNS}")
        run = page.locator("tr.recorded-run", has_text=NAME)
        expect(run).to_have_count(1)
        screenshot(page, artifacts_dir, "publish-3-bob-runs-page")
        with page.expect_download() as download:
            run.locator(".run-provenance").click()
        document = prov.read(download.value.path(), format="json").flattened()
        agents = [str(a.identifier) + str(a.attributes) for a in document.get_records(ProvAgent)]
        assert any("bob" in a for a in agents), agents

        # carol, not in the group: 404 for the dashboard and the registry entry
        page = logged_in(browser, gw, "carol")
        pages.append(page)
        response = page.goto(f"{gw.url}{APPS}/{NAME}")
        assert response is not None and response.status == 404
        with gw.client(headers=carol.headers) as c:
            assert c.get(f"/services/twinhub/api/twins/{NAME}").status_code == 404
    finally:
        for p in pages:
            p.context.close()
        gw.stop_server(alice)
