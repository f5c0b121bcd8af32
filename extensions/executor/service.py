"""The run executor service: runs the registry's queued jobs, each as its user, and reports.

One loop, a few times a second: start queued jobs while slots are free (:func:`jobs.claim`,
atomic, so several executors may share one database), stop the process groups of jobs their
owner dismissed, and record the jobs whose runner ended (:func:`jobs.finish`). A job runs as
:mod:`.runner` in the twin's environment (:func:`runtime_python`) under the owner's unix account
(as JupyterHub's LocalProcessSpawner runs a server: the account's uid and gid, no other groups,
a minimal environment without any platform token), in a session of its own whose Dask cluster
are its children: killing the group stops the job's Dask tasks. The runner also dies with the
executor (``PR_SET_PDEATHSIG``), and on start the executor marks every job still ``running``
as failed, saying why: a crash never leaves a job "running".

Publishing builds (:mod:`.builds`) run here too, not in the registry (which then needs no root):
one at a time, in a slot of their own beside the job slots, each in a process of its own
(root, dropping to the owner's account for every command of the build, and dying with the
executor); on start the executor marks builds it left ``building``/``testing`` as failed.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from twinhub.catalogs.location import DATA_DIR_ENV, data_dir
from twinhub.contracts.settings import Settings

from ..registry import jobs
from ..registry.db import Job, PipelineRow, Run, Twin, open_database
from ..runtimes import runtime_python, shared_python
from . import builds
from .gateway_usage import GatewayClusters
from .runner import PROVENANCE, RESULT

log = logging.getLogger("twinhub.executor")
POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 5.0
JOBS_DIR_MODE = 0o711
"""Every account passes through to its own job's folder; none lists the others."""
PR_SET_PDEATHSIG = 1
OUTPUTS = {"result": RESULT, "provenance": PROVENANCE}
"""The files a successful job leaves in its folder, by output name (OGC API results)."""
MAX_PROVENANCE = 8 * 1024 * 1024


def jobs_dir(settings: Settings) -> Path:
    """Where each job's folder (inputs, outputs, PROV, log) lives: ``<state>/jobs/<id>``."""
    return settings.state_dir / "jobs"


def _die_with_parent() -> None:
    """In the runner, before exec: get SIGKILL when the executor dies (even by kill -9)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Running:
    job_id: str
    process: subprocess.Popen
    folder: Path
    stopping_since: float | None = None


@dataclass
class Executor:
    settings: Settings
    sessions: sessionmaker
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    running: dict[str, Running] = field(default_factory=dict)
    build: tuple[int, subprocess.Popen] | None = None
    """The publishing build running now (a slot of its own): version id, its process."""

    def __post_init__(self) -> None:
        self.accounts: Any = None
        if self.settings.user_accounts:
            from twinhub.extensions.accounts import UserAccounts, accounts_config

            self.accounts = UserAccounts(config=accounts_config(self.settings))
        self.platform_gid = builds.platform_gid(self.settings) if self.accounts else None
        """The registry's group (it runs as the platform's account): it passes through to a
        job's folder and reads the job's outputs, nothing else of it."""
        jobs_dir(self.settings).mkdir(mode=JOBS_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(jobs_dir(self.settings), JOBS_DIR_MODE)
        self.quota = jobs.Quota(
            max_clusters=self.settings.dask_max_clusters_per_user,
            max_cores=self.settings.dask_max_cores_per_user,
            workers=self.settings.executor_workers,
            gateway=GatewayClusters(self.settings.gateway_db_url),
        )

    # --- the loop ------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Jobs a dead executor left ``running`` become failed (one executor per database)."""
        with self.sessions.begin() as s:
            failed = jobs.fail_interrupted(s)
        for job_id in failed:
            log.warning("job %s was running when the executor stopped: marked failed", job_id)
        for version_id in builds.fail_interrupted_builds(self.sessions):
            log.warning("build of version %s was interrupted: marked failed", version_id)
        return failed

    def tick(self) -> None:
        self._reap()
        self._stop_dismissed()
        self._builds()
        while len(self.running) < self.settings.executor_slots:
            with self.sessions() as s:
                job = jobs.claim(s, self.name, self.quota)
                if job is None:
                    return
                manifest = s.scalar(select(Twin.manifest).where(Twin.name == job.process))
                if manifest is None:  # a pipeline is a process too (its document)
                    manifest = s.scalar(
                        select(PipelineRow.document).where(PipelineRow.name == job.process)
                    )
                replayed = jobs.replayed_job(job)
                record = (  # a job's PROV, or a run's recorded from a notebook or dashboard
                    s.scalar(select(Job.provenance).where(Job.id == replayed))
                    or s.scalar(select(Run.provenance).where(Run.id == replayed))
                    if replayed
                    else None
                )
            if replayed and not record:
                with self.sessions.begin() as s:
                    reason = f"run {replayed} to replay has no PROV record (gone?)"
                    jobs.finish(s, job.id, jobs.FAILED, reason=reason)
                continue
            self._start(job, manifest, record)

    def serve(self, stop: threading.Event) -> None:
        self.recover()
        log.info("run executor %s: %d slots", self.name, self.settings.executor_slots)
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the database away for a moment: keep serving
                log.exception("executor tick failed")
            stop.wait(POLL_SECONDS)
        for run in list(self.running.values()):
            self._kill(run)
        if self.build is not None:
            _, process = self.build
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # --- publishing builds ---------------------------------------------------------------------
    def _builds(self) -> None:
        """Reap the running build (a process that ended without a final state failed), then
        claim and start the next queued one."""
        if self.build is not None:
            version_id, process = self.build
            if process.poll() is None:
                return
            self.build = None
            reason = f"the build's process ended with exit code {process.returncode}"
            if builds.fail_build(self.sessions, version_id, reason):
                log.warning("build of version %s: %s", version_id, reason)
        version_id = builds.claim_build(self.sessions)
        if version_id is None:
            return
        try:
            process = subprocess.Popen(
                # in the twin runtime: a published twin's environment is layered on the
                # interpreter that builds it (runtimes.build_published_environment)
                [
                    str(shared_python(self.settings)),
                    "-m",
                    "twinhub.extensions.executor.builds",
                    str(version_id),
                ],
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its steps' sessions are killed by the build itself
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - the loop is single-threaded
            )
        except OSError as e:
            builds.fail_build(self.sessions, version_id, f"could not start: {e}")
            return
        log.info("build of version %s started: pid %d", version_id, process.pid)
        self.build = (version_id, process)

    # --- one job -------------------------------------------------------------------------------
    def _start(
        self, job: Job, manifest: dict[str, Any] | None, replay: dict[str, Any] | None = None
    ) -> None:
        folder = jobs_dir(self.settings) / job.id
        try:
            if manifest is None:
                raise LookupError(f"process {job.process!r} is no longer registered")
            folder.mkdir(mode=0o700)
            # as the claim counted it in the owner's quota
            workers = jobs.job_workers(manifest, self.quota.workers, self.quota.max_cores)
            (folder / "job.json").write_text(
                json.dumps(
                    {
                        "id": job.id,
                        "owner": job.owner,
                        "process": job.process,
                        "manifest": manifest,
                        "inputs": job.inputs,
                        "workers": workers,
                        "replay": replay,
                    }
                )
            )
            account = self.accounts.user_account(job.owner) if self.accounts else None
            if account is not None:
                for path in (folder, folder / "job.json"):
                    os.chown(path, account.uid, account.gid)
                if self.platform_gid is not None:
                    builds.share_job_outputs(folder, self.platform_gid, ())
            log_file = open(folder / "runner.log", "wb")  # noqa: SIM115 - the child writes it
            if account is not None:
                os.chown(folder / "runner.log", account.uid, account.gid)
            python = runtime_python(job.process, self.settings)
            process = subprocess.Popen(
                [str(python), "-m", "twinhub.extensions.executor.runner", str(folder)],
                cwd=folder,
                env=self._environment(job, folder, account),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the job and its Dask cluster
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - the loop is single-threaded
                **(
                    {"user": account.uid, "group": account.gid, "extra_groups": []}
                    if account is not None
                    else {}
                ),
            )
            log_file.close()
        except Exception as e:
            log.exception("job %s could not start", job.id)
            with self.sessions.begin() as s:
                jobs.finish(s, job.id, jobs.FAILED, reason=f"could not start: {e}")
            return
        log.info("job %s (%s for %s) started: pid %d", job.id, job.process, job.owner, process.pid)
        self.running[job.id] = Running(job.id, process, folder)

    def _environment(self, job: Job, folder: Path, account: Any) -> dict[str, str]:
        """What the runner sees: nothing of the platform's (no tokens, no database URL)."""
        home = account.home if account is not None else str(folder)
        return {
            "PATH": f"{self.settings.twin_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "USER": account.name if account is not None else job.owner,
            "LANG": "C.UTF-8",
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            DATA_DIR_ENV: str(data_dir(self.settings)),
            "JUPYTERHUB_USER": job.owner,
            "DASK_TEMPORARY_DIRECTORY": str(folder),
            "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
            "MPLCONFIGDIR": str(folder / ".matplotlib"),
        }

    def _reap(self) -> None:
        for run in list(self.running.values()):
            if run.process.poll() is None:
                continue
            del self.running[run.job_id]
            if run.stopping_since is not None:
                continue  # dismissed: its state is already final
            result = jobs.read_user_json(run.folder / "result.json")
            provenance = jobs.read_user_json(run.folder / PROVENANCE, MAX_PROVENANCE)
            status = result.get("status")
            if status == jobs.SUCCESSFUL and not provenance:
                status, result["reason"] = jobs.FAILED, "the run left no PROV record"
            if status == jobs.SUCCESSFUL:
                self._share_outputs(run.folder)
            with self.sessions.begin() as s:
                if status == jobs.SUCCESSFUL:
                    done = jobs.finish(
                        s,
                        run.job_id,
                        jobs.SUCCESSFUL,
                        outputs={**_declared_values(result), **OUTPUTS},
                        provenance=provenance,
                    )
                else:
                    reason = result.get("reason") or (
                        f"the run's process ended with exit code {run.process.returncode} "
                        "and no result (killed?)"
                    )
                    done = jobs.finish(s, run.job_id, jobs.FAILED, reason=reason)
            log.info("job %s ended: %s%s", run.job_id, status, "" if done else " (ignored)")

    def _share_outputs(self, folder: Path) -> None:
        """The job's outputs become readable by the registry's group (it serves them as the
        platform's account)."""
        if self.platform_gid is not None:
            try:
                builds.share_job_outputs(folder, self.platform_gid, tuple(OUTPUTS.values()))
            except OSError:
                log.exception("the outputs in %s could not be shared with the registry", folder)

    def _stop_dismissed(self) -> None:
        if not self.running:
            return
        with self.sessions() as s:
            dismissed = set(
                s.scalars(
                    select(Job.id).where(
                        Job.id.in_(list(self.running)), Job.status == jobs.DISMISSED
                    )
                )
            )
        for job_id in dismissed:
            self._kill(self.running[job_id])

    def _kill(self, run: Running) -> None:
        """SIGTERM to the job's process group (runner, Dask scheduler and workers); SIGKILL
        if it is still there after a grace period."""
        now = time.monotonic()
        sig = signal.SIGTERM
        if run.stopping_since is None:
            run.stopping_since = now
            log.info("job %s dismissed: stopping process group %d", run.job_id, run.process.pid)
        elif now - run.stopping_since > STOP_GRACE_SECONDS:
            sig = signal.SIGKILL
        else:
            return
        try:
            os.killpg(run.process.pid, sig)
        except ProcessLookupError:
            pass


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"
    )
    settings = Settings.from_env()
    executor = Executor(settings, open_database(settings.registry_db_url))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    executor.serve(stop)


def _declared_values(result: dict) -> dict[str, dict[str, float]]:
    """The twin's declared output values the run reported (``{"value": number}`` each); the
    file is the job user's, so anything but a finite number is dropped."""
    values = result.get("values")
    if not isinstance(values, dict):
        return {}
    kept = {}
    for name, item in list(values.items())[:64]:
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(name, str) and len(name) <= 64 and isinstance(value, int | float):
            if not isinstance(value, bool) and math.isfinite(value):
                kept[name] = {"value": float(value)}
    return kept
