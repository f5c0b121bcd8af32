"""Benchmark: the run executor (a real process on a real registry database) against a direct run.

``N_JOBS`` quick lattice runs are queued at once; the executor (``TWINHUB_EXECUTOR_SLOTS``, its
default) runs each as its owner in a Dask cluster of the job's own. Reported: jobs/s it sustains
over the batch, submit→running latency (a job's ``started_at - created_at``; queueing behind the
slots included) and each job's wall time, beside the same run made directly with
:meth:`Twin.run` in this process (no executor, no cluster of its own).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from twinhub.contracts.settings import REPO_ROOT, Settings
from twinhub.extensions.accounts import open_passages
from twinhub.extensions.registry import jobs
from twinhub.extensions.registry.db import Job, open_database
from twinhub.extensions.registry.discovery import load_profiles_file
from twinhub.extensions.registry.store import Store
from twinhub.twins.manifest import load_manifest
from twinhub.twins.twin import load_twin

from tests.support.waiting import wait_for

from .stats import summary

N_JOBS = 6
QUICK = {"temperatures": [2.0], "sizes": [4], "sweeps": 100, "thermalisation": 0, "replicas": 1}


def run(root: Path) -> dict:
    state = root / "state"
    state.mkdir(parents=True)
    open_passages([state])  # as the launcher does: accounts pass through to their folders
    env = {**os.environ, "TWINHUB_STATE_DIR": str(state)}
    settings = Settings.from_env(env)
    store = Store(open_database(settings.registry_db_url))
    load_profiles_file(store, REPO_ROOT / "hub" / "profiles.yaml")
    store.upsert_discovered_twin(load_manifest(REPO_ROOT / "twins" / "lattice" / "twin.yaml"))

    direct = []
    for _ in range(3):
        t = time.monotonic()
        load_twin("lattice").run(QUICK)
        direct.append(time.monotonic() - t)

    with open(state / "executor.log", "ab") as log:
        executor = subprocess.Popen(
            [sys.executable, "-m", "twinhub.extensions.executor"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        with store.transaction() as s:
            ids = [
                jobs.submit(s, owner="bench-runs", process="lattice", inputs=QUICK)
                for _ in range(N_JOBS)
            ]

        def finished() -> list[Job]:
            with store.sessions() as s:
                rows = [s.get(Job, i) for i in ids]
            return rows if all(j.status in jobs.FINISHED for j in rows) else []

        rows = wait_for(finished, timeout=600, message="the benchmark's jobs to finish")
    finally:
        executor.terminate()
        executor.wait(30)
    failed = [j.reason for j in rows if j.status != jobs.SUCCESSFUL]
    first = min(j.created_at for j in rows)
    last = max(j.finished_at for j in rows)
    return {
        "jobs": N_JOBS,
        "failed": failed,
        "jobs_per_s": round(N_JOBS / max((last - first).total_seconds(), 1e-9), 3),
        "submit_to_running": summary([(j.started_at - j.created_at).total_seconds() for j in rows]),
        "job_wall": summary([(j.finished_at - j.started_at).total_seconds() for j in rows]),
        "direct_run": summary(direct),
    }
