"""Jobs: runs the platform executes, queued in the registry's database.

Anything that wants a twin run (the OGC API - Processes routes, ``POST /api/twins/{name}/runs``,
schedules) calls :func:`submit`; the run executor (``twinhub.extensions.executor``) claims
queued jobs with :func:`claim` and reports with :func:`finish`. Every change is a single
conditional ``UPDATE ... WHERE status = <expected>`` so that two executors, an executor and a
dismissing user, or a restart racing a finish, never both win: the loser sees 0 rows changed.
That is atomic on SQLite (one writer at a time) and on PostgreSQL (row locks) alike.

State machine::

    queued --claim--> running --finish--> successful | failed
    queued | running --dismiss--> dismissed     (the executor stops a running one)
    running --fail_interrupted--> failed        (the executor died while it ran)

Quota: a job counts against its owner's Dask quota (``TWINHUB_DASK_MAX_CLUSTERS_PER_USER``,
``TWINHUB_DASK_MAX_CORES_PER_USER``) like a gateway cluster of theirs: one cluster, one core
per worker (:func:`job_workers`). :func:`claim`, given a :class:`Quota`, skips an owner whose
running jobs and active gateway clusters leave no room for their next job; that job stays
queued, its ``reason`` saying why (:func:`waiting_message`), and other owners' jobs go ahead.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased
from twinhub.contracts.jsonvalues import json_problems
from twinhub.contracts.manifest import ManifestError, parse_manifest

from .db import Job, PipelineRow, Twin, utcnow
from .errors import Conflict, Invalid, NotFound

QUEUED, RUNNING, SUCCESSFUL, FAILED, DISMISSED = (
    "queued",
    "running",
    "successful",
    "failed",
    "dismissed",
)
STATES = (QUEUED, RUNNING, SUCCESSFUL, FAILED, DISMISSED)
FINISHED = frozenset({SUCCESSFUL, FAILED, DISMISSED})
MAX_REASON = 2000
MAX_TRIGGER = 64
"""What started a job: "api", "schedule:<id>", "data:<entry>", "replay:<job id>"."""
REPLAY_PREFIX = "replay:"
"""Trigger of a job that reruns another job from its PROV record (``twins.runs.replay``)."""
INTERRUPTED = "the run executor stopped while this job ran (crash or restart); run it again"
WAITING = "waiting: your Dask quota"
"""How the ``reason`` of a job held back by its owner's quota begins (:func:`waiting_message`)."""


@dataclass(frozen=True)
class Usage:
    """What of a user's Dask quota is in use: clusters and their cores."""

    clusters: int = 0
    cores: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.clusters + other.clusters, self.cores + other.cores)


@dataclass(frozen=True)
class Quota:
    """One user's Dask budget, shared by their gateway clusters and their running jobs.

    ``max_clusters`` / ``max_cores``: the settings ``dask_max_clusters_per_user`` /
    ``dask_max_cores_per_user`` (0: no limit); ``workers``: ``executor_workers``, the most
    workers (one core each) of a job's cluster; ``gateway``: the user's active gateway
    clusters (:class:`twinhub.extensions.executor.gateway_usage.GatewayClusters`).
    """

    max_clusters: int = 0
    max_cores: float = 0.0
    workers: int = 1
    gateway: Callable[[str], Usage] = lambda owner: Usage()


def job_workers(manifest: dict[str, Any] | None, workers: int, max_cores: float = 0) -> int:
    """The Dask workers (one core each) of a job's cluster: ``workers`` (the executor's
    setting), at most the twin's ``dask.max_workers`` and at most the owner's whole core quota
    (so that a job always fits once the owner's other clusters stop); at least one."""
    dask = manifest.get("dask") if isinstance(manifest, dict) else None
    most = dask.get("max_workers") if isinstance(dask, dict) else None
    if isinstance(most, int) and not isinstance(most, bool):
        workers = min(workers, most)
    if max_cores:
        workers = min(workers, int(max_cores))
    return max(1, workers)


def check_inputs(session: Session, process: str, inputs: Any) -> tuple[str, dict[str, Any]]:
    """The process's version and its inputs with defaults, checked against the manifest's
    parameter schema (the same check as every run the registry records): 422 naming the field."""
    if not isinstance(inputs, dict):
        raise Invalid([("inputs", "must be an object of parameter names to values")])
    problems = json_problems(inputs, "inputs")
    if problems:
        raise Invalid(problems)
    twin = session.scalar(select(Twin).where(Twin.name == process))
    if twin is None:
        return _check_pipeline_inputs(session, process, inputs)
    if twin.retired_at is not None:
        raise NotFound(f"no process {process!r}")
    manifest = parse_manifest(twin.manifest, f"twin {process!r}")
    try:
        return manifest.version, manifest.check_parameters(inputs)
    except ManifestError as e:
        raise Invalid([(f.replace("parameters", "inputs", 1), m) for f, m in e.errors]) from None


def _check_pipeline_inputs(
    session: Session, process: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A pipeline's inputs are overrides of its steps' literals, ``{step: {parameter: value}}``
    (:func:`twinhub.twins.pipeline.step_inputs`); each step's twin checks its parameters when
    the run starts."""
    from twinhub.twins.pipeline import parse_pipeline, step_inputs  # (import cycle)

    row = session.scalar(select(PipelineRow).where(PipelineRow.name == process))
    if row is None or row.retired_at is not None:
        raise NotFound(f"no process {process!r}")
    pipeline = parse_pipeline(row.document, f"pipeline {process!r}")
    try:
        step_inputs(pipeline, inputs)
    except ManifestError as e:
        raise Invalid(e.errors) from None
    return pipeline.version, inputs


def submit(
    session: Session, *, owner: str, process: str, inputs: dict, trigger: str = "api"
) -> str:
    """Queue a run of ``process`` (a twin's name) for ``owner``; returns the job id.

    The caller has checked that ``owner`` may see the process (the registry's routes do, with
    the user's groups); here the inputs are validated and the job is added to ``session``
    (committed with the caller's transaction: nothing is stored if it fails).
    """
    version, checked = check_inputs(session, process, inputs)
    job = Job(
        id=uuid.uuid4().hex,
        owner=owner,
        process=process,
        process_version=version,
        inputs=checked,
        trigger=trigger[:MAX_TRIGGER],
        status=QUEUED,
        reason=None,
        outputs=None,
        provenance=None,
        executor=None,
    )
    session.add(job)
    session.flush()
    return job.id


def _move(
    session: Session, job_id: str, expected: tuple[str, ...], *guard: Any, **values: Any
) -> bool:
    """Set ``values`` on the job if its status is one of ``expected`` (and ``guard`` holds);
    whether it was."""
    values["updated_at"] = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(expected), *guard)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def claim(session: Session, executor: str, quota: Quota | None = None) -> Job | None:
    """The next queued job, fairly across users, now running for ``executor``; None if the
    queue is empty (or, with a ``quota``, every owner with queued jobs is at their quota).

    Fair: the oldest queued job of the owner with the fewest jobs running now (ties: whose
    oldest queued job is older). One user's hundred queued jobs then take turns with another
    user's one instead of going before it: a user waits for their own earlier jobs and a fair
    share of the slots, never for someone else's backlog. A job another executor claimed
    between the read and the update is skipped (its update changed 0 rows) and the choice is
    made again.

    With a ``quota``, an owner whose next job does not fit in what their running jobs and
    gateway clusters leave (:func:`fits`) is skipped: the next owner in the fair order goes
    instead, and the skipped owner's queued jobs say why (:func:`waiting_message`). The claim
    is conditional on the owner having no more jobs running than were counted, so two
    executors cannot both take a user's last place on SQLite (one writer at a time); on
    PostgreSQL two executors claiming for one user at the same instant may each see the
    room (at most one job over per extra executor). A gateway cluster started between the
    read of the gateway's clusters and the claim is not seen either (at most one cluster over);
    the gateway's own check counts running jobs likewise.
    """
    while True:
        picked = _fair_next(session, quota)
        if picked is None:
            session.commit()  # the waiting messages
            return None
        job_id, owner, seen = picked
        guard = ()
        if quota is not None:
            other = aliased(Job)
            running = (
                select(func.count())
                .select_from(other)
                .where(other.owner == owner, other.status == RUNNING)
                .scalar_subquery()
            )
            guard = (running <= seen,)
        if _move(
            session,
            job_id,
            (QUEUED,),
            *guard,
            status=RUNNING,
            executor=executor,
            started_at=utcnow(),
            reason=None,
        ):
            session.commit()
            return session.get(Job, job_id, populate_existing=True)
        session.rollback()


def _fair_next(session: Session, quota: Quota | None) -> tuple[str, str, int] | None:
    """The job :func:`claim` takes next, its owner and how many jobs the owner has running
    (grouped reads, linear in the jobs queued and running, which the slots and the per-user
    limits keep small; with a quota, one read of the gateway's clusters per owner tried)."""
    running = _running_by_owner(session, quota.workers if quota else 1, quota)
    heads = session.execute(
        select(Job.owner, func.min(Job.created_at)).where(Job.status == QUEUED).group_by(Job.owner)
    ).all()
    order = sorted(
        heads, key=lambda head: (running.get(head[0], Usage()).clusters, *head[1:], head[0])
    )
    for owner, _ in order:
        jobs_usage = running.get(owner, Usage())
        # the gateway's clusters are read before the job is chosen: a job claimed meanwhile
        # by another executor is then either the one chosen (the claim's status check) or
        # counted by the claim's guard
        gateway = quota.gateway(owner) if quota is not None else Usage()
        head = session.execute(
            select(Job.id, Job.process)
            .where(Job.status == QUEUED, Job.owner == owner)
            .order_by(Job.created_at, Job.id)
            .limit(1)
        ).first()
        if head is None:  # claimed or dismissed since the first read
            continue
        job_id, process = head
        if quota is None:
            return job_id, owner, jobs_usage.clusters
        manifest = _manifests(session, {process}).get(process)
        need = job_workers(manifest, quota.workers, quota.max_cores)
        why = waiting_message(quota, gateway, jobs_usage, need)
        _note_waiting(session, owner, why)
        if why is None:
            return job_id, owner, jobs_usage.clusters
    return None


def _manifests(session: Session, processes: set[str]) -> dict[str, dict[str, Any]]:
    """The manifests (a pipeline's document) of ``processes``, by name."""
    found = dict(
        session.execute(select(Twin.name, Twin.manifest).where(Twin.name.in_(processes))).all()
    )
    rest = processes - found.keys()
    if rest:
        found.update(
            session.execute(
                select(PipelineRow.name, PipelineRow.document).where(PipelineRow.name.in_(rest))
            ).all()
        )
    return found


def _running_by_owner(
    session: Session, workers: int, quota: Quota | None = None, owner: str | None = None
) -> dict[str, Usage]:
    """Each owner's running jobs: how many, and their workers' cores (:func:`job_workers`)."""
    query = select(Job.owner, Job.process).where(Job.status == RUNNING)
    if owner is not None:
        query = query.where(Job.owner == owner)
    rows = session.execute(query).all()
    # without a quota only the counts matter (the fair order): no manifests read
    counted = rows and quota is not None
    manifests = _manifests(session, {process for _, process in rows}) if counted else {}
    usage: dict[str, Usage] = {}
    max_cores = quota.max_cores if quota else 0
    for who, process in rows:
        cores = job_workers(manifests.get(process), workers, max_cores)
        usage[who] = usage.get(who, Usage()) + Usage(1, cores)
    return usage


def running_usage(session: Session, owner: str, workers: int, max_cores: float = 0) -> Usage:
    """What ``owner``'s running jobs hold of their Dask quota (for the gateway's check)."""
    quota = Quota(max_cores=max_cores, workers=workers)
    return _running_by_owner(session, workers, quota, owner).get(owner, Usage())


def fits(quota: Quota, used: Usage, need: float) -> bool:
    """Whether one more cluster of ``need`` cores fits in ``quota`` beside ``used`` (alone,
    it always does: a quota below one core still lets one job run at a time)."""
    if not used.clusters:
        return True
    if quota.max_clusters and used.clusters + 1 > quota.max_clusters:
        return False
    return not quota.max_cores or used.cores + need <= quota.max_cores


def _count(n: float, word: str) -> str:
    return f"{n:g} {word}{'' if n == 1 else 's'}"


def waiting_message(quota: Quota, gateway: Usage, running: Usage, need: float) -> str | None:
    """Why a job of ``need`` cores waits for its owner's quota, in words for the owner; None
    if it fits: "waiting: your Dask quota of 4 cores is in use by 2 clusters and 1 run"."""
    used = gateway + running
    if fits(quota, used, need):
        return None
    holders = " and ".join(
        part
        for n, part in (
            (gateway.clusters, _count(gateway.clusters, "cluster")),
            (running.clusters, _count(running.clusters, "run")),
        )
        if n
    )
    if quota.max_clusters and used.clusters + 1 > quota.max_clusters:
        limit = _count(quota.max_clusters, "cluster")
        detail = ""
    else:
        limit = _count(quota.max_cores, "core")
        detail = f" ({_count(used.cores, 'core')} held; this run needs {need:g})"
    return (
        f"{WAITING} of {limit} is in use by {holders or 'nothing'}{detail}; it starts when "
        "one of them stops"
    )


def _note_waiting(session: Session, owner: str, why: str | None) -> None:
    """Set (or clear, ``why`` None) the waiting message on ``owner``'s queued jobs; writes
    only when it changes (a read first: the executor asks a few times a second)."""
    queued = (Job.status == QUEUED, Job.owner == owner)
    if why is None:
        stale = (Job.reason.like(f"{WAITING}%"),)
    else:
        stale = ((Job.reason.is_(None)) | (Job.reason != why),)
    if session.scalar(select(func.count()).where(*queued, *stale)):
        session.execute(
            update(Job)
            .where(*queued, *stale)
            .values(reason=why)
            .execution_options(synchronize_session=False)
        )


def finish(
    session: Session,
    job_id: str,
    status: str,
    *,
    reason: str | None = None,
    outputs: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> bool:
    """Record the end of a running job; False if it was no longer running (dismissed)."""
    if status not in (SUCCESSFUL, FAILED):
        raise ValueError(f"a run finishes successful or failed, not {status!r}")
    return _move(
        session,
        job_id,
        (RUNNING,),
        status=status,
        reason=reason[:MAX_REASON] if reason else None,
        outputs=outputs,
        provenance=provenance,
        finished_at=utcnow(),
    )


def dismiss(session: Session, owner: str, job_id: str) -> Job:
    """Dismiss the owner's job: a queued one never runs, a running one the executor stops."""
    job = visible_job(session, owner, job_id)
    if job.status in FINISHED:
        raise Conflict(f"job {job_id!r} is already {job.status}")
    reason = f"dismissed by {owner}"
    if not _move(
        session, job_id, (QUEUED, RUNNING), status=DISMISSED, reason=reason, finished_at=utcnow()
    ):
        session.refresh(job)
        raise Conflict(f"job {job_id!r} is already {job.status}")
    session.refresh(job)
    return job


def fail_interrupted(session: Session, executor: str | None = None) -> list[str]:
    """Mark jobs left ``running`` (by ``executor``, or by any) failed, saying why."""
    query = select(Job.id).where(Job.status == RUNNING)
    if executor is not None:
        query = query.where(Job.executor == executor)
    failed = [
        job_id
        for job_id in session.scalars(query).all()
        if _move(
            session, job_id, (RUNNING,), status=FAILED, reason=INTERRUPTED, finished_at=utcnow()
        )
    ]
    return failed


def status_of(session: Session, job_id: str) -> str | None:
    return session.scalar(select(Job.status).where(Job.id == job_id))


def visible_job(session: Session, viewer: str, job_id: str, *, read_all: bool = False) -> Job:
    """The job if ``viewer`` owns it (or may read every run); 404 otherwise, never 403, so
    other users' job ids reveal nothing."""
    job = session.get(Job, job_id) if len(job_id) <= 64 else None
    if job is None or not (job.owner == viewer or read_all):
        raise NotFound(f"no job {job_id!r}")
    return job


def list_jobs(
    session: Session,
    viewer: str,
    *,
    read_all: bool = False,
    process: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Job]:
    query = select(Job).order_by(Job.created_at.desc(), Job.id)
    if not read_all:
        query = query.where(Job.owner == viewer)
    if process:
        query = query.where(Job.process == process)
    if status:
        query = query.where(Job.status == status)
    return list(session.scalars(query.limit(limit).offset(offset)))


def list_shared_jobs(
    session: Session, viewer: str, processes: list[str], *, limit: int = 50, offset: int = 0
) -> list[Job]:
    """Jobs of others of the given processes, newest first: for a viewer who may read every
    run (the caller checks that), limited to the twins and pipelines they may see."""
    query = (
        select(Job)
        .where(Job.owner != viewer, Job.process.in_(processes))
        .order_by(Job.created_at.desc(), Job.id)
    )
    return list(session.scalars(query.limit(limit).offset(offset)))


def replayed_job(job: Job) -> str | None:
    """The id of the job a replay job reruns, None for any other job."""
    if job.trigger.startswith(REPLAY_PREFIX):
        return job.trigger[len(REPLAY_PREFIX) :]
    return None


def duration(job: Job) -> float | None:
    end: datetime | None = job.finished_at
    if job.started_at is None or end is None:
        return None
    return (end - job.started_at).total_seconds()


def open_user_file(path: Path) -> int:
    """A descriptor of a regular file the job's user wrote, never following a link: the
    folder is theirs, and a link to a platform file must not be read as root."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path.name} is not a regular file")
    return fd


def read_user_json(path: Path, limit: int = 64 * 1024) -> dict[str, Any]:
    """A JSON object the runner wrote (at most ``limit`` bytes), or {} if there is none."""
    try:
        fd = open_user_file(path)
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            return {}
        value = json.loads(data)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
