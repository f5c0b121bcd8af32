"""The registry's tables (SQLAlchemy 2) and the migrations that create and upgrade them.

SQLite in the state directory by default, PostgreSQL (or any SQLAlchemy URL) through
``TWINHUB_DATABASE_URL``. The schema is owned by alembic migrations shipped in this package and
applied at start-up, so upgrading twinhub keeps the data: never ``create_all``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps stored in UTC and read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Twin(Base):
    """The current version of each twin; older versions live in :class:`History`."""

    __tablename__ = "twins"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    version: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(120))
    domain: Mapped[str] = mapped_column(String(40), index=True)
    manifest: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(16))
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(255))


class PipelineRow(Base):
    """The current version of each pipeline (twin steps, ``twins/pipeline.py``)."""

    __tablename__ = "pipelines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    version: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(120))
    document: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(16))
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(255))


class Profile(Base):
    __tablename__ = "profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    profile: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(16))
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(255))


class History(Base):
    """Every change to a twin or profile, with the document as it was written."""

    __tablename__ = "history"
    __table_args__ = (Index("ix_history_kind_key", "kind", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(16))
    version: Mapped[str | None] = mapped_column(String(128))
    document: Mapped[dict[str, Any]]
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    twin_name: Mapped[str] = mapped_column(String(40), index=True)
    twin_version: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(255), index=True)
    parameters: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A run the platform executes (the run executor's queue; OGC API - Processes' jobs).

    States: queued -> running -> successful | failed | dismissed (queued -> dismissed too).
    ``reason`` says why a job failed or was dismissed; ``outputs`` names the files the run
    left in its folder under the state directory; ``provenance`` is its W3C PROV-JSON.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    process: Mapped[str] = mapped_column(String(40), index=True)
    process_version: Mapped[str] = mapped_column(String(128))
    inputs: Mapped[dict[str, Any]]
    trigger: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[dict[str, Any] | None]
    provenance: Mapped[dict[str, Any] | None]
    executor: Mapped[str | None] = mapped_column(String(255))
    """Which executor claimed the job (host and process id), for the operator."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TwinVersion(Base):
    """A published version of a user's twin: an immutable archive (by content hash) and the
    state of its build: queued (stored by the registry) -> building -> testing (the run
    executor) -> served | failed; a version that passed and is no longer served is 'ready'
    (rollback serves it again)."""

    __tablename__ = "twin_versions"
    __table_args__ = (Index("ix_twin_versions_name_number", "twin_name", "number", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    twin_name: Mapped[str] = mapped_column(String(40))
    number: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    manifest: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    log: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # several readers while one writes (the hub's spawn hooks read while an admin writes)
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # a ping before each checkout detects a server that dropped the connection; an SQLite file
    # has no server, and the ping was a tenth of a read's time
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, future=True, pool_pre_ping=not sqlite)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if os.geteuid() == 0 and url.startswith("sqlite:///"):
            database = Path(url.removeprefix("sqlite:///"))
            event.listen(engine, "connect", lambda *_: _keep_owner(database))
    return engine


def _keep_owner(database: Path) -> None:
    """A root process (the run executor) sharing the registry's SQLite file: the write-ahead
    log and shared-memory files it may create go to the folder's owner (the platform account
    the registry runs as), who could not open them otherwise."""
    try:
        owner = database.parent.stat()
    except FileNotFoundError:
        return
    if owner.st_uid == 0:
        return
    for suffix in ("-wal", "-shm", "-journal"):
        side = database.with_name(database.name + suffix)
        try:
            if side.stat().st_uid != owner.st_uid:
                os.chown(side, owner.st_uid, owner.st_gid)
        except FileNotFoundError:
            continue


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (a fresh database gets every table)."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def open_database(url: str) -> sessionmaker:
    """Engine with the schema up to date, and the session factory the app uses."""
    engine = make_engine(url)
    upgrade(engine)
    return sessionmaker(engine, expire_on_commit=False)
