"""A person schedules a twin on the Runs page, sees it listed, pauses and deletes it, and opens
a run's PROV from the page (headless Chromium against the session's real gateway: hub, proxy,
registry, run executor). The run is a quick lattice simulation the executor runs meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import hub_login, screenshot
from tests.support.gateway import Gateway
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.ui, pytest.mark.integration]

RUNS = "/services/twinhub/runs"
QUICK = {"temperatures": [2.0], "sizes": [4], "sweeps": 100, "thermalisation": 0, "replicas": 1}


def test_schedule_in_the_runs_page_and_open_a_runs_prov(
    gateway: Gateway, page: Page, artifacts_dir: Path
) -> None:
    rita = gateway.login("rita")
    with gateway.client(headers=rita.headers) as c:  # a run to look at, running meanwhile
        submitted = c.post(
            "/services/twinhub/ogcapi/processes/lattice/execution",
            json={"inputs": QUICK},
            headers={"Prefer": "respond-async"},
        )
        assert submitted.status_code == 201, submitted.text
        job = submitted.json()["jobID"]
    url = gateway.url
    hub_login(page, url, "rita", gateway.user_password)
    page.wait_for_url(lambda u: "/hub/login" not in u)
    page.goto(f"{url}{RUNS}")
    expect(page.locator("#no-schedules")).to_be_visible()

    # a schedule with a typo is refused, the field named, what was typed kept
    page.locator("#new-schedule summary").click()
    page.select_option("#schedule-process", "lattice")
    page.fill("#schedule-cron", "0 6 * *")
    page.fill("#schedule-parameters", '{"sweeps": 200}')
    page.click("#schedule-create")
    expect(page.locator("#twinhub-message")).to_contain_text("cron")
    expect(page.locator("#schedule-parameters")).to_have_value('{"sweeps": 200}')
    screenshot(page, artifacts_dir, "runs-1-schedule-refused")

    page.fill("#schedule-cron", "30 6 * * 1-5")
    page.fill("#schedule-timezone", "Europe/Berlin")
    page.select_option("#schedule-missed", "once")
    page.click("#schedule-create")
    page.wait_for_url(f"**{RUNS}?message=created*")
    row = page.locator("tr.schedule")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("lattice")
    expect(row.locator(".schedule-cron")).to_have_text("30 6 * * 1-5")
    expect(row).to_contain_text("Europe/Berlin")
    expect(row).to_contain_text('"sweeps": 200')
    screenshot(page, artifacts_dir, "runs-2-schedule-listed")
    row.locator(".schedule-toggle").click()
    expect(page.locator("tr.schedule .schedule-paused")).to_be_visible()
    page.locator("tr.schedule .schedule-delete").click()
    expect(page.locator("#no-schedules")).to_be_visible()
    with gateway.client(headers=rita.headers) as c:
        assert c.get("/services/twinhub/api/schedules").json() == []

    # the run, once the executor has run it: its PROV one click away
    def status() -> str:
        page.goto(f"{url}{RUNS}")
        return page.locator(f'tr.run[data-run="{job}"] .run-status').inner_text()

    wait_for(status, until=lambda s: s in ("successful", "failed", "dismissed"), timeout=300,
             interval=2, message=f"job {job} to finish")  # fmt: skip
    run = page.locator(f'#runs tr.run[data-run="{job}"]')
    expect(run.locator(".run-status")).to_have_text("successful")
    expect(run.locator(".run-replay")).to_be_visible()
    screenshot(page, artifacts_dir, "runs-3-run-finished")
    run.locator(".run-provenance-view").click()
    page.wait_for_url(f"**{RUNS}/{job}/provenance")
    expect(page.locator("h1")).to_contain_text(job)
    expect(page.locator("#provenance-document")).to_contain_text("rita")
    expect(page.locator("#provenance-document")).to_contain_text("prov:")
    screenshot(page, artifacts_dir, "runs-4-provenance")
