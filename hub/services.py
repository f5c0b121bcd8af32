"""Hub-managed services (registry, Dask Gateway, idle culler) and the roles to reach them.

Pure functions from settings to the data JupyterHub's config takes, so that the embedded
config, the Helm values and the tests share one definition.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from twinhub.catalogs.location import DATA_DIR_ENV, data_dir
from twinhub.contracts.names import (  # noqa: F401 - the hub's config takes them from here
    CULLER_SERVICE,
    DASHBOARDS_ACCESS_SCOPE,
    DASHBOARDS_PREFIX,
    DASHBOARDS_SERVICE,
    EXECUTOR_SERVICE,
    GATEWAY_ACCESS_SCOPE,
    GATEWAY_PREFIX,
    GATEWAY_SERVER_SERVICE,
    GATEWAY_SERVICE,
    LAUNCHER_SERVICE,
    MAINTAINERS_GROUP,
    PLATFORM_FOLDER,
    REGISTRY_ACCESS_SCOPE,
    REGISTRY_SERVICE,
    SCOPE_PROFILES_WRITE,
    SCOPE_RUNS_READ,
    SCOPE_TWINS_WRITE,
    SLURM_GATEWAY_SERVICE,
    access_scope,
    service_prefix,
)
from twinhub.contracts.settings import REPO_ROOT, Settings
from twinhub.extensions.gateway_front import UPSTREAM_ENV
from twinhub.extensions.gateway_front.dashboard_key import SECRET_ENV as DASHBOARD_SECRET_ENV
from twinhub.extensions.run_tickets import SECRET_ENV as RUN_TICKET_SECRET_ENV

from .state import Secrets

GATEWAY_INSTANCE_ENV = "TWINHUB_GATEWAY_SERVICE"
"""Tells dask_gateway_config.py which of the hub's gateways it configures."""


def custom_scopes() -> dict[str, dict]:
    """The registry's own permissions, declared to the hub (JupyterHub >= 3 custom scopes)."""
    return {
        SCOPE_TWINS_WRITE: {"description": "Register, update, retire and restore twins."},
        SCOPE_PROFILES_WRITE: {"description": "Create, update, retire infrastructure profiles."},
        SCOPE_RUNS_READ: {"description": "Read every user's twin runs and their provenance."},
    }


SERVICE_START_TIMEOUT = 120
"""Seconds the hub waits for a managed service to listen (JupyterHub's default is 30).

The dashboard service imports every twin's code (Panel, numba, xarray) before
it listens, to serve it; on a busy 2-core machine that took over 30 s, and a hub
that gives up on a managed service exits. Waiting longer costs nothing when all is well.
"""


def _start_timeout() -> dict[str, int]:
    """The ``timeout`` service key where this JupyterHub has it (6.0+; the z2jh 4 image has 5)."""
    from jupyterhub.services.service import Service

    return {"timeout": SERVICE_START_TIMEOUT} if "timeout" in Service.class_traits() else {}


def data_dir_env(settings: Settings) -> dict[str, str]:
    """Where the services find the built data: ``TWINHUB_DATA_DIR`` when the operator set it
    (the Kubernetes hub image builds its data outside the state volume), else ``<state>/data``."""
    return {DATA_DIR_ENV: str(data_dir(settings))}


def platform_home(settings: Settings) -> Path:
    """Home (and working directory) of the platform's account: the registry's database, 0700."""
    return settings.state_dir / PLATFORM_FOLDER


def _as_platform_account(settings: Settings) -> dict:
    """Service keys that run a service needing no root as the platform's account (on a root
    platform; otherwise the hub's own account runs everything)."""
    if settings.user_accounts:
        return {"user": settings.platform_account, "cwd": str(platform_home(settings))}
    return {"cwd": str(settings.state_dir)}


def _run_ticket_env(secrets: Secrets | None) -> dict[str, str]:
    """The secret that signs run tickets (extensions/run_tickets.py): for the dashboard router,
    which issues them, and the registry, which honours them; no one else."""
    return {RUN_TICKET_SECRET_ENV: secrets.run_ticket_secret} if secrets else {}


def registry_service(settings: Settings, secrets: Secrets | None = None) -> dict:
    """The twin registry (FastAPI + uvicorn), started by the hub, at /services/twinhub/.

    It needs no root: on a root platform it runs as the platform's account
    (TWINHUB_PLATFORM_ACCOUNT), which owns its database and ``<state>/published`` and nothing
    else of the platform's (not the secrets, not the hub's or the gateway's databases). It
    parses every request body, manifest and archive of the platform, so it builds nothing:
    publishing builds run in the run executor (root, each command as the twin's owner,
    ``extensions/executor/builds.py``), which leaves the versions' data files and the jobs'
    outputs readable by the platform's group.
    """
    return {
        "name": REGISTRY_SERVICE,
        **_start_timeout(),
        "display": False,
        "url": f"http://127.0.0.1:{settings.registry_port}",
        "command": [sys.executable, "-m", "twinhub.extensions.registry"],
        "environment": {
            **settings.to_env(),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            **data_dir_env(settings),  # the Twins page's thumbnails are built with the data
            **_run_ticket_env(secrets),
        },
        **_as_platform_account(settings),
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


def executor_service(settings: Settings) -> dict:
    """The run executor: runs the registry's queued jobs and publishing builds, each as its
    owner's unix account (so it runs as the platform's root account, like the hub's spawner,
    and listens nowhere).
    It reads the registry's database; the hub restarts it when it dies, and it then marks the
    jobs it left running as failed."""
    return {
        "name": EXECUTOR_SERVICE,
        "display": False,
        "command": [sys.executable, "-m", "twinhub.extensions.executor"],
        "environment": {
            **settings.to_env(),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            **data_dir_env(settings),
        },
        "cwd": str(settings.state_dir),
    }


def dashboards_home(settings: Settings) -> Path:
    """Working directory (and home) of the dashboards' account: its own, 0700."""
    return settings.state_dir / "apps"


def dashboards_service(settings: Settings, secrets: Secrets | None = None) -> dict:
    """The dashboard router behind hub login, at /services/twinhub-apps/<twin> (SaaS).

    The router holds the service's hub token and runs no twin code; each twin's dashboard is a
    process of its own that the router starts (``extensions/dashboards/supervisor.py``): on a
    root platform as an account of its own (TWINHUB_APPS_ACCOUNT, made by the launcher) that
    can read the code and the built data and holds nothing else, with no token in its
    environment, its home ``<state>/apps``; a published twin as its owner's account
    (``dashboards/router.py``, ``twin_runtime``). The router runs as the platform (root: it
    switches each twin's process), so no twin can read its environment or signal it.
    """
    home = {"TWINHUB_APPS_HOME": str(dashboards_home(settings))} if settings.user_accounts else {}
    return {
        "name": DASHBOARDS_SERVICE,
        **_start_timeout(),
        "display": True,
        "url": f"http://127.0.0.1:{settings.dashboards_port}",
        "command": [sys.executable, "-m", "twinhub.extensions.dashboards"],
        "environment": {
            **settings.to_env(),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            # the router asks the registry as the user (visibility, the twin's manifest); the
            # twins' processes record runs with the user's token
            "TWINHUB_API_URL": registry_api_url(settings),
            **data_dir_env(settings),
            **home,
            **_run_ticket_env(secrets),
        },
        "cwd": str(settings.state_dir),
        # the user's OAuth token may open dashboards and use the registry in their name
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [DASHBOARDS_ACCESS_SCOPE, REGISTRY_ACCESS_SCOPE],
    }


@dataclass(frozen=True)
class GatewayInstance:
    """One dask-gateway-server of the hub: its service name, backend target and ports.

    dask-gateway-server runs one backend per process, so Slurm profiles on a hub whose Dask
    clusters are otherwise local processes get a second gateway (``dask-gateway-slurm``).
    """

    service: str
    target: str
    api_port: int
    http_port: int
    tcp_port: int
    front_port: int

    @property
    def prefix(self) -> str:
        return service_prefix(self.service)

    @property
    def access_scope(self) -> str:
        return access_scope(self.service)

    @property
    def server_service(self) -> str:
        """The hub service that runs dask-gateway-server (no route: the front has it)."""
        return f"{self.service}-server"  # GATEWAY_SERVER_SERVICE for the main gateway


def gateway_instances(settings: Settings) -> list[GatewayInstance]:
    """The gateways the hub runs: the main one (TWINHUB_DASK_BACKEND), plus a Slurm one for
    Slurm profiles (TWINHUB_SLURM=1) when the main one is not on Slurm already."""
    main = GatewayInstance(
        GATEWAY_SERVICE,
        settings.dask_backend,
        settings.gateway_api_port,
        settings.gateway_http_port,
        settings.gateway_tcp_port,
        settings.gateway_front_port,
    )
    if not settings.slurm_profiles or settings.dask_backend == "slurm":
        return [main]
    slurm = GatewayInstance(
        SLURM_GATEWAY_SERVICE,
        "slurm",
        settings.gateway_slurm_api_port,
        settings.gateway_slurm_http_port,
        settings.gateway_slurm_tcp_port,
        settings.gateway_slurm_front_port,
    )
    return [main, slurm]


def gateway_instance(settings: Settings, service: str = GATEWAY_SERVICE) -> GatewayInstance:
    """The hub's gateway called ``service`` (its name as a hub service)."""
    for instance in gateway_instances(settings):
        if instance.service == service:
            return instance
    names = ", ".join(i.service for i in gateway_instances(settings))
    raise ValueError(f"{GATEWAY_INSTANCE_ENV}={service!r}: this hub runs the gateways {names}")


def slurm_gateway(settings: Settings) -> GatewayInstance | None:
    """The gateway whose Dask clusters are Slurm jobs, if the hub runs one."""
    return next((i for i in gateway_instances(settings) if i.target == "slurm"), None)


def gateway_api_url(settings: Settings, instance: GatewayInstance) -> str:
    """A gateway's HTTP proxy (API and dashboards, with its prefix) as the hub reaches it
    (where TWINHUB_HUB_BIND_IP makes it listen)."""
    return f"http://{settings.hub_local_host}:{instance.http_port}{instance.prefix}"


def dask_gateway_service(
    settings: Settings, secrets: Secrets, instance: GatewayInstance | None = None
) -> dict:
    """dask-gateway-server, started and stopped by the hub; reached through its front only.

    It has no route of its own in the hub's proxy: ``/services/<name>/`` goes to the front
    (:func:`gateway_front_service`), which forwards to the gateway's HTTP proxy. User servers
    and Slurm jobs still speak to that proxy directly (``DASK_GATEWAY__ADDRESS``).
    """
    instance = instance or gateway_instance(settings)
    service = {
        "name": instance.server_service,
        **_start_timeout(),
        "display": False,
        "command": [
            str(settings.venv_bin / "dask-gateway-server"),
            "--config",
            str(REPO_ROOT / "hub" / "dask_gateway_config.py"),
        ],
        "environment": {
            **settings.to_env(),
            GATEWAY_INSTANCE_ENV: instance.service,
            # each scheduler gets its cluster's dashboard key derived from it
            DASHBOARD_SECRET_ENV: secrets.dashboard_secret,
        },
        "cwd": str(settings.state_dir),
    }
    if instance.service == GATEWAY_SERVICE:
        service["api_token"] = secrets.gateway_api_token
    # other gateways get a token the hub generates at each start
    return service


def gateway_front_service(
    settings: Settings, secrets: Secrets, instance: GatewayInstance | None = None
) -> dict:
    """The gateway as the hub routes it (``/services/<name>/``): its API passed through,
    cluster dashboards behind hub login for their owners only (extensions/gateway_front/).

    It carries the gateway's service name, so the scope users already hold for the gateway
    (``access:services!service=<name>``) is also what lets them log in to its dashboards.
    It alone adds the clusters' dashboard keys, without which schedulers refuse dashboard
    requests (the gateway's own HTTP port and the schedulers' ports are on loopback, open to
    every local account).
    """
    instance = instance or gateway_instance(settings)
    return {
        "name": instance.service,
        **_start_timeout(),
        "display": False,
        "url": f"http://127.0.0.1:{instance.front_port}",
        "command": [sys.executable, "-m", "twinhub.extensions.gateway_front"],
        "environment": {
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            UPSTREAM_ENV: f"http://{settings.hub_local_host}:{instance.http_port}",
            DASHBOARD_SECRET_ENV: secrets.dashboard_secret,
        },
        # it only forwards HTTP, with the user's login: no root needed
        **_as_platform_account(settings),
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [instance.access_scope],
    }


def idle_culler_service(settings: Settings) -> dict:
    """jupyterhub-idle-culler: stops servers idle longer than TWINHUB_CULL_TIMEOUT, through the
    hub's API only (no root needed: the platform's account runs it on a root platform)."""
    every = max(10, min(600, settings.cull_timeout // 6))
    return {
        "name": CULLER_SERVICE,
        "display": False,
        **_as_platform_account(settings),
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
        registry_service(settings, secrets),
        executor_service(settings),
        dashboards_service(settings, secrets),
        *(dask_gateway_service(settings, secrets, g) for g in gateway_instances(settings)),
        *(gateway_front_service(settings, secrets, g) for g in gateway_instances(settings)),
        idle_culler_service(settings),
    ]


def launcher_service(secrets: Secrets) -> dict:
    """The launcher (hub/launch.py) as a hub service without a process or URL: only a token,
    so that it can ask the hub to re-add every route to a proxy it has just restarted."""
    return {"name": LAUNCHER_SERVICE, "display": False, "api_token": secrets.launcher_api_token}


def launcher_role() -> dict:
    """The launcher's only right: ``POST /hub/api/proxy`` (the hub's route check, now)."""
    return {
        "name": LAUNCHER_SERVICE,
        "description": "Re-sync the routes of a restarted proxy",
        "scopes": ["proxy"],
        "services": [LAUNCHER_SERVICE],
    }


def roles(settings: Settings, *, culler: bool = True) -> list[dict]:
    """RBAC roles: users (and their servers' tokens) may use the gateway and the registry;
    admins and the twin-maintainers group may write to the registry; the culler may cull.

    ``culler=False`` leaves out the role of our ``idle-culler`` service, for hubs that run
    their own (the z2jh chart's ``jupyterhub-idle-culler``, with its own role).
    """
    gateways = [i.access_scope for i in gateway_instances(settings)]
    culler_role = {
        "name": CULLER_SERVICE,
        "description": "Stop idle servers",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": [CULLER_SERVICE],
    }
    return [
        {
            "name": "user",
            "description": "Standard user privileges, plus Dask clusters and the twin registry",
            "scopes": [
                "self",
                *gateways,
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
                *gateways,
                REGISTRY_ACCESS_SCOPE,
            ],
        },
        {
            # the dashboard router reads a twin's infrastructure profile (where Slurm is
            # enabled, a profile with Slurm resources makes the twin's dashboard a job)
            "name": DASHBOARDS_SERVICE,
            "description": "Read infrastructure profiles from the twin registry",
            "scopes": [REGISTRY_ACCESS_SCOPE],
            "services": [DASHBOARDS_SERVICE],
        },
        *([culler_role] if culler else []),
    ]


def user_dask_environment(
    settings: Settings, instance: GatewayInstance | None = None
) -> dict[str, str]:
    """Environment of user servers: Dask Gateway's client config (``dask_gateway.Gateway()``),
    for the main gateway or ``instance`` (the Slurm one, for Slurm profiles)."""
    instance = instance or gateway_instance(settings)
    host = settings.connect_host
    return {
        # inside a server, talk to the gateway directly (no extra hop through the public proxy)
        "DASK_GATEWAY__ADDRESS": f"http://{host}:{instance.http_port}{instance.prefix}",
        "DASK_GATEWAY__PROXY_ADDRESS": f"gateway://{host}:{instance.tcp_port}",
        # dashboard links handed to the browser go through the hub's public URL
        "DASK_GATEWAY__PUBLIC_ADDRESS": f"{settings.url}{instance.prefix}",
        "DASK_GATEWAY__AUTH__TYPE": "jupyterhub",
        # a LocalCluster started in a notebook shows its dashboard through jupyter-server-proxy
        "DASK_DISTRIBUTED__DASHBOARD__LINK": "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status",
    }


def registry_api_url(settings: Settings) -> str:
    """The registry's API as the hub and its services reach it (directly, on loopback)."""
    return settings.registry_api_url


def server_registry_api_url(settings: Settings) -> str:
    """The registry's API as user servers reach it: directly on one machine; through the
    hub's public proxy when servers may run on other nodes (TWINHUB_HUB_CONNECT_HOST); the
    same URL as the dashboards' Slurm jobs (``Settings.jobs_registry_api_url``)."""
    return settings.jobs_registry_api_url


def hub_network_config(settings: Settings) -> dict[str, str]:
    """``JupyterHub.hub_bind_url`` and, for jobs on other nodes, ``hub_connect_url``."""
    network = {"hub_bind_url": f"http://{settings.hub_bind_ip}:{settings.hub_port}"}
    if settings.hub_connect_host:
        network["hub_connect_url"] = f"http://{settings.connect_host}:{settings.hub_port}"
    return network
