"""The registry's settings: the platform's :class:`Settings` plus where the hub serves us.

The hub passes the ``TWINHUB_*`` variables (see ``python -m twinhub.contracts.settings``) and its
own ``JUPYTERHUB_*`` ones; the ``TWINHUB_*`` ones are read by the one ``Settings`` class, with its
defaults and checks, never parsed here a second time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from twinhub.contracts.names import (  # noqa: F401 - PLATFORM_FOLDER: also used from here
    PLATFORM_FOLDER,
    REGISTRY_PREFIX,
    default_database,
)
from twinhub.contracts.settings import REPO_ROOT, Settings

PACKAGE_ROOT = REPO_ROOT
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
    def from_env(cls, env: Mapping[str, str] | None = None) -> RegistryConfig:
        env = os.environ if env is None else env
        settings = Settings.from_env(env)
        url = env.get("JUPYTERHUB_SERVICE_URL") or f"http://127.0.0.1:{settings.registry_port}"
        parsed = urlparse(url)
        return cls(
            state_dir=settings.state_dir,
            database_url=settings.registry_db_url,
            twins_dir=settings.twins_dir,
            profiles_file=settings.profiles_file,
            prefix=env.get("JUPYTERHUB_SERVICE_PREFIX") or f"{REGISTRY_PREFIX}/",
            # the address to listen on; the service URL's host may be a name that only others
            # resolve (the hub's Kubernetes Service), so the operator says it explicitly
            # (TWINHUB_SERVICES_BIND_IP, loopback by default)
            host=settings.services_bind_ip,
            port=parsed.port or settings.registry_port,
            auth_cache_seconds=settings.auth_cache_seconds,
            webhook_allowed_hosts=settings.webhook_allowed_hosts,
            scheduler_interval=float(settings.scheduler_interval),
            sync_execute_seconds=settings.sync_execute_seconds,
            # the twin runtimes (twinhub.extensions.runtimes)
            twin_python=settings.twin_python,
            twin_envs_dir=settings.twin_envs_dir,
            entry_point_check_timeout=settings.entry_point_check_timeout,
            modules_file=settings.registry_modules_file,
        )
