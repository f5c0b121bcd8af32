"""Published twins: an upload becomes an immutable version, built and tested before it is served.

``POST /api/twins/{name}/versions`` hands the archive to :meth:`Publisher.upload` (in a worker
thread, never on the event loop): the archive is checked and unpacked (:mod:`.archive`), its
manifest validated (name, profile, catalog entries, the publisher among the maintainers), and a
version row is written in state ``queued`` with its folder complete (nothing half-written: the
folder is moved into place in the row's transaction). An archive equal to a stored version is
refused (409), unless that version's build failed: then it is a new version, built again
(:func:`same_archive`: how a user retries a build that failed for a platform's reason).

The registry builds nothing and holds no root: the run executor claims queued versions and
builds, tests and serves each as its owner's unix account (:mod:`twinhub.extensions.executor.
builds`): ``queued`` -> ``building`` -> ``testing`` -> ``served`` (the previously served version
becomes ``ready``) or ``failed``; a failed version never replaces the served one.
:meth:`Publisher.serve` serves a ``ready`` one again (rollback), with the same
:func:`serve_version` the build uses. Files live in ``<state>/published/<twin>/<number>/`` (the
archive, ``src/``, ``env/``); ``<twin>/served`` links to the served one, which is what
:func:`twinhub.extensions.runtimes.runtime_python` returns for the twin.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from twinhub.catalogs import entry_ids
from twinhub.contracts.manifest import MANIFEST_FILE, ManifestError, parse_manifest
from twinhub.contracts.names import SCOPE_TWINS_WRITE, VERSION_PENDING
from twinhub.extensions.runtimes import SERVED, published_dir
from twinhub.twins.manifest import safe_yaml

from .archive import ArchiveError, Limits, digest, unpack
from .auth import User
from .db import Twin, TwinVersion, utcnow
from .errors import Conflict, Invalid, NotFound

LOG_TAIL = 16 * 1024
"""Characters of a build's output kept with the version (the tail: where errors are)."""
DATA_DIR = "data"
"""A published twin's data files: its folder's ``data/``, listed as a STAC Item."""
MEDIA_TYPES = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".nc": "application/netcdf",
    ".parquet": "application/vnd.apache.parquet",
    ".txt": "text/plain",
    ".zip": "application/zip",
}
QUEUED = VERSION_PENDING[0]
"""A stored version waiting for the executor to build it."""
STATES = (*VERSION_PENDING, "served", "ready", "failed")


def version_record(v: TwinVersion) -> dict[str, Any]:
    return {
        "twin": v.twin_name,
        "version": v.number,
        "twin_version": v.manifest.get("version"),
        "sha256": v.sha256,
        "size": v.size,
        "owner": v.owner,
        "visibility": v.manifest.get("visibility", "public"),
        "state": v.state,
        "created_at": v.created_at.isoformat(),
        "updated_at": v.updated_at.isoformat(),
    }


class Publisher:
    def __init__(self, store, state_dir: Path, settings: Any = None):
        if settings is None:
            from twinhub.contracts.settings import Settings

            settings = Settings.from_env()
        self.store = store
        self.settings = settings
        self.state_dir = Path(state_dir)
        self._storing = threading.Lock()
        self.limits = Limits(
            settings.publish_max_bytes, settings.publish_max_unpacked, settings.publish_max_files
        )

    # --- who may see and change ----------------------------------------------------------------
    def _may_change(self, user: User, owner: str) -> bool:
        return user.name == owner or user.has(SCOPE_TWINS_WRITE)

    def _versions(self, s, name: str) -> list[TwinVersion]:
        query = select(TwinVersion).where(TwinVersion.twin_name == name)
        return list(s.scalars(query.order_by(TwinVersion.number)))

    def _visible(self, user: User, versions: list[TwinVersion]) -> bool:
        if not versions:
            return False
        if self._may_change(user, versions[0].owner):
            return True
        served = [v for v in versions if v.state == SERVED]
        return bool(served) and user.can_see_twin(served[0].manifest)

    def list_versions(self, user: User, name: str) -> list[dict[str, Any]]:
        with self.store.sessions() as s:
            versions = self._versions(s, name)
        if not self._visible(user, versions):
            raise NotFound(f"no published twin named {name!r}")
        return [version_record(v) for v in versions]

    def get_version(self, user: User, name: str, number: int) -> dict[str, Any]:
        with self.store.sessions() as s:
            versions = self._versions(s, name)
        if not self._visible(user, versions):
            raise NotFound(f"no published twin named {name!r}")
        for v in versions:
            if v.number == number:
                record = version_record(v)
                if self._may_change(user, v.owner):
                    record["log"] = v.log  # the owner's build output, nobody else's to read
                return record
        raise NotFound(f"twin {name!r} has no version {number}")

    # --- upload --------------------------------------------------------------------------------
    def upload(self, user: User, name: str, data: bytes) -> dict[str, Any]:
        """Check, store and queue the build of one archive (blocking: call off the loop); the
        run executor builds it."""
        with self.store.sessions() as s:
            twin = s.scalar(select(Twin).where(Twin.name == name))
            versions = self._versions(s, name)
            profiles = self.store._profile_slugs(s)
        if twin is not None and twin.source != "published":
            raise Conflict(f"the twin name {name!r} is taken by a twin of the platform")
        if versions and not self._may_change(user, versions[0].owner):
            raise Conflict(f"the twin name {name!r} is taken by another user's twin")
        sha = digest(data)
        same_archive(versions, sha, name)  # early, before unpacking; again when storing
        twin_dir = published_dir(self.state_dir, name)
        for folder in (twin_dir.parent, twin_dir):
            # the owner's account passes through to its version's folder (which it owns), and
            # cannot list what else is published (the registry may run with umask 077)
            folder.mkdir(exist_ok=True)
            os.chmod(folder, 0o711)
        staging = twin_dir / f".upload-{uuid.uuid4().hex}"
        try:
            try:
                unpack(data, staging / "src", self.limits)
            except ArchiveError as e:
                raise Invalid([(e.field, str(e).partition(": ")[2])]) from None
            manifest = self._check_source(user, name, staging / "src", profiles)
            (staging / "source.tar.gz").write_bytes(data)
            # uploads of one twin at once (a double click, a script) take their numbers one
            # after another, each deciding on the versions the others stored; across
            # registry processes the unique (twin, number) index refuses the later one (409)
            with self._storing, self.store.transaction() as s:
                versions = self._versions(s, name)
                if versions and not self._may_change(user, versions[0].owner):
                    raise Conflict(f"the twin name {name!r} is taken by another user's twin")
                rebuild_of = same_archive(versions, sha, name)
                number = max((v.number for v in versions), default=0) + 1
                row = TwinVersion(
                    twin_name=name, number=number, sha256=sha, size=len(data),
                    owner=versions[0].owner if versions else user.name,
                    manifest=manifest, state=QUEUED, log="",
                )  # fmt: skip
                s.add(row)
                s.flush()  # the number is this upload's before its folder takes the name
                target = twin_dir / str(number)
                # a folder without a row: left by a registry that stopped before its commit
                shutil.rmtree(target, ignore_errors=True)
                os.replace(staging, target)
            record = version_record(row)
            if rebuild_of is not None:
                record["rebuild_of"] = rebuild_of
            return record
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _check_source(self, user: User, name: str, src: Path, profiles: set[str]) -> dict:
        path = src / MANIFEST_FILE
        if not path.is_file():
            raise Invalid([(MANIFEST_FILE, "missing at the top of the archive")])
        if not (src / "pyproject.toml").is_file():
            raise Invalid([("pyproject.toml", "missing: a twin is a package (twinhub new)")])
        try:
            manifest = parse_manifest(safe_yaml(path.read_text()), MANIFEST_FILE)
        except ManifestError as e:
            raise Invalid(e.errors) from None
        except (yaml.YAMLError, UnicodeDecodeError, ValueError) as e:
            raise Invalid([(MANIFEST_FILE, f"not readable YAML: {e}"[:500])]) from None
        errors = []
        if manifest.name != name:
            errors.append(("name", f"{manifest.name!r} differs from the URL's {name!r}"))
        if manifest.profile not in profiles:
            errors.append(("profile", f"{manifest.profile!r} is not an infrastructure profile"))
        known = entry_ids()
        errors += [
            (f"catalog.{i}", f"{entry!r} is not an entry of the catalogs")
            for i, entry in enumerate(manifest.catalog)
            if entry not in known
        ]
        document = manifest.model_dump(mode="json")
        if not user.is_maintainer_of(document):
            errors.append(("maintainers", f"must list you ({user.name!r}) by name"))
        if errors:
            raise Invalid(errors)
        return document

    # --- data --------------------------------------------------------------------------------
    def _served_visible(self, user: User, name: str) -> TwinVersion:
        with self.store.sessions() as s:
            versions = self._versions(s, name)
        served = [v for v in versions if v.state == SERVED]
        if not served or not (
            self._may_change(user, served[0].owner) or user.can_see_twin(served[0].manifest)
        ):
            raise NotFound(f"no published twin named {name!r}")
        return served[0]

    def _data_files(self, v: TwinVersion) -> list[Path]:
        data = published_dir(self.state_dir, v.twin_name) / str(v.number) / "src" / DATA_DIR
        if not data.is_dir() or data.is_symlink():
            return []
        return sorted(p for p in data.rglob("*") if p.is_file() and not p.is_symlink())[:500]

    def _open_data(self, v: TwinVersion, path: Path) -> int:
        """A descriptor of one of the version's data files, if it is a regular file of the
        version's owner: the folder is theirs (the registry reads it as the platform's
        account), so a link they put there to a file of the platform's or of another user's
        twin is refused, whenever they put it."""
        folder = published_dir(self.state_dir, v.twin_name) / str(v.number)
        owner = folder.lstat().st_uid  # in the twin's folder, which is the registry's
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != owner:
            os.close(fd)
            raise OSError(f"{path.name}: not a file of the twin's owner")
        return fd

    def data_item(self, user: User, name: str, base_url: str) -> dict[str, Any]:
        """The served version's data files as a STAC Item (visible as the twin is)."""
        v = self._served_visible(user, name)
        folder = published_dir(self.state_dir, name) / str(v.number) / "src" / DATA_DIR
        assets = {}
        for path in self._data_files(v):
            try:
                fd = self._open_data(v, path)
            except OSError:
                continue
            checksum, size = hashlib.sha256(), 0
            with os.fdopen(fd, "rb") as f:
                while chunk := f.read(1 << 20):
                    checksum.update(chunk)
                    size += len(chunk)
            relative = path.relative_to(folder).as_posix()
            assets[relative] = {
                "href": f"{base_url}/{relative}",
                "title": relative,
                "type": media_type(path),
                "roles": ["data"],
                "file:size": size,
                "file:checksum": "1220" + checksum.hexdigest(),
            }
        manifest = v.manifest
        return {
            "type": "Feature",
            "stac_version": "1.0.0",
            "stac_extensions": ["https://stac-extensions.github.io/file/v2.1.0/schema.json"],
            "id": f"{name}-v{v.number}-data",
            "geometry": None,
            "properties": {
                "datetime": v.created_at.isoformat(),
                "title": f"Data of the twin {manifest.get('title', name)}",
                "twinhub:twin": name,
                "twinhub:version": v.number,
                "twinhub:sha256": v.sha256,
            },
            "links": [],
            "assets": assets,
        }

    def data_file(self, user: User, name: str, relative: str) -> int:
        """A descriptor of one data file of the served version (see :meth:`_open_data`)."""
        v = self._served_visible(user, name)
        folder = published_dir(self.state_dir, name) / str(v.number) / "src" / DATA_DIR
        for path in self._data_files(v):
            if path.relative_to(folder).as_posix() == relative:
                try:
                    return self._open_data(v, path)
                except OSError:
                    break
        raise NotFound(f"twin {name!r} has no data file {relative[:200]!r}")

    # --- serving -------------------------------------------------------------------------------
    def serve(self, user: User, name: str, number: int) -> dict[str, Any]:
        with self.store.sessions() as s:
            versions = self._versions(s, name)
        if not self._visible(user, versions):
            raise NotFound(f"no published twin named {name!r}")
        if not self._may_change(user, versions[0].owner):
            raise NotFound(f"no published twin named {name!r} of yours")
        chosen = [v for v in versions if v.number == number]
        if not chosen:
            raise NotFound(f"twin {name!r} has no version {number}")
        if chosen[0].state not in ("ready", SERVED):
            raise Conflict(
                f"version {number} is {chosen[0].state}: only a version that built and passed "
                "its test can be served"
            )
        return version_record(self.serve_version(name, number))

    def serve_version(self, name: str, number: int, log_text: str | None = None) -> TwinVersion:
        return serve_version(self.store, self.state_dir, name, number, log_text)


def serve_version(
    store, state_dir: Path, name: str, number: int, log_text: str | None = None
) -> TwinVersion:
    """Make ``number`` the served version: its manifest the twin's, its env the runtime (the
    executor's build when a version passes, and the registry's rollback)."""
    twin_dir = published_dir(state_dir, name)
    with store.transaction() as s:
        query = select(TwinVersion).where(TwinVersion.twin_name == name)
        for v in s.scalars(query.order_by(TwinVersion.number)):
            if v.number == number:
                chosen = v
                v.state = SERVED
                if log_text is not None:
                    v.log = log_text[-LOG_TAIL:]
            elif v.state == SERVED:
                v.state = "ready"
            v.updated_at = utcnow()
        manifest = parse_manifest(chosen.manifest, f"twin {name!r}")
        twin = s.scalar(select(Twin).where(Twin.name == name))
        if twin is None:
            twin = Twin(name=name, source="published", retired_at=None)
            s.add(twin)
        from .store import _write_twin

        _write_twin(s, twin, manifest, chosen.owner, "publish")
        link = twin_dir / f".served-{uuid.uuid4().hex}"
        link.symlink_to(str(number))
        os.replace(link, twin_dir / SERVED)  # atomic: readers see the old or the new
        return chosen


def same_archive(versions: list[TwinVersion], sha: str, name: str) -> int | None:
    """An archive equal to a stored version: refused (409, saying what to do instead) if that
    version is waiting, being built, served or ready; accepted again if every version of it
    failed, answering the latest of those (the upload is then a new version, built afresh from
    a fresh unpack: a failed version's folder was its owner's while their code ran, so it is
    never built again). A build fails for reasons the platform cannot tell apart from the
    owner's (a timeout, an executor restart, an index that did not answer): publishing the same
    folder again is how its owner retries."""
    same = [v for v in versions if v.sha256 == sha]
    for v in same:
        if v.state == "failed":
            continue
        what = f"this archive is version {v.number} of {name!r} already ({v.state})"
        if v.state in VERSION_PENDING:
            raise Conflict(f"{what}: wait for its build ('twinhub versions {name}')")
        if v.state == "ready":
            raise Conflict(
                f"{what}: it passed; serve it again with 'twinhub rollback {name} --to "
                f"{v.number}', or change a file to publish a new version"
            )
        raise Conflict(f"{what}: change a file to publish a new version")
    return same[-1].number if same else None


def media_type(path: Path | str) -> str:
    return MEDIA_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def chunks(fd: int, size: int = 1 << 20) -> Iterator[bytes]:
    """A file's content from its descriptor (closed at the end)."""
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(size):
            yield chunk
