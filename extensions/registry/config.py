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

from twinhub.contracts.names import REGISTRY_PREFIX
from twinhub.contracts.settings import Settings


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RegistryConfig:
        env = os.environ if env is None else env
        settings = Settings.from_env(env)
        url = env.get("JUPYTERHUB_SERVICE_URL") or f"http://127.0.0.1:{settings.registry_port}"
        parsed = urlparse(url)
        return cls(
            state_dir=settings.state_dir,
            database_url=settings.database_url
            or f"sqlite:///{settings.state_dir / 'registry.sqlite'}",
            twins_dir=settings.twins_dir,
            profiles_file=settings.profiles_file,
            prefix=env.get("JUPYTERHUB_SERVICE_PREFIX") or f"{REGISTRY_PREFIX}/",
            # the address to listen on; the service URL's host may be a name that only others
            # resolve (the hub's Kubernetes Service), so the operator says it explicitly
            # (TWINHUB_SERVICES_BIND_IP, loopback by default)
            host=settings.services_bind_ip,
            port=parsed.port or settings.registry_port,
            auth_cache_seconds=settings.auth_cache_seconds,
        )
