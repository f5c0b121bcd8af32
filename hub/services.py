"""Hub-managed services (Dask Gateway, idle culler) and the roles that let users reach them.

Pure functions from settings to the data JupyterHub's config takes, so that the embedded
config, the Helm values and the tests share one definition.
"""

from __future__ import annotations

import sys

from .settings import REPO_ROOT, Settings
from .state import Secrets

GATEWAY_SERVICE = "dask-gateway"
GATEWAY_PREFIX = f"/services/{GATEWAY_SERVICE}"
GATEWAY_ACCESS_SCOPE = f"access:services!service={GATEWAY_SERVICE}"
CULLER_SERVICE = "idle-culler"


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


def roles() -> list[dict]:
    """RBAC roles: users (and their servers' tokens) may use the gateway; the culler may cull."""
    return [
        {
            "name": "user",
            "description": "Standard user privileges, plus creating Dask clusters",
            "scopes": ["self", GATEWAY_ACCESS_SCOPE],
        },
        {
            # $JUPYTERHUB_API_TOKEN in a user's server: what the server needs, plus the gateway,
            # so that GatewayCluster() works in a notebook with no arguments
            "name": "server",
            "description": "Post activity, check access to its server, use Dask Gateway",
            "scopes": ["users:activity!user", "access:servers!server", GATEWAY_ACCESS_SCOPE],
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
