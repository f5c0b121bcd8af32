"""Hub-managed services (registry, Dask Gateway, idle culler) and the roles to reach them.

Pure functions from settings to the data JupyterHub's config takes, so that the embedded
config, the Helm values and the tests share one definition.
"""

from __future__ import annotations

import os
import sys

from .settings import REPO_ROOT, Settings
from .state import Secrets

GATEWAY_SERVICE = "dask-gateway"
GATEWAY_PREFIX = f"/services/{GATEWAY_SERVICE}"
GATEWAY_ACCESS_SCOPE = f"access:services!service={GATEWAY_SERVICE}"
CULLER_SERVICE = "idle-culler"
REGISTRY_SERVICE = "twinhub"
REGISTRY_PREFIX = f"/services/{REGISTRY_SERVICE}"
REGISTRY_ACCESS_SCOPE = f"access:services!service={REGISTRY_SERVICE}"
DASHBOARDS_SERVICE = "twinhub-apps"
DASHBOARDS_PREFIX = f"/services/{DASHBOARDS_SERVICE}"
DASHBOARDS_ACCESS_SCOPE = f"access:services!service={DASHBOARDS_SERVICE}"
MAINTAINERS_GROUP = "twin-maintainers"
SCOPE_TWINS_WRITE = "custom:twinhub:twins:write"
SCOPE_PROFILES_WRITE = "custom:twinhub:profiles:write"
SCOPE_RUNS_READ = "custom:twinhub:runs:read"


def custom_scopes() -> dict[str, dict]:
    """The registry's own permissions, declared to the hub (JupyterHub >= 3 custom scopes)."""
    return {
        SCOPE_TWINS_WRITE: {"description": "Register, update, retire and restore twins."},
        SCOPE_PROFILES_WRITE: {"description": "Create, update, retire infrastructure profiles."},
        SCOPE_RUNS_READ: {"description": "Read every user's twin runs and their provenance."},
    }


def registry_service(settings: Settings) -> dict:
    """The twin registry (FastAPI + uvicorn), started by the hub, at /services/twinhub/."""
    return {
        "name": REGISTRY_SERVICE,
        "display": False,
        "url": f"http://127.0.0.1:{settings.registry_port}",
        "command": [sys.executable, "-m", "twinhub.extensions.registry"],
        "environment": {
            **settings.to_env(),
            # the registry imports twins' model/app entry points to validate them
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        },
        "cwd": str(settings.state_dir),
        # browsers log in through hub OAuth; the token it gets may read the user's groups,
        # start/stop their servers (Twins page) and carry the registry's own scopes
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [
            REGISTRY_ACCESS_SCOPE,
            "read:servers!user",
            "servers!user",
            SCOPE_TWINS_WRITE,
            SCOPE_PROFILES_WRITE,
            SCOPE_RUNS_READ,
        ],
    }


def dashboards_service(settings: Settings) -> dict:
    """Every twin's Panel app behind hub login, at /services/twinhub-apps/<twin> (SaaS)."""
    return {
        "name": DASHBOARDS_SERVICE,
        "display": True,
        "url": f"http://127.0.0.1:{settings.dashboards_port}",
        "command": [sys.executable, "-m", "twinhub.extensions.dashboards"],
        "environment": {
            **settings.to_env(),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            # the service asks the registry as the user (visibility, run records)
            "TWINHUB_API_URL": registry_api_url(settings),
            "TWINHUB_DATA_DIR": str(settings.state_dir / "data"),
        },
        "cwd": str(settings.state_dir),
        # the user's OAuth token may open dashboards and use the registry in their name
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [DASHBOARDS_ACCESS_SCOPE, REGISTRY_ACCESS_SCOPE],
    }


def dask_gateway_service(settings: Settings, secrets: Secrets) -> dict:
    """dask-gateway-server, started and stopped by the hub, reachable at /services/dask-gateway."""
    return {
        "name": GATEWAY_SERVICE,
        "display": False,
        # the hub's proxy sends /services/dask-gateway/ to the gateway's own HTTP proxy,
        # which serves the API and the cluster dashboards under that prefix
        "url": f"http://127.0.0.1:{settings.gateway_http_port}",
        "command": [
            str(settings.venv_bin / "dask-gateway-server"),
            "--config",
            str(REPO_ROOT / "hub" / "dask_gateway_config.py"),
        ],
        "api_token": secrets.gateway_api_token,
        "environment": settings.to_env(),
        "cwd": str(settings.state_dir),
    }


def idle_culler_service(settings: Settings) -> dict:
    """jupyterhub-idle-culler: stops servers idle longer than TWINHUB_CULL_TIMEOUT."""
    every = max(10, min(600, settings.cull_timeout // 6))
    return {
        "name": CULLER_SERVICE,
        "display": False,
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={settings.cull_timeout}",
            f"--cull-every={every}",
        ],
    }


def managed_services(settings: Settings, secrets: Secrets) -> list[dict]:
    """Every service the hub starts and stops (``JupyterHub.services``); the launcher stops
    them by these command lines when the hub that started them has died."""
    return [
        registry_service(settings),
        dashboards_service(settings),
        dask_gateway_service(settings, secrets),
        idle_culler_service(settings),
    ]


def roles(settings: Settings) -> list[dict]:
    """RBAC roles: users (and their servers' tokens) may use the gateway and the registry;
    admins and the twin-maintainers group may write to the registry; the culler may cull."""
    return [
        {
            "name": "user",
            "description": "Standard user privileges, plus Dask clusters and the twin registry",
            "scopes": [
                "self",
                GATEWAY_ACCESS_SCOPE,
                REGISTRY_ACCESS_SCOPE,
                DASHBOARDS_ACCESS_SCOPE,
            ],
        },
        {
            "name": "twinhub-admin",
            "description": "Manage twins, infrastructure profiles and read every run",
            "scopes": [SCOPE_TWINS_WRITE, SCOPE_PROFILES_WRITE, SCOPE_RUNS_READ],
            "users": list(settings.admin_users),
        },
        {
            "name": "twin-maintainer",
            "description": "Register and update twins, read every run",
            "scopes": [SCOPE_TWINS_WRITE, SCOPE_RUNS_READ],
            # the hub creates the group with the role (with OIDC, the IdP's groups fill it)
            "groups": [MAINTAINERS_GROUP],
        },
        {
            # $JUPYTERHUB_API_TOKEN in a user's server: what the server needs, plus the gateway,
            # so that GatewayCluster() works in a notebook with no arguments
            "name": "server",
            "description": "Post activity, check access to its server, use Dask Gateway",
            "scopes": [
                "users:activity!user",
                "access:servers!server",
                GATEWAY_ACCESS_SCOPE,
                REGISTRY_ACCESS_SCOPE,
            ],
        },
        {
            "name": CULLER_SERVICE,
            "description": "Stop idle servers",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": [CULLER_SERVICE],
        },
    ]


def user_dask_environment(settings: Settings) -> dict[str, str]:
    """Environment of user servers: Dask Gateway's client config (``dask_gateway.Gateway()``)."""
    return {
        # inside a server, talk to the gateway directly (no extra hop through the public proxy)
        "DASK_GATEWAY__ADDRESS": f"http://127.0.0.1:{settings.gateway_http_port}{GATEWAY_PREFIX}",
        "DASK_GATEWAY__PROXY_ADDRESS": f"gateway://127.0.0.1:{settings.gateway_tcp_port}",
        # dashboard links handed to the browser go through the hub's public URL
        "DASK_GATEWAY__PUBLIC_ADDRESS": f"{settings.url}{GATEWAY_PREFIX}",
        "DASK_GATEWAY__AUTH__TYPE": "jupyterhub",
        # a LocalCluster started in a notebook shows its dashboard through jupyter-server-proxy
        "DASK_DISTRIBUTED__DASHBOARD__LINK": "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status",
    }


def registry_api_url(settings: Settings) -> str:
    """The registry's API as the hub and user servers reach it (directly, on loopback)."""
    return f"http://127.0.0.1:{settings.registry_port}{REGISTRY_PREFIX}/api"
