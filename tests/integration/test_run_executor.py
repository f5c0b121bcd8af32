"""The run executor service (a real process) on a real registry database: it runs queued jobs
as their owner's unix account through the twin framework, stops a dismissed job's Dask
cluster, and a kill -9 leaves a failed job with its reason, never one "running". Jobs count in
their owner's Dask quota beside the owner's clusters on the session's real gateway (whose
database this executor reads): with a quota of one core, a user's gateway cluster holds their
job queued, saying why, while another user's job runs; it runs once the cluster stops.

The lattice twin (a seeded simulation: bit for bit reproducible) is the process; the reference
is the same run made directly with :meth:`Twin.run`.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import xarray as xr
from sqlalchemy.orm import sessionmaker
from twinhub.contracts.settings import Settings
from twinhub.extensions.accounts import open_passages
from twinhub.extensions.executor.service import jobs_dir
from twinhub.extensions.registry import jobs
from twinhub.extensions.registry.db import Job, Run, open_database
from twinhub.extensions.registry.discovery import load_profiles_file
from twinhub.extensions.registry.store import Store
from twinhub.twins.manifest import load_manifest
from twinhub.twins.runs import RunRecord
from twinhub.twins.twin import load_twin

from tests.support.gateway import Gateway, dask_gateway_api, submit_cluster
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
QUICK = {"temperatures": [2.0], "sizes": [4], "sweeps": 100, "thermalisation": 0, "replicas": 1}
LONG = {"temperatures": [2.2], "sizes": [64], "sweeps": 1_000_000, "replicas": 1}


@dataclass
class Service:
    settings: Settings
    sessions: sessionmaker
    env: dict[str, str]
    process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.settings.state_dir / "executor.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "twinhub.extensions.executor"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def submit(self, owner: str, inputs: dict, trigger: str = "api") -> str:
        with self.sessions.begin() as s:
            return jobs.submit(s, owner=owner, process="lattice", inputs=inputs, trigger=trigger)

    def job(self, job_id: str) -> Job:
        with self.sessions() as s:
            return s.get(Job, job_id)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, gateway: Gateway) -> Iterator[Service]:
    state = tmp_path_factory.mktemp("executor") / "state"
    state.mkdir()
    open_passages([state])  # as the launcher does: accounts pass through to their folders
    env = {
        **os.environ,
        "TWINHUB_STATE_DIR": str(state),
        "TWINHUB_EXECUTOR_SLOTS": "2",
        # one Dask budget per user: the real gateway's clusters count beside the jobs; one
        # core each (a job of one worker, or a cluster's scheduler) fills it
        "TWINHUB_GATEWAY_DATABASE_URL": gateway.settings.gateway_db_url,
        "TWINHUB_DASK_MAX_CORES_PER_USER": "1",
    }
    settings = Settings.from_env(env)
    store = Store(open_database(settings.registry_db_url))
    load_profiles_file(store, REPO / "hub" / "profiles.yaml")
    store.upsert_discovered_twin(load_manifest(REPO / "twins" / "lattice" / "twin.yaml"))
    service = Service(settings, store.sessions, env)
    service.start()
    yield service
    service.stop()


def _finished(service: Service, job_id: str, timeout: float = 120) -> Job:
    return wait_for(
        lambda: service.job(job_id),
        until=lambda job: job.status in jobs.FINISHED,
        timeout=timeout,
        message=f"job {job_id} to finish",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) runs nothing
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


@pytest.fixture(scope="module")
def quick_job(service: Service) -> Job:
    """One quick lattice job of ada's, finished (shared: the executor's time is CI's)."""
    return _finished(service, service.submit("ada", QUICK))


def test_job_runs_as_its_owner_and_equals_a_direct_run(service: Service, quick_job: Job) -> None:
    job, job_id = quick_job, quick_job.id
    assert job.status == "successful", job.reason
    folder = jobs_dir(service.settings) / job_id
    result = folder / job.outputs["result"]
    with xr.open_dataset(result) as ds:
        output = ds.load()
    direct, record = load_twin("lattice").run(QUICK)
    # bit for bit: the checksums the job's PROV records are those of the direct run
    assert RunRecord.from_provenance(job.provenance).outputs == record.outputs
    xr.testing.assert_equal(output, direct)  # and the stored netCDF holds those values
    # PROV: the person the job ran for is its agent
    assert any("ada" in json.dumps(agent) for agent in job.provenance["agent"].values())
    if os.geteuid() == 0:  # a root platform: the run was the owner's own account
        uid = result.stat().st_uid
        assert uid != 0 and folder.stat().st_uid == uid
        # the owner's alone, but for the registry's group passing through to the outputs
        platform = pwd.getpwnam(service.settings.platform_account)
        assert (folder.stat().st_mode & 0o777) == 0o710
        assert folder.stat().st_gid == platform.pw_gid


def test_a_replay_job_reruns_a_record_bit_for_bit_and_fails_on_a_tampered_one(
    service: Service, quick_job: Job
) -> None:
    """The Runs page's "Replay": a job whose trigger names the run it repeats (a job, or a run
    recorded from a notebook); the executor replays that run's PROV record
    (``twins.runs.rerun``) and the job fails, saying why, if the output is not bit for bit
    the recorded one."""
    original = quick_job
    assert original.status == "successful", original.reason
    checksum = next(iter(RunRecord.from_provenance(original.provenance).outputs.values()))
    tampered = json.loads(json.dumps(original.provenance).replace(checksum, "0" * len(checksum)))
    with service.sessions.begin() as s:  # a recorded run whose output checksum is not the model's
        s.add(Run(id="e" * 32, twin_name="lattice", twin_version=original.process_version,
                  user="ada", parameters=original.inputs, status="succeeded", error=None,
                  provenance=tampered))  # fmt: skip
    good = service.submit("ada", QUICK, f"replay:{original.id}")
    bad = service.submit("ada", QUICK, f"replay:{'e' * 32}")
    replayed, failed = _finished(service, good), _finished(service, bad)
    assert replayed.status == "successful", replayed.reason
    # its PROV is the replay's own run, naming the run it reproduced, with the same outputs
    first_run = RunRecord.from_provenance(original.provenance)
    replay_run = RunRecord.from_provenance(replayed.provenance)
    assert replay_run.reproduces == first_run.id and replay_run.id != first_run.id
    assert replay_run.outputs == first_run.outputs and replay_run.agent == "ada"
    with xr.open_dataset(jobs_dir(service.settings) / replayed.id / "result.nc") as again:
        with xr.open_dataset(jobs_dir(service.settings) / original.id / "result.nc") as first:
            xr.testing.assert_identical(again.load(), first.load())
    assert failed.status == "failed" and "outputs differ" in failed.reason, failed.reason


def test_dismissing_a_running_job_stops_its_dask_workers(service: Service) -> None:
    job_id = service.submit("ada", LONG)
    cluster_file = jobs_dir(service.settings) / job_id / "cluster.json"
    workers = wait_for(
        lambda: json.loads(cluster_file.read_text())["workers"],
        timeout=120, ignore=(OSError, ValueError), message="the job's Dask cluster to start",
    )  # fmt: skip
    assert service.job(job_id).status == "running" and all(map(_alive, workers))
    with service.sessions.begin() as s:
        jobs.dismiss(s, "ada", job_id)
    wait_for(
        lambda: [pid for pid in workers if _alive(pid)],
        until=lambda alive: not alive,
        timeout=60,
        message="the dismissed job's Dask workers to stop",
    )
    job = service.job(job_id)
    assert job.status == "dismissed" and job.reason == "dismissed by ada"


def test_killed_executor_leaves_a_failed_job_with_its_reason(service: Service) -> None:
    job_id = service.submit("ada", LONG)
    cluster_file = jobs_dir(service.settings) / job_id / "cluster.json"
    workers = wait_for(
        lambda: json.loads(cluster_file.read_text())["workers"],
        timeout=120, ignore=(OSError, ValueError), message="the job's Dask cluster to start",
    )  # fmt: skip
    service.process.send_signal(signal.SIGKILL)
    service.process.wait(30)
    # the run dies with the executor (no orphaned computation)
    wait_for(
        lambda: [pid for pid in workers if _alive(pid)],
        until=lambda alive: not alive,
        timeout=60,
        message="the job's Dask workers to stop with the executor",
    )
    service.start()  # as the hub restarts a managed service that died
    job = _finished(service, job_id, timeout=60)
    assert job.status == "failed" and "executor stopped" in job.reason
    # the restarted executor serves the queue again
    assert _finished(service, service.submit("ada", QUICK)).status == "successful"


def test_a_job_waits_while_its_owners_gateway_cluster_holds_the_quota(
    service: Service, gateway: Gateway
) -> None:
    """A cluster of Grace's on the gateway holds her quota of one core: her job stays queued,
    saying why in her words (OGC ``message``), Bob's later job is not held up by hers, and hers
    runs once her cluster stops."""
    grace = gateway.login("grace")
    cluster = submit_cluster(gateway, grace)  # counts from its creation, as the gateway's check
    try:
        held = service.submit("grace", QUICK)
        waiting = wait_for(
            lambda: service.job(held),
            until=lambda job: job.reason is not None,
            timeout=60,
            message="grace's job to say why it waits",
        )
        assert waiting.status == "queued"
        assert waiting.reason == (
            "waiting: your Dask quota of 1 core is in use by 1 cluster (1 core held; this run "
            "needs 1); it starts when one of them stops"
        )
        other = service.submit("bob", QUICK)
        wait_for(
            lambda: service.job(other).status,
            until=lambda status: status != "queued",
            timeout=60,
            message="bob's later job to start beside grace's waiting one",
        )
        assert service.job(held).status == "queued"
    finally:
        with dask_gateway_api(gateway, grace) as api:
            api.delete(f"/clusters/{cluster}").raise_for_status()
    for job in (_finished(service, held), _finished(service, other)):
        assert job.status == "successful", job.reason
