"""The state directory and the secrets generated on first start, never in git.

Each secret is a file of its own under ``<state>/secrets/`` with mode 0600, so an operator can
rotate one by deleting its file and restarting. Re-running ``make up`` keeps them: logins,
cookies and service tokens survive a restart.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


class StateDirError(RuntimeError):
    """The state directory cannot be used; the message names it and says what to do."""


@dataclass(frozen=True)
class Secrets:
    proxy_auth_token: str
    """Shared by the hub and configurable-http-proxy for the proxy's REST API."""
    gateway_api_token: str
    """The hub service token of dask-gateway (it checks users' tokens with the hub)."""
    user_password: str
    """The shared password of non-admin users (SharedPasswordAuthenticator)."""
    admin_password: str
    """The password of the admin users (at least 32 characters, as JupyterHub requires)."""


# name -> number of random bytes; token_urlsafe gives ~1.3 characters per byte
_SECRETS = {
    "proxy_auth_token": 32,
    "gateway_api_token": 32,
    "user_password": 9,
    "admin_password": 30,
}


def ensure_state_dir(state_dir: Path) -> Path:
    """Create the state directory (mode 0700) and check that we can write to it."""
    if state_dir.exists() and not state_dir.is_dir():
        raise StateDirError(
            f"The state directory {state_dir} is a file, not a directory. "
            "Move the file away, or point TWINHUB_STATE_DIR elsewhere."
        )
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(state_dir, 0o700)
        probe = state_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise StateDirError(
            f"The state directory {state_dir} is not usable ({e.strerror}). "
            "Free disk space or make it writable, or point TWINHUB_STATE_DIR elsewhere."
        ) from e
    return state_dir


def _read_or_create(path: Path, nbytes: int) -> str:
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    value = secrets.token_urlsafe(nbytes)
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
        values = {name: _read_or_create(folder / name, n) for name, n in _SECRETS.items()}
    except OSError as e:
        raise StateDirError(f"Cannot write secrets under {folder}: {e.strerror}") from e
    return Secrets(**values)
