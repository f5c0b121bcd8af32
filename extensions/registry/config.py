"""The registry's settings, read from the environment the hub gives its managed services.

The hub passes the ``TWINHUB_*`` variables (see ``python -m twinhub.hub.settings``) and its own
``JUPYTERHUB_*`` ones; the registry reads them here, and only here, without importing the hub
configuration (the hub imports us, never the reverse).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
"""The checkout (editable install): its ``twins/`` and ``hub/profiles.yaml`` are the defaults."""
PLATFORM_FOLDER = "platform"
"""The folder of the state directory that holds the registry's SQLite database: the home of the
platform's own account (``TWINHUB_PLATFORM_ACCOUNT``) the registry runs as on a root platform,
private to it (SQLite writes its journal next to the database, so the registry owns the folder)."""
DATABASE_FILE = "registry.sqlite"


def default_database(state_dir: Path) -> Path:
    """The registry's SQLite file when ``TWINHUB_DATABASE_URL`` is not set."""
    return state_dir / PLATFORM_FOLDER / DATABASE_FILE


@dataclass(frozen=True)
class RegistryConfig:
    state_dir: Path
    database_url: str
    twins_dir: Path
    profiles_file: Path
    prefix: str
    """URL prefix the hub's proxy forwards to us, e.g. ``/services/twinhub/``."""
    host: str
    port: int
    auth_cache_seconds: int
    webhook_allowed_hosts: tuple[str, ...] = ()
    """Hosts (``name`` or ``name:port``) schedule webhooks may be sent to; none: no webhooks."""
    scheduler_interval: float = 30.0
    sync_execute_seconds: int = 20
    """How long a synchronous OGC execution waits for its job (TWINHUB_SYNC_EXECUTE_SECONDS)."""
    twin_python: str = ""
    twin_envs_dir: str = ""
    entry_point_check_timeout: float = 120.0
    modules_file: str = ""
    """Tests only (TWINHUB_REGISTRY_MODULES_FILE): where to list the imported modules."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RegistryConfig:
        env = dict(os.environ if env is None else env)
        state_dir = Path(env.get("TWINHUB_STATE_DIR") or PACKAGE_ROOT / "state").resolve()
        url = env.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:8004"
        parsed = urlparse(url)
        return cls(
            state_dir=state_dir,
            database_url=env.get("TWINHUB_DATABASE_URL")
            or f"sqlite:///{default_database(state_dir)}",
            twins_dir=Path(env.get("TWINHUB_TWINS_DIR") or PACKAGE_ROOT / "twins"),
            profiles_file=Path(
                env.get("TWINHUB_PROFILES_FILE") or PACKAGE_ROOT / "hub" / "profiles.yaml"
            ),
            prefix=env.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/twinhub/",
            # the address to listen on; the service URL's host may be a name that only others
            # resolve (the hub's Kubernetes Service), so the operator can say it explicitly
            host=env.get("TWINHUB_SERVICES_BIND_IP") or parsed.hostname or "127.0.0.1",
            port=parsed.port or 8004,
            auth_cache_seconds=int(env.get("TWINHUB_AUTH_CACHE_SECONDS") or 60),
            webhook_allowed_hosts=tuple(
                h.strip()
                for h in (env.get("TWINHUB_WEBHOOK_ALLOWED_HOSTS") or "").split(",")
                if h.strip()
            ),
            scheduler_interval=float(env.get("TWINHUB_SCHEDULER_INTERVAL") or 30),
            sync_execute_seconds=int(env.get("TWINHUB_SYNC_EXECUTE_SECONDS") or 20),
            # the twin runtimes (twinhub.extensions.runtimes): same variables as hub Settings
            twin_python=env.get("TWINHUB_TWIN_PYTHON") or "",
            twin_envs_dir=env.get("TWINHUB_TWIN_ENVS_DIR") or "",
            entry_point_check_timeout=float(env.get("TWINHUB_ENTRY_POINT_CHECK_TIMEOUT") or 120),
            modules_file=env.get("TWINHUB_REGISTRY_MODULES_FILE") or "",
        )
