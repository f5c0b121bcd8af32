"""Jobs in the registry's database (a real SQLite file): submit, claim, finish, dismiss, crash.

The lattice twin (a simulation, no data) is registered from its shipped manifest; its
parameter schema is what the inputs are checked against.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker
from twinhub.extensions.registry import jobs
from twinhub.extensions.registry.db import Job, open_database
from twinhub.extensions.registry.discovery import load_profiles_file
from twinhub.extensions.registry.errors import Conflict, Invalid, NotFound
from twinhub.extensions.registry.store import Store
from twinhub.twins.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]
SMALL = {"temperatures": [2.0], "sizes": [4], "sweeps": 100, "replicas": 1}


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker:
    store = Store(open_database(f"sqlite:///{tmp_path / 'registry.sqlite'}"))
    load_profiles_file(store, REPO / "hub" / "profiles.yaml")
    store.upsert_discovered_twin(load_manifest(REPO / "twins" / "lattice" / "twin.yaml"))
    return store.sessions


def _submit(sessions: sessionmaker, owner: str = "alice", **inputs) -> str:
    with sessions.begin() as s:
        return jobs.submit(s, owner=owner, process="lattice", inputs={**SMALL, **inputs})


def test_submitted_job_is_queued_with_defaults_filled_in(sessions: sessionmaker) -> None:
    job_id = _submit(sessions)
    with sessions() as s:
        job = s.get(Job, job_id)
        assert job.status == "queued" and job.owner == "alice" and job.trigger == "api"
        assert job.inputs["sweeps"] == 100 and job.inputs["theory"] == "ising"  # a default
        assert job.process_version == "0.1.0"


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"sweeps": 5}, "inputs.sweeps"),
        ({"nonsense": 1}, "inputs"),
        ({"sizes": "big"}, "inputs.sizes"),
    ],
)
def test_invalid_inputs_are_refused_naming_the_field_and_nothing_is_stored(
    sessions: sessionmaker, inputs: dict, field: str
) -> None:
    with pytest.raises(Invalid) as refused:
        _submit(sessions, **inputs)
    assert field in [f for f, _ in refused.value.detail]
    with sessions() as s:
        assert s.query(Job).count() == 0


def test_unknown_process_is_not_found(sessions: sessionmaker) -> None:
    with pytest.raises(NotFound), sessions.begin() as s:
        jobs.submit(s, owner="alice", process="nope", inputs={})


def test_claim_takes_the_oldest_queued_job_once(sessions: sessionmaker) -> None:
    first, second = _submit(sessions), _submit(sessions)
    with sessions() as s:
        assert jobs.claim(s, "ex-1").id == first
    with sessions() as s:
        claimed = jobs.claim(s, "ex-2")
        assert claimed.id == second and claimed.status == "running" and claimed.started_at
        assert jobs.claim(s, "ex-2") is None


def test_claim_is_fair_across_users(sessions: sessionmaker) -> None:
    """Alice's backlog does not go before Bob's one job: the owner with the fewest jobs
    running goes next, and each user's own jobs keep their order."""
    alices = [_submit(sessions, "alice", seed=i) for i in range(4)]
    bobs = _submit(sessions, "bob")
    carols = _submit(sessions, "carol")
    with sessions() as s:
        order = [jobs.claim(s, "ex").id for _ in range(6)]
    assert order == [alices[0], bobs, carols, alices[1], alices[2], alices[3]]


def test_finish_records_outputs_and_only_from_running(sessions: sessionmaker) -> None:
    job_id = _submit(sessions)
    with sessions.begin() as s:
        assert not jobs.finish(s, job_id, "successful")  # still queued
    with sessions() as s:
        jobs.claim(s, "ex")
    with sessions.begin() as s:
        assert jobs.finish(s, job_id, "successful", outputs={"result": "result.nc"})
    with sessions.begin() as s:
        assert not jobs.finish(s, job_id, "failed", reason="late")  # already finished
    with sessions() as s:
        job = s.get(Job, job_id)
        assert job.status == "successful" and job.outputs == {"result": "result.nc"}
        assert job.reason is None and jobs.duration(job) >= 0


def test_other_users_cannot_see_or_dismiss_a_job(sessions: sessionmaker) -> None:
    job_id = _submit(sessions, owner="alice")
    with sessions() as s:
        with pytest.raises(NotFound):
            jobs.visible_job(s, "bob", job_id)
        assert jobs.list_jobs(s, "bob") == []
        assert [j.id for j in jobs.list_jobs(s, "alice")] == [job_id]
    with pytest.raises(NotFound), sessions.begin() as s:
        jobs.dismiss(s, "bob", job_id)
    with sessions() as s:
        assert jobs.status_of(s, job_id) == "queued"


def test_dismissed_job_is_never_claimed_and_cannot_be_dismissed_twice(
    sessions: sessionmaker,
) -> None:
    job_id = _submit(sessions)
    with sessions.begin() as s:
        assert jobs.dismiss(s, "alice", job_id).status == "dismissed"
    with sessions() as s:
        assert jobs.claim(s, "ex") is None
    with pytest.raises(Conflict), sessions.begin() as s:
        jobs.dismiss(s, "alice", job_id)


def test_dismissing_a_running_job_wins_over_its_late_finish(sessions: sessionmaker) -> None:
    job_id = _submit(sessions)
    with sessions() as s:
        jobs.claim(s, "ex")
    with sessions.begin() as s:
        jobs.dismiss(s, "alice", job_id)
    with sessions.begin() as s:
        assert not jobs.finish(s, job_id, "successful")
    with sessions() as s:
        job = s.get(Job, job_id)
        assert job.status == "dismissed" and job.reason == "dismissed by alice"


def test_jobs_left_running_by_a_dead_executor_fail_with_the_reason(sessions: sessionmaker) -> None:
    running, queued = _submit(sessions), _submit(sessions)
    with sessions() as s:
        jobs.claim(s, "ex-dead")
    with sessions.begin() as s:
        assert jobs.fail_interrupted(s) == [running]
    with sessions() as s:
        job = s.get(Job, running)
        assert job.status == "failed" and "executor stopped" in job.reason
        assert jobs.status_of(s, queued) == "queued"  # waiting jobs still run


# --- one Dask quota per user: gateway clusters and running jobs together ------------------------


def test_a_user_at_quota_is_skipped_with_a_message_and_others_proceed(
    sessions: sessionmaker,
) -> None:
    """Alice's gateway clusters hold her 3 cores: her job stays queued saying why, Bob's later
    job goes first; when her clusters stop, hers runs and the message is gone."""
    gateway = {"alice": jobs.Usage(clusters=2, cores=3.0)}
    quota = jobs.Quota(
        max_clusters=4, max_cores=3, workers=2, gateway=lambda o: gateway.get(o, jobs.Usage())
    )
    alices = _submit(sessions, "alice")
    bobs = _submit(sessions, "bob")
    with sessions() as s:
        assert jobs.claim(s, "ex", quota).id == bobs
        assert jobs.claim(s, "ex", quota) is None
    with sessions() as s:
        job = s.get(Job, alices)
        assert job.status == "queued"
        assert job.reason == (
            "waiting: your Dask quota of 3 cores is in use by 2 clusters (3 cores held; "
            "this run needs 2); it starts when one of them stops"
        )
    gateway.clear()  # her clusters stopped
    with sessions() as s:
        claimed = jobs.claim(s, "ex", quota)
        assert claimed.id == alices and claimed.status == "running" and claimed.reason is None


def test_running_jobs_count_as_clusters_and_cores_of_their_owner(sessions: sessionmaker) -> None:
    quota = jobs.Quota(max_clusters=2, max_cores=10, workers=1)
    first, second, third = (_submit(sessions, "alice", seed=i) for i in range(3))
    with sessions() as s:
        assert [jobs.claim(s, "ex", quota).id for _ in range(2)] == [first, second]
        assert jobs.claim(s, "ex", quota) is None
        assert jobs.running_usage(s, "alice", workers=1) == jobs.Usage(2, 2.0)
    with sessions() as s:
        assert s.get(Job, third).reason == (
            "waiting: your Dask quota of 2 clusters is in use by 2 runs; it starts when one "
            "of them stops"
        )
    with sessions.begin() as s:
        jobs.finish(s, first, "successful")
    with sessions() as s:
        assert jobs.claim(s, "ex", quota).id == third


def test_a_job_wider_than_the_quota_runs_with_fewer_workers_and_never_waits_forever() -> None:
    """A job's workers are the executor's setting, at most the twin's max_workers and the
    owner's whole core quota: alone, it always fits."""
    assert jobs.job_workers({"dask": {"max_workers": 3}}, 4) == 3
    assert jobs.job_workers({}, 4, max_cores=2.5) == 2
    assert jobs.job_workers({"dask": {"max_workers": 8}}, 4, max_cores=0.5) == 1
    quota = jobs.Quota(max_cores=0.5, workers=4)
    assert jobs.waiting_message(quota, jobs.Usage(), jobs.Usage(), 1) is None
    assert jobs.waiting_message(quota, jobs.Usage(1, 0.5), jobs.Usage(), 1) is not None
    assert jobs.fits(jobs.Quota(max_cores=2, workers=4), jobs.Usage(), 2)


def test_two_executors_cannot_both_take_a_users_last_place(sessions: sessionmaker) -> None:
    """Executor 1 counts Alice's running jobs (none), then, while it reads her gateway
    clusters, executor 2 claims her first job; executor 1 then finds her second job queued,
    but its claim is conditional on her running jobs being the ones it counted: it takes
    nothing, and Alice has one job running, her quota."""
    first, second = _submit(sessions, "alice", seed=1), _submit(sessions, "alice", seed=2)
    other = sessions()
    meanwhile: list[str] = []

    def gateway(owner: str) -> jobs.Usage:
        if not meanwhile:
            meanwhile.append(jobs.claim(other, "ex-2", jobs.Quota(max_clusters=1)).id)
        return jobs.Usage()

    with sessions() as s:
        assert jobs.claim(s, "ex-1", jobs.Quota(max_clusters=1, gateway=gateway)) is None
    other.close()
    assert meanwhile == [first]
    with sessions() as s:
        assert jobs.status_of(s, first) == "running" and jobs.status_of(s, second) == "queued"
