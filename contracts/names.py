"""The platform's names that more than one part relies on: hub services, their URL prefixes, the
registry's custom scopes and the groups they are granted to.

The hub's configuration declares them, the services serve under them, the spawner and the CLI
call them and the twins' code links to them: written once here, so a rename is one edit.
"""

from __future__ import annotations

from pathlib import Path

SERVICES_PREFIX = "/services"
"""JupyterHub's URL prefix of hub-managed services: ``/services/<name>/``."""


def service_prefix(service: str) -> str:
    """The URL prefix the hub's proxy forwards to ``service`` (no trailing slash)."""
    return f"{SERVICES_PREFIX}/{service}"


def access_scope(service: str) -> str:
    """The JupyterHub scope to reach ``service`` through the hub's OAuth."""
    return f"access:services!service={service}"


REGISTRY_SERVICE = "twinhub"
"""The twin registry (twins, profiles, runs, the Twins page)."""
REGISTRY_PREFIX = service_prefix(REGISTRY_SERVICE)
REGISTRY_API = f"{REGISTRY_PREFIX}/api"
REGISTRY_ACCESS_SCOPE = access_scope(REGISTRY_SERVICE)

DASHBOARDS_SERVICE = "twinhub-apps"
"""The twins' dashboards (SaaS): ``/services/twinhub-apps/<twin>``."""
DASHBOARDS_PREFIX = service_prefix(DASHBOARDS_SERVICE)
DASHBOARDS_ACCESS_SCOPE = access_scope(DASHBOARDS_SERVICE)

GATEWAY_SERVICE = "dask-gateway"
"""The Dask Gateway's front (its API, cluster dashboards for their owners)."""
GATEWAY_SERVER_SERVICE = f"{GATEWAY_SERVICE}-server"
"""The hub service running the main dask-gateway-server (``GATEWAY_SERVICE`` is its front)."""
GATEWAY_PREFIX = service_prefix(GATEWAY_SERVICE)
GATEWAY_ACCESS_SCOPE = access_scope(GATEWAY_SERVICE)
SLURM_GATEWAY_SERVICE = "dask-gateway-slurm"
"""The second gateway, whose schedulers and workers are Slurm jobs (``TWINHUB_SLURM=1``)."""

CULLER_SERVICE = "idle-culler"
LAUNCHER_SERVICE = "twinhub-launcher"
EXECUTOR_SERVICE = "twinhub-executor"
"""The run executor: runs queued jobs (``extensions/registry/jobs.py``)."""

MAINTAINERS_GROUP = "twin-maintainers"
"""Hub group granted the registry's write scopes."""

SCOPE_TWINS_WRITE = "custom:twinhub:twins:write"
SCOPE_PROFILES_WRITE = "custom:twinhub:profiles:write"
SCOPE_RUNS_READ = "custom:twinhub:runs:read"
REGISTRY_WRITE_SCOPES = frozenset({SCOPE_TWINS_WRITE, SCOPE_PROFILES_WRITE})

PLATFORM_FOLDER = "platform"
"""The folder of the state directory that holds the registry's SQLite database: the home of the
platform's own account (``TWINHUB_PLATFORM_ACCOUNT``) the registry runs as on a root platform,
private to it (SQLite writes its journal next to the database, so the registry owns the folder)."""
REGISTRY_DATABASE_FILE = "registry.sqlite"


def default_database(state_dir: Path) -> Path:
    """The registry's SQLite file when ``TWINHUB_DATABASE_URL`` is not set."""
    return state_dir / PLATFORM_FOLDER / REGISTRY_DATABASE_FILE


GATEWAY_FOLDER = "dask-gateway"
"""dask-gateway-server's folder in the state directory: its clusters' folders and database."""


def gateway_database(state_dir: Path) -> Path:
    """dask-gateway-server's SQLite file when ``TWINHUB_GATEWAY_DATABASE_URL`` is not set."""
    return state_dir / GATEWAY_FOLDER / "gateway.sqlite"


VERSION_PENDING = ("queued", "building", "testing")
"""States of a published twin's version on its way to ``served`` or ``failed`` (the registry's
``GET /api/twins/{name}/versions/{n}``): what ``twinhub publish`` and the Publish button of a
user's twin preview wait out."""
