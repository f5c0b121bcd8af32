"""Run jobs: the queue the run executor takes from (issue 18 section 1).

The smallest form of the interface the executor's author builds on (table ``jobs``, and
:func:`submit`); schedules and data triggers only *submit* jobs here, the executor runs them.
States: queued -> running -> successful / failed / dismissed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, utcnow

STATES = ("queued", "running", "successful", "failed", "dismissed")
FINISHED = ("successful", "failed", "dismissed")


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    process: Mapped[str] = mapped_column(String(40), index=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    trigger: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    started: Mapped[datetime | None]
    finished: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)


def submit(
    session: Session,
    *,
    owner: str,
    process: str,
    inputs: dict,
    trigger: str = "api",
) -> str:
    """Queue a job (in the caller's transaction); its id."""
    job = Job(
        id=uuid.uuid4().hex,
        owner=owner,
        process=process,
        inputs=dict(inputs),
        state="queued",
        trigger=trigger,
    )
    session.add(job)
    session.flush()
    return job.id
