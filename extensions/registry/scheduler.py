"""The scheduler: turns due schedules, changed catalog data and finished runs into jobs and
notifications.

It lives in the registry, not the executor: the registry holds the database, the manifests
(parameters are re-checked against the twin's current schema before each submission, and a
twin's ``catalog`` says which data a schedule's runs read) and the users' notifications; the
executor only runs what is queued in ``jobs``. The registry is one process, so one loop ticks.
Everything it knows lives in the database (``schedules.next_run_at``, the checksums seen, which
finished jobs were checked), so a restart picks up where it stopped. The clock is injected: the
loop passes the time in, tests call :meth:`Scheduler.tick` with the instants they choose.

Missed runs (the registry was down when a run was due, by more than :data:`GRACE`): ``skip``
drops them (a run due within the grace still runs); ``once`` runs one job for all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from twinhub.contracts.manifest import ManifestError

from .jobs import FINISHED, Job, submit
from .schedules import (
    CatalogChecksum,
    Condition,
    Notification,
    Schedule,
    ScheduleRun,
    latest_at_or_before,
    manifest_of,
    next_after,
    webhook_problem,
)

log = logging.getLogger("twinhub.registry.scheduler")
GRACE = timedelta(minutes=5)
"""A run is missed when the scheduler comes to it later than this after its instant."""
WEBHOOK_TIMEOUT = 5.0


def catalog_checksum(entry: str) -> str:
    """The checksum runs record in their provenance (``twins.runs``): the same function."""
    from twinhub.catalogs.access import dataset_checksum, open_entry

    return dataset_checksum(open_entry(entry))


class Scheduler:
    def __init__(
        self,
        store,
        *,
        webhook_hosts: tuple[str, ...] = (),
        checksum: Callable[[str], str] = catalog_checksum,
        data_interval: timedelta = timedelta(minutes=10),
    ):
        self.store = store
        self.webhook_hosts = webhook_hosts
        self.checksum = checksum
        self.data_interval = data_interval
        self._data_checked: datetime | None = None

    # --- one step ------------------------------------------------------------------------------
    def tick(self, now: datetime) -> list[str]:
        """Submit what is due at ``now``, check data when its interval passed, check finished
        runs against conditions; the ids of the jobs submitted."""
        jobs = self.run_due(now)
        if self._data_checked is None or now - self._data_checked >= self.data_interval:
            jobs += self.check_data(now)
            self._data_checked = now
        self.check_outcomes(now)
        return jobs

    def run_due(self, now: datetime) -> list[str]:
        submitted = []
        with self.store.transaction() as s:
            due = select(Schedule).where(Schedule.enabled, Schedule.next_run_at <= now)
            for schedule in s.scalars(due.order_by(Schedule.next_run_at)):
                latest = latest_at_or_before(schedule.cron, schedule.timezone, now)
                late = now - schedule.next_run_at > GRACE
                if not late:
                    reason = "cron"
                elif schedule.missed == "once":
                    reason = "catch-up"
                elif now - latest <= GRACE:
                    reason = "cron"  # earlier runs were missed, this one is on time
                else:
                    reason = None
                    log.info("schedule %s: skipped runs missed until %s", schedule.id, latest)
                if reason:
                    job = self._submit(s, schedule, latest, reason, now)
                    if job:
                        submitted.append(job)
                schedule.next_run_at = next_after(schedule.cron, schedule.timezone, now)
        return submitted

    def _submit(
        self, s, schedule: Schedule, due: datetime, reason: str, now: datetime,
        checksums: dict[str, str] | None = None,
    ) -> str | None:  # fmt: skip
        """Queue one run of ``schedule`` (parameters checked against the twin as it is now)."""
        try:
            manifest = manifest_of(self.store, schedule.process)
            if manifest is None:
                raise ManifestError(
                    schedule.process, [("process", "the twin or pipeline is gone or retired")]
                )
            parameters = manifest.check_parameters(schedule.parameters)
        except ManifestError as e:
            problems = "; ".join(f"{f}: {m}" for f, m in e.errors)[:1000]
            s.add(
                Notification(
                    owner=schedule.owner,
                    schedule_id=schedule.id,
                    message=f"schedule of {schedule.process!r} did not run: {problems}",
                    created_at=now,
                )
            )
            return None
        if checksums is None:
            entries = list(manifest.catalog or ())
            known = s.scalars(select(CatalogChecksum).where(CatalogChecksum.entry.in_(entries)))
            checksums = {row.entry: row.checksum for row in known}
        job = submit(
            s,
            owner=schedule.owner,
            process=schedule.process,
            inputs=parameters,
            trigger=f"schedule:{schedule.id}",
        )
        s.add(
            ScheduleRun(
                job_id=job,
                schedule_id=schedule.id,
                due_at=due,
                reason=reason,
                input_checksums=checksums,
                checked=False,
            )
        )
        return job

    # --- data triggers ---------------------------------------------------------------------------
    def check_data(self, now: datetime) -> list[str]:
        """Run again the schedules whose twin reads a catalog entry whose data changed."""
        with self.store.sessions() as s:
            watched = s.scalars(
                select(Schedule).where(Schedule.enabled, Schedule.on_data_change)
            ).all()
        readers: dict[str, list[str]] = {}
        for schedule in watched:
            manifest = manifest_of(self.store, schedule.process)
            for entry in (manifest.catalog or ()) if manifest else ():
                readers.setdefault(entry, []).append(schedule.id)
        submitted = []
        for entry, schedule_ids in sorted(readers.items()):
            try:
                checksum = self.checksum(entry)  # reads the data: outside any transaction
            except Exception as e:  # data being rebuilt, missing: try at the next interval
                log.warning("catalog entry %s: no checksum (%s)", entry, e)
                continue
            with self.store.transaction() as s:
                seen = s.get(CatalogChecksum, entry)
                if seen is None:
                    s.add(CatalogChecksum(entry=entry, checksum=checksum, checked_at=now))
                    continue
                seen.checked_at = now
                if seen.checksum == checksum:
                    continue
                seen.checksum = checksum
                for schedule_id in schedule_ids:
                    schedule = s.get(Schedule, schedule_id)
                    if schedule is None or not schedule.enabled:
                        continue
                    job = self._submit(
                        s, schedule, now, f"data:{entry}", now, checksums={entry: checksum}
                    )
                    if job:
                        submitted.append(job)
        return submitted

    # --- conditions ------------------------------------------------------------------------------
    def check_outcomes(self, now: datetime) -> list[Notification]:
        """Each finished scheduled job once: notify its owner when the condition holds."""
        calls: list[tuple[int, str, dict[str, Any]]] = []
        made = []
        with self.store.transaction() as s:
            pending = s.execute(
                select(ScheduleRun, Job, Schedule)
                .join(Job, Job.id == ScheduleRun.job_id)
                .join(Schedule, Schedule.id == ScheduleRun.schedule_id)
                .where(~ScheduleRun.checked, Job.status.in_(FINISHED))
                .limit(500)
            ).all()
            for run, job, schedule in pending:
                run.checked = True
                if job.status != "successful" or not schedule.condition:
                    continue
                condition = Condition.model_validate(schedule.condition)
                value = _scalar((job.outputs or {}).get(condition.output))
                if value is None or not condition.met_by(value):
                    continue
                message = (
                    f"{schedule.process}: {condition.output} = {value:g} "
                    f"{condition.op} {condition.threshold:g} (job {job.id})"
                )
                note = Notification(
                    owner=schedule.owner,
                    schedule_id=schedule.id,
                    job_id=job.id,
                    message=message,
                    created_at=now,
                )
                s.add(note)
                s.flush()
                made.append(note)
                if schedule.webhook:
                    payload = {
                        "schedule": schedule.id,
                        "job": job.id,
                        "process": schedule.process,
                        "output": condition.output,
                        "value": value,
                        "op": condition.op,
                        "threshold": condition.threshold,
                        "message": message,
                    }
                    calls.append((note.id, schedule.webhook, payload))
        for note_id, url, payload in calls:  # no transaction held while a receiver answers
            status = self._post(url, payload)
            with self.store.transaction() as s:
                s.get(Notification, note_id).webhook_status = status
        return made

    def _post(self, url: str, payload: dict[str, Any]) -> str:
        problem = webhook_problem(url, self.webhook_hosts)  # the setting may have changed
        if problem:
            return f"not sent: {problem}"[:200]
        try:
            r = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT, follow_redirects=False)
            return f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            return f"failed: {type(e).__name__}"[:200]

    # --- the loop the registry runs ------------------------------------------------------------
    async def run_forever(self, clock: Callable[[], datetime], interval: float) -> None:
        while True:
            try:
                await asyncio.to_thread(self.tick, clock())
            except Exception:
                log.exception("scheduler tick failed; trying again in %ss", interval)
            await asyncio.sleep(interval)


def _scalar(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def utc_now() -> datetime:
    return datetime.now(UTC)
