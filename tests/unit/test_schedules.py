"""Schedules in-process: the registry app over a real SQLite file, the clock injected.

The hub's token lookup is replaced by FastAPI's dependency override (users as the hub would
vouch for them); everything else is the registry as it runs: routes, validation, database,
scheduler. Jobs are the ``jobs`` queue the executor takes from; where a test needs a finished
job, it writes the state and outputs the executor writes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import zarr
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import select
from twinhub.catalogs import build
from twinhub.catalogs.access import dataset_checksum, open_entry
from twinhub.extensions.registry.app import create_app
from twinhub.extensions.registry.auth import User
from twinhub.extensions.registry.config import PACKAGE_ROOT, RegistryConfig
from twinhub.extensions.registry.jobs import Job
from twinhub.extensions.registry.schedules import ScheduleRun, manifest_of
from twinhub.twins.provenance import record_fields, to_prov_json
from twinhub.twins.runs import execute

from tests.support.waiting import wait_for

API = "/services/twinhub/api"


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Registry:
    """The registry app over ``tmp_path``'s database; :meth:`restart` builds it anew."""

    def __init__(self, tmp_path: Path, clock: Clock, webhook_hosts: tuple[str, ...] = ()):
        self.config = RegistryConfig(
            state_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'registry.sqlite'}",
            twins_dir=PACKAGE_ROOT / "twins",
            profiles_file=PACKAGE_ROOT / "hub" / "profiles.yaml",
            prefix="/services/twinhub/",
            host="127.0.0.1",
            port=8004,
            auth_cache_seconds=60,
            webhook_allowed_hosts=webhook_hosts,
        )
        self.clock = clock
        self.restart()

    def restart(self) -> None:
        self.app = create_app(self.config, clock=self.clock)

        def as_user(request: Request) -> User:
            name = request.headers["x-test-user"]
            return User(name, frozenset(), frozenset(), "user", "token")

        self.app.dependency_overrides[self.app.state.auth.require_api_user] = as_user
        self.http = TestClient(self.app, base_url="http://127.0.0.1")
        self.scheduler = self.app.state.scheduler

    def call(self, who: str, method: str, path: str, **kwargs):
        return self.http.request(
            method,
            API + path,
            headers={"x-test-user": who, "Authorization": "token vouched-by-the-override"},
            **kwargs,
        )

    def jobs(self) -> list[tuple[Job, ScheduleRun]]:
        with self.app.state.store.sessions() as s:
            rows = s.execute(
                select(Job, ScheduleRun)
                .join(ScheduleRun, ScheduleRun.job_id == Job.id)
                .order_by(Job.created_at)
            ).all()
            return [tuple(r) for r in rows]

    def finish(self, job_id: str, outputs: dict) -> None:
        with self.app.state.store.transaction() as s:
            job = s.get(Job, job_id)
            job.status, job.outputs, job.finished_at = "successful", outputs, self.clock()


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "test-service-token")
    return Registry(tmp_path, Clock(utc(2026, 10, 23, 12, 0)))


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One registry for the tests that must leave nothing stored (the hostile inputs)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTERHUB_API_TOKEN", "test-service-token")
        yield Registry(tmp_path_factory.mktemp("registry"), Clock(utc(2026, 10, 23, 12, 0)))


def schedule(**fields) -> dict:
    return {"process": "flood", "parameters": {"ensemble_size": 2}, "cron": "0 9 * * *", **fields}


def test_daily_schedule_fires_at_local_nine_across_the_autumn_dst_change(registry) -> None:
    r = registry.call("alice", "POST", "/schedules", json=schedule(timezone="Europe/Berlin"))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    # 09:00 in Berlin is 07:00 UTC in summer time (CEST) and 08:00 UTC after 25 October 2026
    assert r.json()["next_run_at"] == "2026-10-24T07:00:00+00:00"
    fired = []
    for instant in (
        utc(2026, 10, 24, 6, 59), utc(2026, 10, 24, 7, 0), utc(2026, 10, 24, 7, 1),
        utc(2026, 10, 25, 7, 0), utc(2026, 10, 25, 8, 0), utc(2026, 10, 25, 8, 30),
    ):  # fmt: skip
        if registry.scheduler.tick(instant):
            fired.append(instant)
    assert fired == [utc(2026, 10, 24, 7, 0), utc(2026, 10, 25, 8, 0)]
    jobs = registry.jobs()
    assert [(j.trigger, j.owner, j.process, j.status) for j, _ in jobs] == [
        (f"schedule:{sid}", "alice", "flood", "queued")
    ] * 2
    assert jobs[0][0].inputs["ensemble_size"] == 2 and jobs[0][0].inputs["seed"] == 0
    assert [run.due_at for _, run in jobs] == fired
    # spring: 02:30 does not exist on 29 March 2026 in Berlin; the run is at 03:00 CEST, once
    registry.clock.now = utc(2026, 3, 28, 12, 0)
    r = registry.call("alice", "POST", "/schedules", json=schedule(
        cron="30 2 * * *", timezone="Europe/Berlin"))  # fmt: skip
    assert r.json()["next_run_at"] == "2026-03-29T01:00:00+00:00"


def test_schedules_survive_a_restart_and_missed_runs_follow_their_policy(registry) -> None:
    ids = {}
    for policy in ("skip", "once"):
        r = registry.call("alice", "POST", "/schedules", json=schedule(
            cron="0 * * * *", missed=policy))  # fmt: skip
        assert r.status_code == 201, r.text
        ids[policy] = r.json()["id"]
    registry.restart()  # the registry was down from 13:00 to 15:10: three runs were missed
    assert registry.scheduler.tick(utc(2026, 10, 23, 15, 10)) != []
    jobs = registry.jobs()
    assert [(j.trigger, run.reason, run.due_at) for j, run in jobs] == [
        (f"schedule:{ids['once']}", "catch-up", utc(2026, 10, 23, 15, 0))
    ]
    for policy in ("skip", "once"):
        got = registry.call("alice", "GET", f"/schedules/{ids[policy]}").json()
        assert got["next_run_at"] == "2026-10-23T16:00:00+00:00"
    registry.restart()
    registry.scheduler.tick(utc(2026, 10, 23, 16, 0, 20))  # on time (within the grace)
    assert sorted(run.reason for _, run in registry.jobs()) == ["catch-up", "cron", "cron"]


def test_the_registry_runs_its_scheduler_loop_on_the_injected_clock(registry) -> None:
    registry.config = registry.config.__class__(
        **{**registry.config.__dict__, "scheduler_interval": 0.05}
    )
    registry.restart()
    registry.call("alice", "POST", "/schedules", json=schedule())
    registry.clock.now = utc(2026, 10, 24, 9, 0)  # the schedule's first instant (UTC)
    with registry.http:  # the app's lifespan: its scheduler loop runs
        jobs = wait_for(registry.jobs, timeout=30, message="the loop submits the due run")
    assert [run.due_at for _, run in jobs] == [utc(2026, 10, 24, 9, 0)]


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.received = []
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_condition_on_outputs_notifies_the_owner_and_calls_the_allowed_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: str
) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "test-service-token")
    registry = Registry(tmp_path, Clock(utc(2026, 10, 23, 12, 0)), webhook_hosts=(receiver,))
    condition = {"output": "p_exceed_10y", "op": ">", "threshold": 0.3}
    body = schedule(cron="0 * * * *", condition=condition, webhook=f"http://{receiver}/flood")
    sid = registry.call("alice", "POST", "/schedules", json=body).json()["id"]
    [first] = registry.scheduler.tick(utc(2026, 10, 23, 13, 0))
    [second] = registry.scheduler.tick(utc(2026, 10, 23, 14, 0))
    registry.finish(first, {"p_exceed_10y": 0.45, "p_exceed_2y": 0.9})
    registry.finish(second, {"p_exceed_10y": 0.3})  # not above the threshold
    registry.scheduler.tick(utc(2026, 10, 23, 14, 1))
    registry.scheduler.tick(utc(2026, 10, 23, 14, 2))  # each finished job is checked once
    assert [(p["job"], p["schedule"], p["value"]) for p in Receiver.received] == [
        (first, sid, 0.45)
    ]
    notes = registry.call("alice", "GET", "/notifications").json()
    assert [(n["job"], n["webhook_status"]) for n in notes] == [(first, "HTTP 204")]
    assert "p_exceed_10y = 0.45 > 0.3" in notes[0]["message"]
    assert registry.call("bob", "GET", "/notifications").json() == []


def test_data_change_runs_the_schedule_again_with_the_new_checksum(
    registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    build.build_fulda(data)
    monkeypatch.setenv("TWINHUB_DATA_DIR", str(data))
    quick = {"ensemble_size": 1, "start": "1985-01-01", "end": "1985-03-31"}
    r = registry.call("alice", "POST", "/schedules", json=schedule(
        cron="0 0 1 1 *", on_data_change=True, parameters=quick))  # fmt: skip
    sid = r.json()["id"]
    now = utc(2026, 10, 23, 12, 5)
    assert registry.scheduler.check_data(now) == []  # first sight: remembered only
    assert registry.scheduler.check_data(now) == []  # unchanged
    before = dataset_checksum(open_entry("fulda_daily"))
    precip = zarr.open(str(data / "fulda_daily.zarr"), mode="r+")["precip"]
    precip[100] = np.asarray(precip[100]) + 1.0  # a corrected day of rainfall
    after = dataset_checksum(open_entry("fulda_daily"))
    assert after != before
    [job] = registry.scheduler.check_data(now)
    [(queued, run)] = registry.jobs()
    assert (queued.id, queued.trigger, run.reason) == (job, f"schedule:{sid}", "data:fulda_daily")
    assert run.input_checksums == {"fulda_daily": after}
    assert registry.scheduler.check_data(now) == []
    # the job run as the executor runs a twin: its PROV names the data it read, the new data
    _, record = execute(
        "twinhub.twins.flood.forecast:forecast", "fulda_daily", queued.inputs, twin="flood"
    )
    [used] = record_fields(to_prov_json(record))["inputs"]
    assert used["checksum"] == after


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": ""}, "cron"),
        ({"cron": "* * * *"}, "cron"),
        ({"cron": "* * * * * *"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 0 31 2 *"}, "cron"),
        ({"cron": "@reboot"}, "cron"),
        ({"cron": "0\x00 * * * *"}, "cron"),
        ({"cron": "*/1 " * 5000}, "cron"),
        ({"cron": 5}, "cron"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../../etc/passwd"}, "timezone"),
        ({"timezone": "Europe/Berlin\n"}, "timezone"),
        ({"timezone": "A/" * 3000}, "timezone"),
        ({"missed": "twice"}, "missed"),
        ({"webhook": "http://169.254.169.254/latest/meta-data"}, "webhook"),
        ({"webhook": "file:///etc/passwd"}, "webhook"),
        ({"webhook": "http://user:pw@127.0.0.1:9/"}, "webhook"),
        ({"webhook": "http://127.0.0.1:9/ x"}, "webhook"),
        ({"webhook": "http://[::1"}, "webhook"),
        ({"condition": {"output": "p; DROP", "threshold": 1}}, "condition.output"),
        ({"condition": {"output": "p_exceed_10y", "threshold": "NaN"}}, "condition.threshold"),
        ({"parameters": {"ensemble_size": 0}}, "parameters.ensemble_size"),
        ({"parameters": {"rm -rf": 1}}, "parameters"),
        ({"process": "nosuchtwin"}, "process"),
        ({"owner": "bob"}, "owner"),
    ],
)
def test_hostile_schedule_fields_are_a_422_naming_the_field(shared_registry, fields, field) -> None:
    registry = shared_registry
    r = registry.call("alice", "POST", "/schedules", json=schedule(**fields))
    assert r.status_code == 422, r.text
    assert field in [d["field"] for d in r.json()["detail"]], r.text
    assert registry.call("alice", "GET", "/schedules").json() == []


def test_only_the_owner_sees_changes_or_deletes_a_schedule(registry) -> None:
    sid = registry.call("alice", "POST", "/schedules", json=schedule()).json()["id"]
    for method, kwargs in (("GET", {}), ("PATCH", {"json": {"enabled": False}}), ("DELETE", {})):
        assert registry.call("bob", method, f"/schedules/{sid}", **kwargs).status_code == 404
    assert registry.call("bob", "GET", "/schedules").json() == []
    r = registry.call("alice", "PATCH", f"/schedules/{sid}", json={"cron": "0 7 * * *"})
    assert r.status_code == 200 and r.json()["next_run_at"] == "2026-10-24T07:00:00+00:00"
    r = registry.call("alice", "PATCH", f"/schedules/{sid}", json={"timezone": "Nowhere/X"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "timezone"
    assert registry.call("alice", "GET", f"/schedules/{sid}").json()["cron"] == "0 7 * * *"
    assert registry.call("alice", "DELETE", f"/schedules/{sid}").status_code == 204
    assert registry.call("alice", "GET", f"/schedules/{sid}").status_code == 404


def test_a_pipeline_is_scheduled_as_a_twin_is(registry) -> None:
    """extremes -> flood on a cron: step overrides checked as a job's, a job of the pipeline
    when due, and its steps' catalog entries watched for data changes."""
    body = schedule(process="extremes_flood", parameters={"flood": {"ensemble_size": 3}})
    r = registry.call("alice", "POST", "/schedules", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert registry.scheduler.tick(utc(2026, 10, 24, 9, 0)) != []
    [(job, run)] = registry.jobs()
    assert (job.process, job.trigger, job.inputs) == (
        "extremes_flood", f"schedule:{sid}", {"flood": {"ensemble_size": 3}}
    )  # fmt: skip
    watched = manifest_of(registry.app.state.store, "extremes_flood").catalog
    assert set(watched) == {"champion_daily", "fulda_daily"}  # what its two twins read
    for parameters, field in (
        ({"nosuchstep": {"x": 1}}, "inputs.nosuchstep"),
        ({"flood": 5}, "inputs.flood"),
        ({"flood": {"storm_mm": 1.0}}, "inputs.flood.storm_mm"),  # bound to the extremes step
    ):
        r = registry.call("alice", "POST", "/schedules", json={**body, "parameters": parameters})
        assert r.status_code == 422 and field in r.text, (parameters, r.text)
    assert len(registry.call("alice", "GET", "/schedules").json()) == 1
