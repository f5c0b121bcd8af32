"""The state directory and the secrets generated on first start, never in git.

Each secret is a file of its own under ``<state>/secrets/`` with mode 0600, so an operator can
rotate one by deleting its file and restarting. Re-running ``make up`` keeps them: logins,
cookies and service tokens survive a restart.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
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
    launcher_api_token: str
    """The launcher's hub token (scope ``proxy``): after it restarts a dead proxy it asks the
    hub to put every route back (``POST /hub/api/proxy``)."""
    user_password: str
    """The shared password of non-admin users (SharedPasswordAuthenticator)."""
    admin_password: str
    """The password of the admin users (at least 32 characters, as JupyterHub requires)."""
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
    "gateway_db_key": _fernet_key,
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
