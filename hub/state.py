"""The state directory and the secrets generated on first start, never in git.

Each secret is a file of its own under ``<state>/secrets/`` with mode 0600, so an operator can
rotate one by deleting its file and restarting. Re-running ``make up`` keeps them: logins,
cookies and service tokens survive a restart.

The state directory belongs to the platform's account. When the platform runs as root, users
are unix accounts of their own (extensions/accounts.py) and may only *pass through* it (mode 0711:
no listing) to what they need: their home under ``users/``, their Dask clusters' folders under
``dask-gateway/clusters/`` and the built data under ``data/``; everything else (secrets, the
databases, the cookie secret, logs) is 0600/0700 (:func:`protect_state`).
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twinhub.contracts.settings import user_accounts


class StateDirError(RuntimeError):
    """The state directory cannot be used; the message names it and says what to do."""


@dataclass(frozen=True)
class Secrets:
    proxy_auth_token: str
    """Shared by the hub and configurable-http-proxy for the proxy's REST API."""
    gateway_api_token: str
    """The hub service token of dask-gateway (it checks users' tokens with the hub)."""
    launcher_api_token: str
    """The launcher's hub token (scope ``proxy``): after it restarts a dead proxy it asks the
    hub to put every route back (``POST /hub/api/proxy``)."""
    user_password: str
    """The shared password of non-admin users (SharedPasswordAuthenticator)."""
    admin_password: str
    """The password of the admin users (at least 32 characters, as JupyterHub requires)."""
    dashboard_secret: str
    """Derives each Dask cluster's dashboard key: its scheduler answers only requests carrying
    it, which only the gateway's front adds (extensions/gateway_front/dashboard_key.py)."""
    run_ticket_secret: str
    """Signs the run tickets the dashboard router gives twins' processes in place of their
    visitors' tokens; the registry honours them (extensions/run_tickets.py)."""
    gateway_db_key: str
    """Encrypts the clusters' TLS credentials in Dask Gateway's database (a Fernet key), so
    that a gateway restarted with the hub re-attaches the clusters its predecessor started."""


def _token(nbytes: int) -> Callable[[], str]:
    # token_urlsafe gives ~1.3 characters per byte
    return lambda: secrets.token_urlsafe(nbytes)


def _fernet_key() -> str:
    """32 random bytes, url-safe base64 with padding: the key format Dask Gateway requires."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


# name -> how to generate it on first start
_SECRETS: dict[str, Callable[[], str]] = {
    "proxy_auth_token": _token(32),
    "gateway_api_token": _token(32),
    "launcher_api_token": _token(32),
    "user_password": _token(9),
    "admin_password": _token(30),
    "dashboard_secret": _token(32),
    "run_ticket_secret": _token(32),
    "gateway_db_key": _fernet_key,
}


PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PASSAGE = 0o711
"""Folders users pass through without listing them (the state dir, ``users``, ...)."""
PASSAGES = ("users", "dask-gateway", "published", "jobs")
"""Folders of the state directory that hold something of each user (homes, clusters,
published twins' versions, jobs' folders)."""
LEFT_AS_IS = ("data", "slurm")
"""Folders whose modes belong to their makers: the built data (readable by every user) and a
test Slurm cluster's own state (``make slurm-up``)."""


def state_dir_mode() -> int:
    """0711 when users have accounts of their own (they pass through), else 0700."""
    return PASSAGE if user_accounts() else PRIVATE_DIR


def protect_state(state_dir: Path) -> None:
    """Make everything of the platform in the state directory private to its account.

    New files are private already (the launcher's umask is 077); this also closes what an
    older version or another umask left open, so an upgraded state directory is safe too.
    """
    os.chmod(state_dir, state_dir_mode())
    for entry in state_dir.iterdir():
        if entry.name in LEFT_AS_IS or entry.is_symlink():
            continue
        if not entry.is_dir():
            os.chmod(entry, PRIVATE_FILE)
            continue
        passage = entry.name in PASSAGES and user_accounts()
        os.chmod(entry, PASSAGE if passage else PRIVATE_DIR)
        if passage:  # e.g. the gateway's database next to the clusters' folder
            for inner in entry.iterdir():
                if inner.is_file() and not inner.is_symlink():
                    os.chmod(inner, PRIVATE_FILE)


def move_registry_database(state_dir: Path, folder: Path) -> list[Path]:
    """Move the registry's SQLite files of an older version (``<state>/registry.sqlite``, with
    its journal) into ``folder``, the platform account's home; returns what was moved."""
    old = state_dir / "registry.sqlite"
    if not old.exists() or (folder / old.name).exists():
        return []
    folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    moved = []
    for suffix in ("", "-journal", "-wal", "-shm"):
        path = state_dir / f"{old.name}{suffix}"
        if path.exists():
            path.rename(folder / path.name)
            moved.append(folder / path.name)
    return moved


def hand_over(folder: Path, uid: int, gid: int) -> None:
    """Give ``folder`` and everything in it to an account (files an older version, run as
    root, left there)."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, uid, gid)


def ensure_state_dir(state_dir: Path) -> Path:
    """Create the state directory (:func:`state_dir_mode`) and check that we can write to it."""
    if state_dir.exists() and not state_dir.is_dir():
        raise StateDirError(
            f"The state directory {state_dir} is a file, not a directory. "
            "Move the file away, or point TWINHUB_STATE_DIR elsewhere."
        )
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(state_dir, state_dir_mode())
        probe = state_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise StateDirError(
            f"The state directory {state_dir} is not usable ({e.strerror}). "
            "Free disk space or make it writable, or point TWINHUB_STATE_DIR elsewhere."
        ) from e
    return state_dir


def _read_or_create(path: Path, generate: Callable[[], str]) -> str:
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    value = generate()
    # create with 0600 from the start: the secret is never readable by others, not even briefly
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def ensure_secrets(state_dir: Path) -> Secrets:
    """Load the gateway's secrets, generating the missing ones."""
    ensure_state_dir(state_dir)
    folder = state_dir / "secrets"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        values = {name: _read_or_create(folder / name, gen) for name, gen in _SECRETS.items()}
    except OSError as e:
        raise StateDirError(f"Cannot write secrets under {folder}: {e.strerror}") from e
    return Secrets(**values)
