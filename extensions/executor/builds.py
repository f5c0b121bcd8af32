"""Publishing builds, run by the executor: a queued version is built, tested and served.

The registry only checks, unpacks and stores an upload, as version state ``queued``
(:mod:`twinhub.extensions.registry.publishing`); it holds no root. The executor (root, as for
jobs) claims queued versions one at a time (:func:`claim_build`: a conditional UPDATE, so two
executors never build one version) and runs each build in a process of its own beside its job
slots (``python -m twinhub.extensions.executor.builds ID``, dying with the executor), which:

1. hands the version's folder to the owner's unix account (:func:`hand_to_owner`: the data
   files also readable by the platform's group, so the registry, which runs as the platform's
   account, can list and serve them; nothing else of the folder);
2. ``building``: the version's environment, with uv (:func:`twinhub.extensions.runtimes.
   build_published_environment`: the platform's base plus the twin's declared requirements);
3. ``testing``: the twin's entry points are imported and its own test run, in that environment;
4. ``served`` (:func:`twinhub.extensions.registry.publishing.serve_version`: the previously
   served version becomes ``ready``) or ``failed``: a failed version never replaces the served
   one.

Every command of the build runs as the owner's account (never as root), with a minimal
environment (no platform token, no ``TWINHUB_*`` or ``JUPYTERHUB_*`` variable), in a session of
its own, bounded in time. An executor that starts marks the builds a dead one left ``building``
or ``testing`` as failed, saying why (:func:`fail_interrupted_builds`).
"""

from __future__ import annotations

import logging
import os
import pwd
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker
from twinhub.contracts.manifest import MANIFEST_FILE
from twinhub.contracts.settings import Settings
from twinhub.contracts.text import normalize_username
from twinhub.extensions.runtimes import build_published_environment, published_dir

from ..registry.db import TwinVersion, utcnow
from ..registry.publishing import DATA_DIR, LOG_TAIL, QUEUED, serve_version
from ..registry.store import Store

log = logging.getLogger("twinhub.executor.builds")
INTERRUPTED = "interrupted: the executor restarted"
"""Why a build a dead executor left ``building`` or ``testing`` failed."""
BUILDING = ("building", "testing")
CHECK_AND_TEST = """
import sys
from twinhub.twins.manifest import entry_point_errors, load_manifest
errors = entry_point_errors(load_manifest(sys.argv[1]))
for field, message in errors:
    print(f"{field}: {message}")
if errors:
    sys.exit(1)
import pytest
own = ["--rootdir", ".", "-c", "pyproject.toml", "."]
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *own]))
"""
"""The entry points import (model, app: the dashboard's imports too), then the twin's own
test: one process, so the platform's packages are imported once (about half the step). Its
configuration is the twin's own ``pyproject.toml``: pytest would otherwise take the nearest
one above, which is the platform's when the state dir lies in the checkout (``make up``), and
collect from folders the owner may not read."""


class StepFailed(RuntimeError):
    pass


def claim_build(sessions: sessionmaker) -> int | None:
    """The oldest queued version, now ``building``; None if none is queued. Conditional on its
    state still being ``queued``: a version another executor claimed first is skipped."""
    with sessions.begin() as s:
        while True:
            version_id = s.scalar(
                select(TwinVersion.id)
                .where(TwinVersion.state == QUEUED)
                .order_by(TwinVersion.id)
                .limit(1)
            )
            if version_id is None:
                return None
            claimed = s.execute(
                update(TwinVersion)
                .where(TwinVersion.id == version_id, TwinVersion.state == QUEUED)
                .values(state="building", updated_at=utcnow())
            ).rowcount
            if claimed:
                return version_id


def fail_build(sessions: sessionmaker, version_id: int, reason: str) -> bool:
    """A version still ``building``/``testing`` becomes failed, its log ending with why."""
    with sessions.begin() as s:
        row = s.get(TwinVersion, version_id)
        if row is None or row.state not in BUILDING:
            return False
        row.state, row.updated_at = "failed", utcnow()
        row.log = (row.log + f"\n{reason}\n")[-LOG_TAIL:]
        return True


def fail_interrupted_builds(sessions: sessionmaker) -> list[int]:
    """Builds a dead executor left ``building``/``testing``: failed, saying why (one executor
    per database, as for jobs)."""
    with sessions() as s:
        left = list(s.scalars(select(TwinVersion.id).where(TwinVersion.state.in_(BUILDING))))
    return [v for v in left if fail_build(sessions, v, INTERRUPTED)]


def platform_gid(settings: Settings) -> int | None:
    """The group of the platform's account (the registry's), if it exists on this machine."""
    try:
        return pwd.getpwnam(settings.platform_account).pw_gid
    except KeyError:
        return None


def share_data(folder: Path, gid: int) -> None:
    """Let the group ``gid`` (the platform's: the registry) pass through a version's folder to
    its ``src/data`` files and read those, and nothing else of it. Root does this in a folder
    its owner may change at the same time: every name is opened relative to its folder's
    descriptor, never following a link (:func:`os.fwalk`)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY
    fds = []
    try:
        fds.append(os.open(folder, flags))
        fds.append(os.open("src", flags, dir_fd=fds[-1]))
        for fd in fds:
            os.fchown(fd, -1, gid)
            os.fchmod(fd, 0o710)
        fds.append(os.open(DATA_DIR, flags, dir_fd=fds[-1]))
    except OSError:  # no data (or a link in its place): nothing more to share
        return
    finally:
        data = fds.pop() if len(fds) == 3 else None
        for fd in fds:
            os.close(fd)
    try:
        for _, _, files, dir_fd in os.fwalk(".", dir_fd=data, follow_symlinks=False):
            os.fchown(dir_fd, -1, gid)
            os.fchmod(dir_fd, 0o750)
            for name in files:
                _share_file(name, dir_fd, gid)
    finally:
        os.close(data)


def share_job_outputs(folder: Path, gid: int, names: tuple[str, ...]) -> None:
    """A job's folder (its user's) lets the group ``gid`` (the registry's) pass through to
    its output files ``names`` and read those: descriptors that never follow a link."""
    fd = os.open(folder, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
    try:
        os.fchown(fd, -1, gid)
        os.fchmod(fd, 0o710)
        for name in names:
            _share_file(name, fd, gid)
    finally:
        os.close(fd)


def _share_file(name: str, dir_fd: int, gid: int) -> None:
    """File ``name`` of the folder ``dir_fd``, if it is a regular file (never a link's target),
    readable by the group ``gid``."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:  # a link, or gone
        return
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchown(fd, -1, gid)
            os.fchmod(fd, 0o640)
    finally:
        os.close(fd)


def hand_to_owner(folder: Path, account: Any, gid: int | None) -> None:
    """The version's folder becomes the owner's and only theirs (what they run is theirs); the
    platform's group reads its data files (:func:`share_data`). Before any of their code runs
    in it: it holds only what the registry unpacked (no links) and the build's log, root's."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink() or (path.name == "build.log" and path.parent == folder):
            continue
        os.lchown(path, account.uid, account.gid)
        os.chmod(path, path.lstat().st_mode & 0o700)
    if gid is not None:
        share_data(folder, gid)


class Builder:
    """Builds one claimed version at a time (blocking; the executor runs it in a process)."""

    def __init__(self, sessions: sessionmaker, settings: Settings):
        self.sessions = sessions
        self.store = Store(sessions)
        self.settings = settings
        self.state_dir = Path(settings.state_dir)
        self.timeout = settings.publish_build_timeout

    def _set(self, version_id: int, state: str | None = None, log_text: str | None = None):
        with self.sessions.begin() as s:
            row = s.get(TwinVersion, version_id)
            if state is not None:
                row.state = state
            if log_text is not None:
                row.log = log_text[-LOG_TAIL:]
            row.updated_at = utcnow()

    def build(self, version_id: int) -> str:
        """Build, test and serve a claimed version; its final state."""
        with self.sessions() as s:
            row = s.get(TwinVersion, version_id)
        folder = published_dir(self.state_dir, row.twin_name) / str(row.number)
        # opened once, before any of the owner's code runs in the folder (then theirs): a link
        # they put in its place later is never followed by root
        fd = os.open(
            folder / "build.log", os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600
        )
        with os.fdopen(fd, "a+b", buffering=0) as output:
            try:
                account = self._account(row.owner)
                if account is not None:
                    hand_to_owner(folder, account, platform_gid(self.settings))
                env_dir = folder / "env"

                def step(argv: list[str]) -> None:
                    self._run(argv, folder / "src", account, output)

                build_published_environment(folder / "src", env_dir, run=step)
                self._set(version_id, "testing", _tail(output))
                python = str(env_dir / "bin" / "python")
                step([python, "-c", CHECK_AND_TEST, str(folder / "src" / MANIFEST_FILE)])
                serve_version(self.store, self.state_dir, row.twin_name, row.number, _tail(output))
                return "served"
            except Exception as e:  # the version fails; the served one stays
                log.info("build of %s %s failed: %s", row.twin_name, row.number, e)
                self._set(version_id, "failed", _tail(output) + f"\n{type(e).__name__}: {e}\n")
                return "failed"

    def build_next(self) -> int | None:
        """Claim and build the next queued version (in this process); its id, or None."""
        version_id = claim_build(self.sessions)
        if version_id is not None:
            self.build(version_id)
        return version_id

    def _account(self, owner: str):
        """The owner's unix account when the executor runs as root (never run user code as
        root), None otherwise (the platform's own unprivileged account runs it)."""
        if os.geteuid() != 0:
            return None
        from twinhub.extensions.accounts import ensure_account, home_dir_template

        return ensure_account(
            self.state_dir,
            self.settings.account_prefix,
            home_dir_template(self.settings),
            normalize_username(owner),
        )

    def _run(self, argv: list[str], cwd: Path, account, out: BinaryIO) -> None:
        """One step as the owner: minimal environment, own session, bounded in time."""
        home = account.home if account is not None else str(Path.home())
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "UV_CACHE_DIR": str(Path(home) / ".cache" / "uv"),
            "UV_NO_CONFIG": "1",
        }
        from .service import _die_with_parent

        ids = {}
        if account is not None:
            ids = {"user": account.uid, "group": account.gid, "extra_groups": []}
        shown = " ".join([Path(argv[0]).name, *argv[1:]])
        out.write(f"$ {shown}\n".encode())
        started = time.monotonic()
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, umask=0o077,
            preexec_fn=_die_with_parent, **ids,  # noqa: PLW1509 - one thread (executor: a process)
        )  # fmt: skip
        try:
            code = process.wait(self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise StepFailed(f"took longer than {self.timeout} s: stopped") from None
        finally:
            try:  # whatever it left running in its session
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        out.write(f"({time.monotonic() - started:.1f} s)\n".encode())
        if code != 0:
            raise StepFailed(f"{Path(argv[0]).name} exited with {code}")


def _tail(out: BinaryIO) -> str:
    """The end of the build's log (from its descriptor)."""
    end = os.fstat(out.fileno()).st_size
    start = max(0, end - LOG_TAIL)
    return os.pread(out.fileno(), end - start, start).decode(errors="replace")


def main(argv: list[str] | None = None) -> int:
    """``python -m twinhub.extensions.executor.builds ID``: build one version the executor
    claimed (its state ``building``)."""
    from ..registry.db import make_engine

    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"
    )
    argv = sys.argv[1:] if argv is None else argv
    settings = Settings.from_env()
    sessions = sessionmaker(make_engine(settings.registry_db_url), expire_on_commit=False)
    state = Builder(sessions, settings).build(int(argv[0]))
    return 0 if state == "served" else 1


if __name__ == "__main__":
    sys.exit(main())
