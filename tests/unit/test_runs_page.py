"""The Runs page in-process: runs mine and shared with me, PROV, replay, schedules in forms.

The registry app over a real SQLite file (``tests.unit.test_schedules.Registry``). The page
authenticates as browsers do, through the hub's answer about a token: the hub is not running
here, so its answer (``HubOAuth.user_for_token``) is given per token, users as the hub would
vouch for them. Everything else is the registry as it runs: routes, XSRF, validation, database.
"""

from __future__ import annotations

import html
import re

import pytest
from twinhub.contracts.names import REGISTRY_SERVICE, SCOPE_RUNS_READ
from twinhub.extensions.registry import jobs
from twinhub.extensions.registry.auth import XSRF
from twinhub.extensions.registry.db import Job
from twinhub.extensions.registry.schedules import Schedule

from tests.unit.test_schedules import Clock, Registry, utc

PAGES = "/services/twinhub"
HOSTILE = '<script>alert("x")</script>'
SCOPES = {"alice": [], "bob": [], "mia": [SCOPE_RUNS_READ]}
"""mia may read every run (custom:twinhub:runs:read, as twin maintainers and admins)."""


class Browser:
    """A user's requests to the registry's pages, with the page's XSRF value."""

    def __init__(self, registry: Registry, name: str):
        self.registry, self.name = registry, name
        self.xsrf = registry.app.state.auth.signed(XSRF, name)

    def get(self, path: str):
        return self.registry.http.get(PAGES + path, headers=self._headers())

    def post(self, path: str, xsrf: str | None = None, **form):
        data = {"xsrf": self.xsrf if xsrf is None else xsrf, **form}
        return self.registry.http.post(
            PAGES + path, data=data, headers=self._headers(), follow_redirects=False
        )

    def api(self, method: str, path: str):
        return self.registry.http.request(method, f"{PAGES}/api{path}", headers=self._headers())

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.name}-token"}


@pytest.fixture
def site(tmp_path, monkeypatch) -> Registry:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "test-service-token")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_NAME", REGISTRY_SERVICE)  # its access scope
    registry = Registry(tmp_path, Clock(utc(2026, 10, 23, 12, 0)))
    hub = registry.app.state.auth.hub

    async def user_for_token(token: str, sync: bool = True, **kwargs):
        name = token.removesuffix("-token")
        if name not in SCOPES:
            return None
        scopes = [*SCOPES[name], *hub.access_scopes]
        return {"name": name, "kind": "user", "groups": [], "scopes": scopes}

    hub.user_for_token = user_for_token
    registry.app.dependency_overrides.clear()  # the API too asks "the hub" above
    return registry


def finished_job(registry: Registry, owner: str, **inputs) -> str:
    """A flood job as the executor leaves a successful one (state, outputs, PROV)."""
    store = registry.app.state.store
    with store.transaction() as s:
        job_id = jobs.submit(s, owner=owner, process="flood", inputs=inputs)
    with store.transaction() as s:
        job = s.get(Job, job_id)
        job.status, job.outputs = jobs.SUCCESSFUL, {"result": "result.nc"}
        job.provenance = {"entity": {"twinhub:output": {"twinhub:note": HOSTILE}}}
    return job_id


def run_ids(page: str, table: str) -> list[str]:
    match = re.search(rf'<table[^>]*id="{table}".*?</table>', page, re.S)
    return re.findall(r'data-run="([0-9a-f]+)"', match.group(0)) if match else []


def test_runs_page_shows_mine_and_runs_shared_by_the_registry_rule(site) -> None:
    alice, bob, mia = (Browser(site, n) for n in ("alice", "bob", "mia"))
    theirs = finished_job(site, "alice", storm_mm=120.0)
    own = finished_job(site, "bob")
    page = bob.get("/runs")
    assert page.status_code == 200
    assert run_ids(page.text, "runs") == [own] and theirs not in page.text
    assert 'id="no-shared-runs"' in page.text  # bob may not read others' runs
    page = mia.get("/runs").text  # runs:read: everyone's runs of twins she may see
    assert run_ids(page, "runs") == [] and set(run_ids(page, "shared-runs")) == {theirs, own}
    page = alice.get("/runs").text
    assert run_ids(page, "runs") == [theirs]
    # the dashboard link carries the run and its widget state
    link = html.unescape(re.search(r'class="run-dashboard small" href="([^"]+)"', page).group(1))
    assert link.startswith("/services/twinhub-apps/flood?") and f"run={theirs}" in link
    assert "storm_mm=120.0" in link
    # the PROV record, readable in the page, its text escaped; 404 for those it is not shared with
    prov = alice.get(f"/runs/{theirs}/provenance")
    assert prov.status_code == 200 and "twinhub:output" in prov.text
    assert "<script>" not in prov.text and "&lt;script&gt;alert" in prov.text
    assert mia.get(f"/runs/{theirs}/provenance").status_code == 200
    for path in (
        f"/runs/{theirs}/provenance",
        "/runs/ffff/provenance",
        f"/runs/{'a' * 5000}/provenance",
    ):
        assert bob.get(path).status_code == 404


def test_run_again_and_replay_submit_jobs_only_of_runs_one_may_read(site) -> None:
    alice, bob, mia = (Browser(site, n) for n in ("alice", "bob", "mia"))
    done = finished_job(site, "alice", storm_mm=120.0)
    r = alice.post(f"/runs/{done}/replay")
    assert r.status_code == 303 and "submitted%20replay" in r.headers["location"]
    with site.app.state.store.sessions() as s:
        replays = s.query(Job).filter(Job.trigger == f"replay:{done}").all()
        assert [(j.owner, j.inputs["storm_mm"], j.status) for j in replays] == [
            ("alice", 120.0, "queued")
        ]
        queued = replays[0].id
    assert alice.post(f"/runs/{queued}/replay").status_code == 409  # no PROV yet
    assert bob.post(f"/runs/{done}/replay").status_code == 404
    assert bob.post(f"/runs/{done}/again").status_code == 404
    assert alice.post(f"/runs/{done}/replay", xsrf="forged").status_code == 403
    assert mia.post(f"/runs/{done}/again").status_code == 303  # shared with her: a run of hers
    with site.app.state.store.sessions() as s:
        assert {j.owner for j in s.query(Job).filter(Job.trigger == "api")} == {"alice", "mia"}


def test_schedules_are_created_paused_and_deleted_from_the_page(site) -> None:
    alice, bob = Browser(site, "alice"), Browser(site, "bob")
    form = {
        "process": "flood", "parameters": '{"ensemble_size": 4}', "cron": "0 6 * * *",
        "timezone": "Europe/Berlin", "missed": "once", "condition_output": "p_exceed_10y",
        "condition_op": ">=", "condition_threshold": "0.3",
    }  # fmt: skip
    r = alice.post("/runs/schedules", **form)
    assert r.status_code == 303, r.text
    with site.app.state.store.sessions() as s:
        (row,) = s.query(Schedule).all()
    assert (row.owner, row.cron, row.timezone, row.missed) == (
        "alice",
        "0 6 * * *",
        "Europe/Berlin",
        "once",
    )
    assert row.parameters["ensemble_size"] == 4 and row.condition == {
        "output": "p_exceed_10y", "op": ">=", "threshold": 0.3
    }  # fmt: skip
    page = alice.get("/runs").text
    assert f'data-schedule="{row.id}"' in page and "Pause" in page
    assert f'data-schedule="{row.id}"' not in bob.get("/runs").text
    # bob cannot touch it: 404 as for a missing one
    assert bob.post(f"/runs/schedules/{row.id}/enabled", enabled="false").status_code == 404
    assert bob.post(f"/runs/schedules/{row.id}/delete").status_code == 404
    assert alice.post(f"/runs/schedules/{row.id}/delete", xsrf="").status_code == 403
    r = alice.post(f"/runs/schedules/{row.id}/enabled", enabled="false")
    assert (
        r.status_code == 303 and alice.api("GET", f"/schedules/{row.id}").json()["enabled"] is False
    )
    assert "schedule-paused" in alice.get("/runs").text
    assert alice.post(f"/runs/schedules/{row.id}/enabled", enabled="maybe").status_code == 422
    assert alice.post(f"/runs/schedules/{row.id}/delete").status_code == 303
    assert alice.api("GET", f"/schedules/{row.id}").status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("cron", "every morning", "cron"),
        ("timezone", "Mars/Olympus", "timezone"),
        ("parameters", "{not json", "parameters"),
        ("parameters", '{"ensemble_size": -3}', "ensemble_size"),
        ("condition_threshold", "high", "condition.threshold"),
        ("missed", "twice", "missed"),
        ("process", HOSTILE, "process"),
        ("webhook", "http://169.254.169.254/", "webhook"),
        ("parameters", "[" * 30_000, "parameters"),
    ],
)
def test_a_refused_schedule_form_names_the_field_keeps_the_form_and_stores_nothing(
    site, field, value, named
) -> None:
    alice = Browser(site, "alice")
    form = {"process": "flood", "cron": "0 6 * * *", "condition_output": "p_exceed_10y"}
    form["condition_threshold"] = "0.5"
    r = alice.post("/runs/schedules", **{**form, field: value})
    assert r.status_code == 422, r.text[:300]
    message = re.search(r'id="twinhub-message">(.*?)</div>', r.text, re.S).group(1)
    assert named in message and "<script>" not in r.text
    assert 'id="new-schedule" open' in r.text  # the form is kept open with what was typed
    with site.app.state.store.sessions() as s:
        assert s.query(Schedule).count() == 0


def test_a_dashboard_link_with_run_shows_the_run_and_its_prov_or_a_note(site, monkeypatch) -> None:
    """The dashboard page's side of ``run=<id>``: it asks the registry (here in-process, over
    ASGI) as the user looking at the page; hostile, unknown or not-shared ids give a note."""
    import asyncio

    import httpx
    from twinhub.extensions.dashboards.pages import lookup_run, run_notice
    from twinhub.extensions.dashboards.registry import TwinDirectory

    monkeypatch.setenv("TWINHUB_API_URL", f"http://127.0.0.1{PAGES}/api")
    alices = finished_job(site, "alice", storm_mm=120.0)

    def notice(run_id: str, who: str, twin: str = "flood"):
        async def ask():
            directory = TwinDirectory()
            transport = httpx.ASGITransport(app=site.app)
            directory._client = httpx.AsyncClient(transport=transport)
            async with directory._client:
                return run_notice(twin, await lookup_run(run_id, f"{who}-token", directory))

        return asyncio.run(ask())

    pane, problem = notice(alices, "alice")
    assert problem is None and "<strong>succeeded</strong>" in pane.object
    assert f'href="/services/twinhub/runs/{alices}/provenance"' in pane.object
    for run_id, who, twin, said in (
        (alices, "bob", "flood", "is not a run you may see"),
        ("f" * 32, "alice", "flood", "is not a run you may see"),
        ("../../hub/api", "alice", "flood", "is not a run id"),
        (HOSTILE, "alice", "flood", "is not a run id"),
        ("9" * 5000, "alice", "flood", "is not a run id"),
        (alices, "alice", "drought", "is a run of 'flood', not of 'drought'"),
    ):
        pane, problem = notice(run_id, who, twin)
        assert pane is None and said in problem, problem
    assert alices in notice(alices, "mia")[0].object  # runs:read: shared with her


def test_condition_notifications_are_on_the_owners_runs_page_as_text(site) -> None:
    from twinhub.extensions.registry.schedules import Notification

    with site.app.state.store.transaction() as s:
        s.add(Notification(owner="alice", schedule_id=None, job_id=None, message=HOSTILE))
    page = Browser(site, "alice").get("/runs").text
    assert 'id="twinhub-notifications"' in page and "&lt;script&gt;alert" in page
    assert "<script>" not in page
    assert 'id="twinhub-notifications"' not in Browser(site, "bob").get("/runs").text


def test_runs_recorded_from_dashboards_are_listed_rerun_and_replayed(site) -> None:
    """A run computed in a dashboard or notebook and recorded (``POST /api/twins/{name}/runs``
    with a status): on its user's Runs page, with PROV, "Run again" and "Replay" as jobs."""
    from twinhub.extensions.registry.db import Run

    alice, bob, mia = (Browser(site, n) for n in ("alice", "bob", "mia"))
    run_id, prov = "d" * 32, {"entity": {"twinhub:output": {"twinhub:note": HOSTILE}}}
    with site.app.state.store.transaction() as s:
        s.add(Run(id=run_id, twin_name="flood", twin_version="1.0.0", user="alice",
                  parameters={"storm_mm": 80.0}, status="succeeded", error=None,
                  provenance=prov))  # fmt: skip
    assert run_ids(alice.get("/runs").text, "recorded-runs") == [run_id]
    assert run_id not in bob.get("/runs").text
    assert run_ids(mia.get("/runs").text, "shared-recorded-runs") == [run_id]
    assert "&lt;script&gt;" in alice.get(f"/runs/{run_id}/provenance").text
    assert bob.get(f"/runs/{run_id}/provenance").status_code == 404
    assert bob.post(f"/runs/{run_id}/again").status_code == 404
    assert bob.post(f"/runs/{run_id}/replay").status_code == 404
    assert alice.post(f"/runs/{run_id}/again").status_code == 303
    assert alice.post(f"/runs/{run_id}/replay").status_code == 303
    with site.app.state.store.sessions() as s:
        submitted = {(j.trigger, j.owner, j.inputs["storm_mm"]) for j in s.query(Job)}
    assert submitted == {("api", "alice", 80.0), (f"replay:{run_id}", "alice", 80.0)}


def test_older_runs_are_a_page_away_and_a_hostile_page_is_refused(site, monkeypatch) -> None:
    from twinhub.extensions.registry import pages

    monkeypatch.setattr(pages, "RUNS_SHOWN", 2)  # read when the page renders
    bob = Browser(site, "bob")
    made = [finished_job(site, "bob", storm_mm=float(i)) for i in range(5)]
    first = bob.get("/runs").text
    shown = run_ids(first, "runs")
    assert len(shown) == 2 and 'id="older-runs"' in first and 'id="newer-runs"' not in first
    second = bob.get("/runs?page=1").text
    third = bob.get("/runs?page=2").text
    assert 'id="newer-runs"' in second and 'id="older-runs"' in second
    assert 'id="older-runs"' not in third
    pages_seen = shown + run_ids(second, "runs") + run_ids(third, "runs")
    assert sorted(pages_seen) == sorted(made)  # every run once, none twice
    for page in ("-1", "10001", "9" * 40, "two"):
        answer = bob.get(f"/runs?page={page}")
        assert answer.status_code == 422 and "page" in answer.text, page


def test_a_run_waiting_for_its_owners_dask_quota_says_why_on_the_page_and_in_ogc(site) -> None:
    """The executor's claim skips Alice, whose gateway clusters hold her quota: her queued
    job's reason is on her Runs page and is the OGC job status's ``message``."""
    alice = Browser(site, "alice")
    store = site.app.state.store
    with store.transaction() as s:
        job_id = jobs.submit(s, owner="alice", process="flood", inputs={})
    quota = jobs.Quota(max_cores=2, gateway=lambda owner: jobs.Usage(clusters=1, cores=2.0))
    with store.sessions() as s:
        assert jobs.claim(s, "executor", quota) is None
    why = (
        "waiting: your Dask quota of 2 cores is in use by 1 cluster (2 cores held; this run "
        "needs 1); it starts when one of them stops"
    )
    page = alice.get("/runs").text
    assert run_ids(page, "runs") == [job_id] and html.escape(why) in page
    status = site.http.get(
        f"{PAGES}/ogcapi/jobs/{job_id}", headers={"Authorization": "token alice-token"}
    ).json()
    assert status["status"] == "accepted" and status["message"] == why
