"""The registry's operations, each one transaction: it all happens, or nothing is written.

Permissions are checked here (with :class:`auth.User`), not in the routes, so that the API, the
Twins page and start-up discovery share one set of rules. Rows a user may not see are reported
as missing (404), never as forbidden, so private twins do not leak their names.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, literal_column, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from twinhub.contracts.manifest import ManifestError, TwinManifest, parse_manifest
from twinhub.contracts.names import SCOPE_PROFILES_WRITE, SCOPE_RUNS_READ, SCOPE_TWINS_WRITE
from twinhub.contracts.runs import RunRequest

from . import jobs
from .auth import User
from .db import History, Job, PipelineRow, Profile, Run, Twin, utcnow
from .errors import BadRequest, Conflict, Invalid, NotFound
from .snapshot import Snapshot, build_snapshot
from .validation import check_pipeline_document, check_profile, check_twin, semver_key

SYSTEM = "twinhub (discovery)"
OTHER_WRITERS_SECONDS = 1.0
"""How often a read looks for twins written by another process (the run executor serves the
published versions it built): one indexed query at most this often."""


EntryPointCheck = Callable[[TwinManifest], list[tuple[str, str]]]
"""Imports a twin's entry points in a process of the twin's environment and names the problems
(``twinhub.extensions.runtimes.entry_point_errors``): the registry never imports twin code."""


class Store:
    def __init__(self, sessions: sessionmaker, check_entry_points: EntryPointCheck | None = None):
        self.sessions = sessions
        self.check_entry_points = check_entry_points
        """Run for twins registered or updated through the API, before the transaction opens
        (a slow import holds no database lock); twins discovered on disk are read as YAML only."""
        self.version = 0
        """Bumped after every write transaction: reads rebuild their snapshot when it moves."""
        self._version_lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._history_seen: int | None = None
        self._next_look = 0.0

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        try:
            # commits at the end of the block (where a unique constraint may still fail)
            with self.sessions.begin() as session:
                yield session
        except IntegrityError as e:
            raise Conflict(f"conflicting write, nothing stored: {e.orig}") from None
        finally:
            # after the commit (or rollback): a snapshot built from now on sees the write
            with self._version_lock:
                self.version += 1

    def snapshot(self) -> Snapshot:
        """Every twin and profile rendered for reading, rebuilt only after a write.

        The version is read before the rows: a write committing during the build moves it
        on, so the next read builds again instead of keeping a snapshot that missed it.
        """
        self._notice_other_writers()
        current = self._snapshot
        if current is not None and current.version == self.version:
            return current
        with self._snapshot_lock:
            version = self.version
            if self._snapshot is not None and self._snapshot.version == version:
                return self._snapshot
            with self.sessions() as s:
                twins = s.scalars(select(Twin).order_by(Twin.name)).all()
                profiles = s.scalars(select(Profile).order_by(Profile.slug)).all()
            self._snapshot = build_snapshot(version, twins, profiles)
            return self._snapshot

    def _notice_other_writers(self) -> None:
        """Every write of a twin or profile adds a history row; a newer one than this process
        has seen (another process wrote) moves the version, so the snapshot is rebuilt."""
        now = time.monotonic()
        if now < self._next_look:
            return
        self._next_look = now + OTHER_WRITERS_SECONDS
        with self.sessions() as s:
            latest = s.scalar(select(func.max(History.id)))
        if latest != self._history_seen:
            self._history_seen = latest
            with self._version_lock:
                self.version += 1

    # --- twins ---------------------------------------------------------------------------------
    def list_twins(
        self,
        user: User,
        *,
        domain: str | None = None,
        q: str | None = None,
        retired: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Twin], int]:
        with self.sessions() as s:
            query = select(Twin).order_by(Twin.name)
            if domain:
                query = query.where(Twin.domain == domain)
            if not retired:
                query = query.where(Twin.retired_at.is_(None))
            rows = [t for t in s.scalars(query) if user.can_see_twin(t.manifest)]
        if q:
            needle = q.lower()
            rows = [t for t in rows if needle in _twin_text(t)]
        return rows[offset : offset + limit], len(rows)

    def _twin(self, s: Session, user: User, name: str) -> Twin:
        twin = s.scalar(select(Twin).where(Twin.name == name))
        if twin is None or not user.can_see_twin(twin.manifest):
            raise NotFound(f"no twin named {name!r}")
        return twin

    def get_twin(self, user: User, name: str) -> Twin:
        with self.sessions() as s:
            return self._twin(s, user, name)

    def _entry_point_errors(self, data: Any) -> list[tuple[str, str]]:
        if self.check_entry_points is None:
            return []
        try:
            manifest = parse_manifest(data)
        except ManifestError:
            return []  # check_twin names what is wrong with the document
        return self.check_entry_points(manifest)

    def create_twin(self, user: User, data: Any) -> Twin:
        user.require(SCOPE_TWINS_WRITE)
        entry_points = self._entry_point_errors(data)
        with self.transaction() as s:
            manifest = check_twin(data, self._profile_slugs(s), entry_points)
            if s.scalar(select(Twin).where(Twin.name == manifest.name)) is not None:
                raise Conflict(
                    f"a twin named {manifest.name!r} exists: update it with "
                    f"PUT /api/twins/{manifest.name} (or restore it if retired)"
                )
            twin = Twin(name=manifest.name, source="api", retired_at=None)
            _write_twin(s, twin, manifest, user.name, "create")
            s.add(twin)
            return twin

    def update_twin(self, user: User, name: str, data: Any) -> Twin:
        user.require(SCOPE_TWINS_WRITE)
        with self.sessions() as s:
            self._twin(s, user, name)  # 404 before importing anything of an unseen twin
        entry_points = self._entry_point_errors(data)
        with self.transaction() as s:
            twin = self._twin(s, user, name)
            manifest = check_twin(data, self._profile_slugs(s), entry_points)
            if manifest.name != name:
                raise BadRequest(
                    f"name in the body ({manifest.name!r}) differs from the URL ({name!r}): "
                    "a twin cannot be renamed, register a new one"
                )
            twin.source = "api"
            _write_twin(s, twin, manifest, user.name, "update")
            return twin

    def set_twin_retired(self, user: User, name: str, retired: bool) -> Twin:
        user.require(SCOPE_TWINS_WRITE)
        with self.transaction() as s:
            twin = self._twin(s, user, name)
            if (twin.retired_at is not None) == retired:
                state = "retired" if retired else "active"
                raise Conflict(f"twin {name!r} is already {state}")
            twin.retired_at = utcnow() if retired else None
            twin.updated_at, twin.updated_by = utcnow(), user.name
            action = "retire" if retired else "restore"
            s.add(_history("twin", name, action, twin.version, twin.manifest, user.name))
            return twin

    def history(self, user: User, kind: str, key: str) -> list[History]:
        with self.sessions() as s:
            if kind == "twin":
                self._twin(s, user, key)
            else:
                self._profile(s, user, key)
            query = select(History).where(History.kind == kind, History.key == key)
            return list(s.scalars(query.order_by(History.id)))

    def upsert_discovered_twin(self, manifest: TwinManifest) -> str:
        """Register a twin found on disk; a newer version replaces the stored one."""
        with self.transaction() as s:
            check_twin(manifest.model_dump(mode="json"), self._profile_slugs(s))
            twin = s.scalar(select(Twin).where(Twin.name == manifest.name))
            if twin is None:
                twin = Twin(name=manifest.name, source="discovered", retired_at=None)
                _write_twin(s, twin, manifest, SYSTEM, "create")
                s.add(twin)
                return "created"
            if semver_key(manifest.version) <= semver_key(twin.version):
                return "unchanged"
            twin.source = "discovered"
            _write_twin(s, twin, manifest, SYSTEM, "update")
            return "updated"

    def twin_manifest(self, user: User, name: str) -> TwinManifest:
        """The validated manifest of an active twin the user may see (for runs and spawns)."""
        twin = self.get_twin(user, name)
        if twin.retired_at is not None:
            raise NotFound(f"twin {name!r} is retired")
        return parse_manifest(twin.manifest, f"twin {name!r}")

    # --- pipelines -----------------------------------------------------------------------------
    def _twin_manifests(self, s: Session, user: User | None) -> dict[str, TwinManifest]:
        """Active twins a pipeline's steps may name: those the author may see."""
        rows = s.scalars(select(Twin).where(Twin.retired_at.is_(None)))
        return {
            t.name: parse_manifest(t.manifest, f"twin {t.name!r}")
            for t in rows
            if user is None or user.can_see_twin(t.manifest)
        }

    def list_pipelines(
        self, user: User, *, retired: bool = False, limit: int = 50, offset: int = 0
    ) -> tuple[list[PipelineRow], int]:
        with self.sessions() as s:
            query = select(PipelineRow).order_by(PipelineRow.name)
            if not retired:
                query = query.where(PipelineRow.retired_at.is_(None))
            rows = [p for p in s.scalars(query) if user.can_see_twin(p.document)]
        return rows[offset : offset + limit], len(rows)

    def _pipeline(self, s: Session, user: User, name: str) -> PipelineRow:
        row = s.scalar(select(PipelineRow).where(PipelineRow.name == name))
        if row is None or not user.can_see_twin(row.document):
            raise NotFound(f"no pipeline named {name!r}")
        return row

    def get_pipeline(self, user: User, name: str) -> PipelineRow:
        with self.sessions() as s:
            return self._pipeline(s, user, name)

    def create_pipeline(self, user: User, data: Any) -> PipelineRow:
        """Register a pipeline (same scope as twins); its steps must fit twins the user sees."""
        user.require(SCOPE_TWINS_WRITE)
        with self.transaction() as s:
            pipeline = check_pipeline_document(data, self._twin_manifests(s, user))
            self._name_is_free(s, pipeline.name)
            row = PipelineRow(name=pipeline.name, source="api", retired_at=None)
            _write_pipeline(s, row, pipeline, user.name, "create")
            s.add(row)
            return row

    def _name_is_free(self, s: Session, name: str) -> None:
        # twins and pipelines share one namespace: an OGC process id names one of them
        if s.scalar(select(PipelineRow).where(PipelineRow.name == name)) is not None:
            raise Conflict(f"a pipeline named {name!r} exists")
        if s.scalar(select(Twin).where(Twin.name == name)) is not None:
            raise Conflict(f"a twin named {name!r} exists: a pipeline needs its own name")

    def upsert_discovered_pipeline(self, data: Any) -> str:
        """Register a pipeline found on disk; a newer version replaces the stored one."""
        with self.transaction() as s:
            pipeline = check_pipeline_document(data, self._twin_manifests(s, None))
            row = s.scalar(select(PipelineRow).where(PipelineRow.name == pipeline.name))
            if row is None:
                self._name_is_free(s, pipeline.name)
                row = PipelineRow(name=pipeline.name, source="discovered", retired_at=None)
                _write_pipeline(s, row, pipeline, SYSTEM, "create")
                s.add(row)
                return "created"
            if semver_key(pipeline.version) <= semver_key(row.version):
                return "unchanged"
            row.source = "discovered"
            _write_pipeline(s, row, pipeline, SYSTEM, "update")
            return "updated"

    # --- profiles ------------------------------------------------------------------------------
    def _profile_slugs(self, s: Session) -> set[str]:
        return set(s.scalars(select(Profile.slug).where(Profile.retired_at.is_(None))))

    def list_profiles(
        self, user: User, *, retired: bool = False, limit: int = 50, offset: int = 0
    ) -> tuple[list[Profile], int]:
        with self.sessions() as s:
            query = select(Profile).order_by(Profile.slug)
            if not retired:
                query = query.where(Profile.retired_at.is_(None))
            rows = [p for p in s.scalars(query) if user.can_use_profile(p.profile)]
        return rows[offset : offset + limit], len(rows)

    def _profile(self, s: Session, user: User, slug: str) -> Profile:
        profile = s.scalar(select(Profile).where(Profile.slug == slug))
        if profile is None or not user.can_use_profile(profile.profile):
            raise NotFound(f"no infrastructure profile {slug!r}")
        return profile

    def get_profile(self, user: User, slug: str) -> Profile:
        with self.sessions() as s:
            return self._profile(s, user, slug)

    def create_profile(self, user: User, data: Any) -> Profile:
        user.require(SCOPE_PROFILES_WRITE)
        with self.transaction() as s:
            profile = check_profile(data)
            if s.scalar(select(Profile).where(Profile.slug == profile.slug)) is not None:
                raise Conflict(
                    f"a profile {profile.slug!r} exists: update it with "
                    f"PUT /api/profiles/{profile.slug} (or restore it if retired)"
                )
            row = Profile(slug=profile.slug, source="api", retired_at=None)
            _write_profile(s, row, profile.model_dump(mode="json"), user.name, "create")
            s.add(row)
            return row

    def update_profile(self, user: User, slug: str, data: Any) -> Profile:
        user.require(SCOPE_PROFILES_WRITE)
        with self.transaction() as s:
            row = self._profile(s, user, slug)
            profile = check_profile(data)
            if profile.slug != slug:
                raise BadRequest(
                    f"slug in the body ({profile.slug!r}) differs from the URL ({slug!r})"
                )
            row.source = "api"
            _write_profile(s, row, profile.model_dump(mode="json"), user.name, "update")
            return row

    def set_profile_retired(self, user: User, slug: str, retired: bool) -> Profile:
        user.require(SCOPE_PROFILES_WRITE)
        with self.transaction() as s:
            row = self._profile(s, user, slug)
            if (row.retired_at is not None) == retired:
                raise Conflict(f"profile {slug!r} is already {'retired' if retired else 'active'}")
            if retired:
                names = s.scalars(select(Twin.name).where(Twin.retired_at.is_(None)))
                needing = [n for n in names if self._twin_profile(s, n) == slug]
                if needing:
                    raise Conflict(
                        f"profile {slug!r} is the default profile of active twins "
                        f"{', '.join(needing)}: change or retire them first"
                    )
            row.retired_at = utcnow() if retired else None
            row.updated_at, row.updated_by = utcnow(), user.name
            action = "retire" if retired else "restore"
            s.add(_history("profile", slug, action, None, row.profile, user.name))
            return row

    def _twin_profile(self, s: Session, name: str) -> str:
        manifest = s.scalar(select(Twin.manifest).where(Twin.name == name))
        return (manifest or {}).get("profile", "small")

    def upsert_file_profile(self, data: dict[str, Any]) -> str:
        """A default profile from ``hub/profiles.yaml``; API edits of it are left alone."""
        with self.transaction() as s:
            profile = check_profile(data).model_dump(mode="json")
            row = s.scalar(select(Profile).where(Profile.slug == profile["slug"]))
            if row is None:
                row = Profile(slug=profile["slug"], source="discovered", retired_at=None)
                _write_profile(s, row, profile, SYSTEM, "create")
                s.add(row)
                return "created"
            if row.source != "discovered" or row.profile == profile:
                return "unchanged"
            _write_profile(s, row, profile, SYSTEM, "update")
            return "updated"

    # --- runs ----------------------------------------------------------------------------------
    def create_run(self, user: User, name: str, request: RunRequest) -> Run:
        _check_run_error(request.status, request.error)
        manifest = self.twin_manifest(user, name)
        try:
            parameters = manifest.check_parameters(request.parameters)
        except ManifestError as e:
            raise Invalid(e.errors) from None
        if request.status == "queued":
            # a run asked for, not one reported: the platform executes it (a job)
            with self.transaction() as s:
                job_id = jobs.submit(s, owner=user.name, process=name, inputs=parameters)
                return run_of_job(s.get(Job, job_id))
        with self.transaction() as s:
            run = Run(
                id=uuid.uuid4().hex,
                twin_name=name,
                twin_version=manifest.version,
                user=user.name,
                parameters=parameters,
                status=request.status,
                error=request.error,
                provenance=None,
            )
            s.add(run)
            return run

    def _run(self, s: Session, user: User, run_id: str, write: bool = False) -> Run:
        run = s.get(Run, run_id)
        if run is None and not write and len(run_id) <= 64:
            job = s.get(Job, run_id)  # a run the platform executes
            run = run_of_job(job) if job is not None else None
        allowed = run is not None and (
            run.user == user.name or (not write and user.has(SCOPE_RUNS_READ))
        )
        if user.ticket_twin is not None:  # a twin's dashboard: its own runs only
            allowed = allowed and getattr(run, "twin_name", None) == user.ticket_twin
        if not allowed:
            raise NotFound(f"no run {run_id!r}")
        return run

    def get_run(self, user: User, run_id: str) -> Run:
        with self.sessions() as s:
            return self._run(s, user, run_id)

    def update_run(
        self,
        user: User,
        run_id: str,
        status: str | None = None,
        provenance: dict | None = None,
        error: str | None = None,
    ) -> Run:
        """Only the user who started a run reports on it; a new status replaces the error."""
        if status is not None:
            _check_run_error(status, error)
        with self.transaction() as s:
            run = self._run(s, user, run_id, write=True)
            if status is not None:
                run.status, run.error = status, error
            if provenance is not None:
                run.provenance = provenance
            run.updated_at = utcnow()
            return run

    def list_runs(self, user: User, twin: str | None, limit: int, offset: int):
        """Runs recorded and jobs the platform executes (seen as runs), newest first: one
        ``UNION ALL`` of both tables' keys, paged in the database, then the page's rows."""
        parts = []
        for table, kind in ((Run, "run"), (Job, "job")):
            owner = Run.user if table is Run else Job.owner
            name = Run.twin_name if table is Run else Job.process
            query = select(
                table.id.label("id"),
                table.created_at.label("at"),
                literal_column(f"'{kind}'").label("kind"),
            )
            if not user.has(SCOPE_RUNS_READ):
                query = query.where(owner == user.name)
            if twin:
                query = query.where(name == twin)
            parts.append(query)
        keys = union_all(*parts).subquery()
        with self.sessions() as s:
            total = s.scalar(select(func.count()).select_from(keys))
            page = s.execute(
                select(keys.c.id, keys.c.kind)
                .order_by(keys.c.at.desc(), keys.c.id)
                .limit(limit)
                .offset(offset)
            ).all()
            wanted = {kind: [key for key, k in page if k == kind] for kind in ("run", "job")}
            found = {r.id: r for r in s.scalars(select(Run).where(Run.id.in_(wanted["run"])))}
            for job in s.scalars(select(Job).where(Job.id.in_(wanted["job"]))):
                found[job.id] = run_of_job(job)
            return [found[key] for key, _ in page if key in found], total

    # --- numbers for /metrics and /api/health -----------------------------------------------
    def counts(self) -> dict[str, int]:
        with self.sessions() as s:
            active = Twin.retired_at.is_(None)
            return {
                "twins": s.scalar(select(func.count()).select_from(Twin).where(active)),
                "retired_twins": s.scalar(select(func.count()).select_from(Twin).where(~active)),
                "profiles": s.scalar(
                    select(func.count()).select_from(Profile).where(Profile.retired_at.is_(None))
                ),
                "runs": s.scalar(select(func.count()).select_from(Run)),
            }


RUN_STATUS = {jobs.SUCCESSFUL: "succeeded", jobs.DISMISSED: "failed"}
"""A job's state in the vocabulary of run records (a dismissed job did not succeed)."""


def run_of_job(job: Job) -> Run:
    """A job seen as a run record (not stored as one): ``/api/runs/{id}`` answers for both."""
    status = RUN_STATUS.get(job.status, job.status)
    return Run(
        id=job.id,
        twin_name=job.process,
        twin_version=job.process_version,
        user=job.owner,
        parameters=job.inputs,
        status=status,
        error=job.reason if status == "failed" else None,
        provenance=job.provenance,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


def _twin_text(twin: Twin) -> str:
    m = twin.manifest
    return " ".join([m["name"], m["title"], m["summary"]]).lower()


def _history(kind, key, action, version, document, actor) -> History:
    return History(
        kind=kind, key=key, action=action, version=version, document=document, actor=actor
    )


def _write_twin(s: Session, twin: Twin, manifest: TwinManifest, actor: str, action: str) -> None:
    document = manifest.model_dump(mode="json")
    twin.version, twin.title, twin.domain = manifest.version, manifest.title, manifest.domain
    twin.manifest = document
    twin.updated_at, twin.updated_by = utcnow(), actor
    s.add(_history("twin", manifest.name, action, manifest.version, document, actor))


def _write_pipeline(s: Session, row: PipelineRow, pipeline, actor: str, action: str) -> None:
    document = pipeline.model_dump(mode="json", by_alias=True, exclude_none=True)
    row.version, row.title, row.document = pipeline.version, pipeline.title, document
    row.updated_at, row.updated_by = utcnow(), actor
    s.add(_history("pipeline", pipeline.name, action, pipeline.version, document, actor))


def _write_profile(s: Session, row: Profile, profile: dict, actor: str, action: str) -> None:
    row.profile = profile
    row.updated_at, row.updated_by = utcnow(), actor
    s.add(_history("profile", profile["slug"], action, None, profile, actor))


def _check_run_error(status: str, error: str | None) -> None:
    """An error message belongs to a failed run only (a succeeded run with an error is a bug)."""
    if error is not None and status != "failed":
        raise Invalid([("error", f"only a failed run has an error; this one is {status!r}")])
