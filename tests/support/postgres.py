"""A throwaway PostgreSQL server on loopback for tests: Debian's own binaries, a private cluster.

Production twinhub keeps the hub's and the registry's state in PostgreSQL (z2jh's
``hub.db.type: other``); these tests run that path for real instead of trusting SQLite to stand
in for it. The cluster lives in a fresh directory, listens on a free loopback port and a socket
in that directory, uses password (SCRAM) authentication, and is stopped and removed afterwards.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user
that Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.support.gateway import free_ports

USER = "twinhub"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (``scripts/ensure-system-packages.sh test`` installs
    them); tests skip with this message."""


def server_binary(name: str) -> Path:
    """``initdb``/``pg_ctl`` from PATH or from Debian's versioned directory (newest first)."""
    found = shutil.which(name)
    if found:
        return Path(found)
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if not candidates:
        raise PostgresUnavailable(
            f"PostgreSQL's {name} is not installed: apt-get install -y postgresql "
            "(scripts/ensure-system-packages.sh test does it)"
        )
    return Path(candidates[0])


@dataclass
class PostgresServer:
    """A running cluster: where it lives, its port and the password of its superuser."""

    directory: Path
    port: int
    password: str
    run_as: str | None

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database, driver="postgresql"), autocommit=True)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        with self.connect() as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def query(self, database: str, sql: str) -> list[tuple]:
        with self.connect(database) as db:
            return db.execute(sql).fetchall()

    def stop(self) -> None:
        _run(
            self.run_as, [str(server_binary("pg_ctl")), "-D", str(self.data), "-m", "fast", "stop"]
        )
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def data(self) -> Path:
        return self.directory / "data"


def _run(run_as: str | None, cmd: list[str]) -> None:
    if run_as:
        cmd = ["runuser", "-u", run_as, "--", *cmd]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr}")


def start_postgres() -> PostgresServer:
    """initdb + pg_ctl start in a new directory under the system temp dir (not pytest's, which
    is private to root and so unreachable for the postgres user)."""
    initdb, pg_ctl = server_binary("initdb"), server_binary("pg_ctl")
    run_as = None
    directory = Path(tempfile.mkdtemp(prefix="twinhub-pg-"))
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no 'postgres' user") from None
        run_as = "postgres"
        os.chown(directory, account.pw_uid, account.pw_gid)
    password = secrets.token_urlsafe(16)
    pwfile = directory / "pwfile"
    pwfile.write_text(password)
    if run_as:
        os.chown(pwfile, pwd.getpwnam(run_as).pw_uid, -1)
    data = directory / "data"
    _run(
        run_as,
        [
            str(initdb),
            "-D",
            str(data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "-A",
            "scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ],
    )
    pwfile.unlink()
    port = free_ports(1)[0]
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run(
        run_as,
        [
            str(pg_ctl),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(directory / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
    )
    return PostgresServer(directory=directory, port=port, password=password, run_as=run_as)


@contextmanager
def postgres_or_skip() -> Iterator[PostgresServer]:
    """A running cluster for a fixture, stopped afterwards; the test is skipped (with how to
    install PostgreSQL) where the binaries are missing."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()
