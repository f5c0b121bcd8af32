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
            or f"sqlite:///{state_dir / 'registry.sqlite'}",
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
            # the twin runtimes (twinhub.extensions.runtimes): same variables as hub Settings
            twin_python=env.get("TWINHUB_TWIN_PYTHON") or "",
            twin_envs_dir=env.get("TWINHUB_TWIN_ENVS_DIR") or "",
            entry_point_check_timeout=float(env.get("TWINHUB_ENTRY_POINT_CHECK_TIMEOUT") or 120),
            modules_file=env.get("TWINHUB_REGISTRY_MODULES_FILE") or "",
        )
