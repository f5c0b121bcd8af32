"""One unix account per hub user on the embedded default: the name mapping and its creation.

JupyterHub's LocalProcessSpawner and dask-gateway's LocalBackend both run a user's processes as
the unix account named like the user. Hub names are not safe account names (any Unicode, any
length, ``root``), so both ask this module instead: :func:`ensure_account` maps a hub name to an
account of its own, ``<prefix><slug>`` (lower-case ASCII letters, digits and ``-``) with a short
hash of the hub name when the slug is not the name itself or is taken. The mapping is recorded
in ``<state>/accounts.sqlite`` (a UNIQUE column on each side: two hub names never share an
account, and a recorded mapping never changes), so the hub and the gateway, two processes,
agree and race safely. An existing account that this table did not create is never adopted.

Accounts are created with ``useradd`` (the hub and the gateway run as root to switch uid) with
a home of mode 0700 from ``home_dir_template``.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import sqlite3
import stat
import subprocess
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from traitlets import Bool, Unicode
from traitlets.config import Config, Configurable
from twinhub.contracts.settings import Settings

MAX_NAME = 32
"""Longest account name ``useradd`` accepts on Linux."""
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
HOMES_MODE = 0o711
"""The folder of the homes: every account may pass through to its own home, none may list."""
HOME_MODE = 0o700


class AccountError(RuntimeError):
    """A unix account could not be made; the message says why and what to check."""


@dataclass(frozen=True)
class Account:
    """A hub user's unix account."""

    hub_name: str
    name: str
    uid: int
    gid: int
    home: str


def slug(hub_name: str) -> str:
    """The hub name as lower-case ASCII letters, digits and single dashes ('' if none)."""
    ascii_name = unicodedata.normalize("NFKD", hub_name).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")


def candidates(prefix: str, hub_name: str) -> list[str]:
    """Account names for ``hub_name``, best first: the plain slug when it is the name itself,
    then the slug with ever longer hashes of the name, then numbered (all at most 32 chars)."""
    digest = hashlib.sha256(hub_name.encode("utf-8", "surrogatepass")).hexdigest()
    base = slug(hub_name)
    names = []
    if base and base == hub_name and len(prefix) + len(base) <= MAX_NAME:
        names.append(prefix + base)
    for size in (6, 10, 16):
        room = MAX_NAME - len(prefix) - size - 1
        stem = base[:room].rstrip("-")
        names.append(f"{prefix}{stem}-{digest[:size]}" if stem else f"{prefix}{digest[:size]}")
    last = names[-1][: MAX_NAME - 4]
    names.extend(f"{last}-{n}" for n in range(2, 100))
    return names


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class AccountTable:
    """The recorded mapping hub name -> account name (``accounts.sqlite`` in the state dir)."""

    def __init__(self, state_dir: Path, prefix: str) -> None:
        """``prefix`` is TWINHUB_ACCOUNT_PREFIX, checked by the settings."""
        self.path = state_dir / "accounts.sqlite"
        self.prefix = prefix

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        os.chmod(self.path, 0o600)
        db.execute(
            "CREATE TABLE IF NOT EXISTS accounts ("
            "hub_name TEXT PRIMARY KEY, unix_name TEXT NOT NULL UNIQUE)"
        )
        return db

    def lookup(self, hub_name: str) -> str | None:
        db = self._connect()
        try:
            row = db.execute(
                "SELECT unix_name FROM accounts WHERE hub_name = ?", (hub_name,)
            ).fetchone()
        finally:
            db.close()
        return row[0] if row else None

    def names(self) -> list[str]:
        """Every recorded account name."""
        db = self._connect()
        try:
            return [r[0] for r in db.execute("SELECT unix_name FROM accounts")]
        finally:
            db.close()

    def assign(self, hub_name: str) -> str:
        """The account name of ``hub_name``: the recorded one, else the first free candidate,
        recorded in the same transaction (another process that raced us reads ours)."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT unix_name FROM accounts WHERE hub_name = ?", (hub_name,)
            ).fetchone()
            if row:
                db.execute("COMMIT")
                return row[0]
            taken = {r[0] for r in db.execute("SELECT unix_name FROM accounts")}
            for name in candidates(self.prefix, hub_name):
                if name not in taken and not _exists(name):
                    db.execute("INSERT INTO accounts VALUES (?, ?)", (hub_name, name))
                    db.execute("COMMIT")
                    return name
            db.execute("ROLLBACK")
        finally:
            db.close()
        raise AccountError(f"no free unix account name for hub user {hub_name!r}")


_LOCK_ATTEMPTS = 40
_LOCK_RETRY_SECONDS = 0.05
"""useradd is retried while the password file is locked: up to about 5 s in all."""


def _useradd(name: str, home: Path, *options: str) -> pwd.struct_passwd:
    """Create account ``name`` (its own group, no home made yet) unless it exists; its entry."""
    if not _exists(name):
        command = ["useradd", "--user-group", "--no-create-home", "--home-dir", str(home)]
        for attempt in range(_LOCK_ATTEMPTS):
            result = subprocess.run(
                [*command, *options, name], capture_output=True, text=True, check=False
            )
            # useradd does not wait for /etc/passwd's lock: another process of the platform
            # (the hub and the gateway both create accounts) or of the system holds it briefly
            if result.returncode == 0 or "lock" not in result.stderr or _exists(name):
                break
            time.sleep(_LOCK_RETRY_SECONDS * (1 + attempt % 4))
        # 9: the name exists (the other process of the platform created it a moment ago)
        if result.returncode not in (0, 9) and not _exists(name):
            raise AccountError(f"useradd {name} failed: {result.stderr.strip()}")
    entry = pwd.getpwnam(name)
    if entry.pw_uid == 0:
        raise AccountError(f"the account {name} is root: give another name")
    return entry


def _private_home(entry: pwd.struct_passwd, home: Path) -> None:
    home.mkdir(mode=HOME_MODE, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    os.chmod(home, HOME_MODE)


def ensure_account(
    state_dir: str | Path, prefix: str, home_template: str, hub_name: str
) -> Account:
    """The unix account of ``hub_name``, created (with a home of mode 0700) on first use."""
    table = AccountTable(Path(state_dir), prefix)
    name = table.assign(hub_name)
    home = Path(home_template.format(username=name))
    entry = _useradd(name, home, "--shell", "/bin/bash")
    home.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(home.parent, HOMES_MODE)
    _private_home(entry, home)
    return Account(hub_name, name, entry.pw_uid, entry.pw_gid, str(home))


def ensure_service_account(name: str, home: Path) -> Account:
    """A system account for a platform service (the dashboards): no login shell, no password,
    a private home (its working directory) and nothing else of the platform's."""
    entry = _useradd(name, home, "--system", "--shell", "/usr/sbin/nologin")
    _private_home(entry, home)
    return Account(name, name, entry.pw_uid, entry.pw_gid, str(home))


def open_passages(paths: list[Path]) -> list[Path]:
    """Let every account pass through the folders above ``paths`` (add o+x, never o+r).

    Users' processes run the platform's Python environment and read its code, kernelspec and
    built data; a checkout under a private folder (``/root``, a 0700 temporary folder) would
    stop them at its door. Paths that do not exist (yet) are skipped. Returns the folders
    that were changed, for the operator to see.
    """
    changed = []
    for path in filter(Path.exists, paths):
        for folder in [*reversed(path.resolve().parents), path.resolve()]:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(folder, stat.S_IMODE(mode) | stat.S_IXOTH)
                changed.append(folder)
    return changed


def remove_prefixed_accounts(prefix: str) -> list[str]:
    """Delete every account whose name starts with ``prefix`` (``userdel -r``): the end of a
    test session that used a prefix of its own."""
    names = [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(prefix)]
    for name in names:
        subprocess.run(["userdel", "--force", "--remove", name], capture_output=True, check=False)
    return names


class UserAccounts(Configurable):
    """The account traits every spawner and backend of the platform shares (one config section,
    ``c.UserAccounts``), and a cache of the accounts it has made sure of."""

    user_accounts = Bool(
        True,
        help="Run each user's processes as their own unix account (the platform runs as root); "
        "False: as the platform's own account.",
    ).tag(config=True)
    accounts_dir = Unicode(
        help="Directory of the recorded hub name -> account mapping (the state directory)."
    ).tag(config=True)
    account_prefix = Unicode("th-", help="Start of every user account's name.").tag(config=True)
    account_home_template = Unicode(
        help="Home of each new account ({username}: the account's name)."
    ).tag(config=True)

    def user_account(self, hub_name: str) -> Account:
        """The account of ``hub_name``, created on first use (blocking: useradd)."""
        cache = self.__dict__.setdefault("_account_cache", {})
        if hub_name not in cache:
            cache[hub_name] = ensure_account(
                self.accounts_dir, self.account_prefix, self.account_home_template, hub_name
            )
        return cache[hub_name]


def accounts_config(settings: Settings) -> Config:
    """Whose account users' processes run as (:class:`UserAccounts`), for spawners and backends."""
    c = Config()
    a = c.UserAccounts
    a.user_accounts = settings.user_accounts
    a.accounts_dir = str(settings.state_dir)
    a.account_prefix = settings.account_prefix
    a.account_home_template = home_dir_template(settings)
    return c


def home_dir_template(settings: Settings) -> str:
    """Users' home directories (``{username}``: their unix account, or their hub name when
    every server runs under the operator's one account)."""
    return str(settings.state_dir / "users" / "{username}")
