"""Schedules: a twin's or a pipeline's run with fixed parameters on a cron expression in a zone.

A user's schedule is theirs alone (others get 404, as for runs). Every field is checked before
anything is stored: the cron string (five fields, bounded, parsed by ``croniter`` and known to
fire), the zone (an IANA name ``zoneinfo`` knows), the parameters (the twin manifest's schema,
defaults filled in; a pipeline's step overrides), the condition on outputs and the webhook
(only to hosts the operator allows, ``TWINHUB_WEBHOOK_ALLOWED_HOSTS``). The scheduler
(:mod:`.scheduler`) turns them into jobs.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column
from twinhub.contracts.manifest import STRICT, ManifestError, parse_manifest
from twinhub.contracts.profile import field_errors

from .auth import User
from .db import Base, PipelineRow, utcnow
from .errors import Invalid, NotFound

CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]{1,40}")
ZONE = re.compile(r"[A-Za-z0-9_+-]{1,30}(/[A-Za-z0-9_+-]{1,30}){0,2}")
OUTPUT = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_SCHEDULES_PER_USER = 50


class Schedule(Base):
    __tablename__ = "schedules"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    process: Mapped[str] = mapped_column(String(40))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))
    missed: Mapped[str] = mapped_column(String(8))
    on_data_change: Mapped[bool] = mapped_column(Boolean)
    condition: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    webhook: Mapped[str | None] = mapped_column(String(2000))
    enabled: Mapped[bool] = mapped_column(Boolean)
    next_run_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleRun(Base):
    """A job a schedule submitted: when it was due, why, and the input checksums known then."""

    __tablename__ = "schedule_runs"
    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    schedule_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    due_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200))
    input_checksums: Mapped[dict[str, Any]] = mapped_column(JSON)
    checked: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    """The finished job's outputs were checked against the schedule's condition."""


class Notification(Base):
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    schedule_id: Mapped[str | None] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    webhook_status: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogChecksum(Base):
    """The last checksum the scheduler saw of a catalog entry schedules read."""

    __tablename__ = "catalog_checksums"
    entry: Mapped[str] = mapped_column(String(100), primary_key=True)
    checksum: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- the document a user sends -----------------------------------------------------------------
class Condition(BaseModel):
    """Notify the owner when a run's scalar output compares so with the threshold, e.g. the
    flood twin's ``p_exceed_10y`` (fraction of members exceeding the 10-year flood) ``>`` 0.3."""

    model_config = STRICT
    output: str = Field(pattern=OUTPUT, description="name of a scalar output of the run")
    op: Literal[">", ">=", "<", "<="] = ">"
    threshold: float

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    def met_by(self, value: float) -> bool:
        return {
            ">": value > self.threshold,
            ">=": value >= self.threshold,
            "<": value < self.threshold,
            "<=": value <= self.threshold,
        }[self.op]


class ScheduleRequest(BaseModel):
    model_config = STRICT
    process: str = Field(max_length=40, description="the twin or pipeline to run")
    parameters: dict[str, Any] = Field(default_factory=dict)
    cron: str = Field(max_length=120, description="five fields: minute hour day month weekday")
    timezone: str = Field(default="UTC", max_length=64, description="IANA zone, e.g. Europe/Berlin")
    missed: Literal["skip", "once"] = Field(
        default="skip",
        description="runs missed while the platform was down: 'skip' them, or run 'once'",
    )
    on_data_change: bool = Field(
        default=False, description="also run when a catalog entry the twin reads changes"
    )
    condition: Condition | None = None
    webhook: str | None = Field(default=None, max_length=2000)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split(" ")
        if len(fields) != 5 or not all(CRON_FIELD.fullmatch(f) for f in fields):
            raise ValueError(
                "give five fields separated by single spaces (minute hour day month weekday), "
                "e.g. '0 6 * * *'"
            )
        try:
            croniter(value, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
        except (CroniterError, ValueError, KeyError, OverflowError) as e:
            raise ValueError(f"not a cron expression that fires: {str(e)[:200]}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not ZONE.fullmatch(value):
            raise ValueError("not an IANA time zone name such as 'Europe/Berlin' or 'UTC'")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


def webhook_problem(url: str, allowed_hosts: tuple[str, ...]) -> str | None:
    """Why ``url`` may not be called, or None. Only http(s) to an allowed host (exact name,
    or ``name:port``), without credentials: the registry must not be a way into the network."""
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        return f"not a URL: {e}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "give an http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    host = parts.hostname.lower()
    allowed = {h.lower() for h in allowed_hosts}
    if host not in allowed and f"{host}:{port}" not in allowed:
        if not allowed:
            return "webhooks are off on this gateway (the operator allows none)"
        return f"host {host!r} is not one the operator allows (TWINHUB_WEBHOOK_ALLOWED_HOSTS)"
    return None


def next_after(cron: str, zone: str, after: datetime) -> datetime:
    """The first instant strictly after ``after`` (UTC) the cron expression names in ``zone``."""
    local = after.astimezone(ZoneInfo(zone))
    return croniter(cron, local).get_next(datetime).astimezone(UTC)


def latest_at_or_before(cron: str, zone: str, now: datetime) -> datetime:
    local = (now + timedelta(microseconds=1)).astimezone(ZoneInfo(zone))
    return croniter(cron, local).get_prev(datetime).astimezone(UTC)


# --- what the API keeps and answers --------------------------------------------------------------
def schedule_body(s: Schedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "owner": s.owner,
        "process": s.process,
        "parameters": s.parameters,
        "cron": s.cron,
        "timezone": s.timezone,
        "missed": s.missed,
        "on_data_change": s.on_data_change,
        "condition": s.condition,
        "webhook": s.webhook,
        "enabled": s.enabled,
        "next_run_at": s.next_run_at.isoformat(),
        "created_at": s.created_at.isoformat(),
        "updated_at": s.updated_at.isoformat(),
    }


EDITABLE = set(ScheduleRequest.model_fields)


class Schedules:
    """Create, read, change and delete schedules, each one transaction of ``store``."""

    def __init__(self, store, webhook_hosts: tuple[str, ...], clock):
        self.store = store
        self.webhook_hosts = webhook_hosts
        self.clock = clock

    def _check(self, user: User, data: Any) -> ScheduleRequest:
        if not isinstance(data, dict):
            raise Invalid([("(body)", "must be a JSON object of schedule fields")])
        try:
            request = ScheduleRequest.model_validate(data)
        except ValidationError as e:
            raise Invalid(field_errors(e, fields_doc="docs/schedules.md")) from None
        if request.webhook is not None:
            problem = webhook_problem(request.webhook, self.webhook_hosts)
            if problem:
                raise Invalid([("webhook", problem)])
        try:
            manifest = self.store.twin_manifest(user, request.process)
        except NotFound:
            try:
                row = self.store.get_pipeline(user, request.process)
            except NotFound:
                row = None
            if row is None or row.retired_at is not None:
                message = f"no twin or pipeline {request.process!r} you may run"
                raise Invalid([("process", message)]) from None
            manifest = pipeline_process(self.store, row.document)
        try:
            request.parameters = manifest.check_parameters(request.parameters)
        except ManifestError as e:
            raise Invalid(e.errors) from None
        return request

    def _own(self, s, user: User, schedule_id: str) -> Schedule:
        row = s.get(Schedule, schedule_id) if len(schedule_id) <= 32 else None
        if row is None or row.owner != user.name:
            raise NotFound(f"no schedule {schedule_id[:40]!r}")
        return row

    def create(self, user: User, data: Any) -> Schedule:
        request = self._check(user, data)
        now = self.clock()
        with self.store.transaction() as s:
            count = len(s.scalars(select(Schedule.id).where(Schedule.owner == user.name)).all())
            if count >= MAX_SCHEDULES_PER_USER:
                raise Invalid([("(body)", f"you have {count} schedules, the most one may have")])
            row = Schedule(
                id=uuid.uuid4().hex,
                owner=user.name,
                **_columns(request),
                next_run_at=next_after(request.cron, request.timezone, now),
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            return row

    def list(self, user: User) -> list[Schedule]:
        with self.store.sessions() as s:
            query = select(Schedule).where(Schedule.owner == user.name)
            return list(s.scalars(query.order_by(Schedule.created_at)))

    def get(self, user: User, schedule_id: str) -> Schedule:
        with self.store.sessions() as s:
            return self._own(s, user, schedule_id)

    def update(self, user: User, schedule_id: str, patch: Any) -> Schedule:
        if not isinstance(patch, dict):
            raise Invalid([("(body)", "must be a JSON object of the fields to change")])
        unknown = [k for k in list(patch)[:20] if k not in EDITABLE]
        if unknown:
            raise Invalid([(str(k)[:60], "unknown or read-only field") for k in unknown])
        current = schedule_body(self.get(user, schedule_id))
        request = self._check(user, {k: current[k] for k in EDITABLE} | patch)
        now = self.clock()
        with self.store.transaction() as s:
            row = self._own(s, user, schedule_id)
            timing = (row.cron, row.timezone, row.enabled)
            for key, value in _columns(request).items():
                setattr(row, key, value)
            if (row.cron, row.timezone, row.enabled) != timing:
                row.next_run_at = next_after(row.cron, row.timezone, now)
            row.updated_at = now
            return row

    def delete(self, user: User, schedule_id: str) -> None:
        with self.store.transaction() as s:
            s.delete(self._own(s, user, schedule_id))

    def notifications(self, user: User, limit: int = 50) -> list[Notification]:
        with self.store.sessions() as s:
            query = select(Notification).where(Notification.owner == user.name)
            return list(s.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def _columns(request: ScheduleRequest) -> dict[str, Any]:
    data = request.model_dump(mode="json")
    return {key: data[key] for key in EDITABLE}


@dataclass(frozen=True)
class PipelineProcess:
    """A pipeline as a schedule's process, read as a twin's manifest is: its parameters are
    overrides of its steps' inputs (``{step: {parameter: value}}``, checked as a job's are), and
    it reads what its steps' twins read (so a change of their data runs it again)."""

    pipeline: Any
    catalog: tuple[str, ...]

    def check_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        from twinhub.twins.pipeline import step_inputs  # (import cycle)

        step_inputs(self.pipeline, parameters)  # PipelineError is a ManifestError
        return dict(parameters)


def pipeline_process(store, document: dict[str, Any]) -> PipelineProcess:
    from twinhub.twins.pipeline import parse_pipeline  # (import cycle)

    pipeline = parse_pipeline(document, f"pipeline {document.get('name')!r}")
    twins = store.snapshot().twin_by_name
    catalog = []
    for step in pipeline.steps:
        twin = twins.get(step.twin)
        entries = parse_manifest(twin.document, step.twin).catalog if twin else ()
        catalog += [e for e in entries or () if e not in catalog]
    return PipelineProcess(pipeline, tuple(catalog))


def manifest_of(store, process: str):
    """What a schedule runs as it is now: an active twin's manifest or an active pipeline
    (:class:`PipelineProcess`); None when it is gone or retired. The scheduler acts for owners
    it cannot ask, so visibility was checked when the schedule was made."""
    twin = store.snapshot().twin_by_name.get(process)
    if twin is not None:
        return None if twin.retired else parse_manifest(twin.document, f"twin {process!r}")
    with store.sessions() as s:
        row = s.scalar(select(PipelineRow).where(PipelineRow.name == process))
        document = row.document if row is not None and row.retired_at is None else None
    return pipeline_process(store, document) if document is not None else None
