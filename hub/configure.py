"""The hub's wiring, written once: ``configure(c, settings)``.

``hub/jupyterhub_config.py`` (the embedded gateway, ``make up``) and the Helm chart's
``hub.extraConfig`` (``hub/helm/jupyterhub-values.yaml``) both call :func:`configure` and
nothing else, the way one ``install_jhub_apps(c, ...)`` call wires jhub-apps into a hub. What
differs between the two is chosen by ``TWINHUB_DEPLOYMENT`` (``embedded`` or ``kubernetes``),
not written twice:

- shared: the database, who may log in, the twin spawn hooks (profile and twin from the
  registry), the registry's and dashboards' services, scopes and roles, the landing page;
- embedded: the network on loopback, the proxy run by the launcher, where servers run
  (TWINHUB_SPAWNER: local processes or Slurm jobs), the Dask Gateways, the idle culler and
  the launcher's token, all as hub services;
- kubernetes: the z2jh chart runs the proxy, KubeSpawner, dask-gateway and the idle culler;
  the registry and the dashboards run in the hub pod and the proxy pod reaches them through
  the hub's Service.
"""

from __future__ import annotations

import os

from traitlets.config import Config
from twinhub.contracts.settings import REPO_ROOT, Settings
from twinhub.extensions.spawn import TwinSpawnHooks

from .auth import auth_config
from .frontpage import landing_url
from .proxy import hub_proxy_config
from .registry_status import RegistryStatus
from .services import (
    custom_scopes,
    dashboards_service,
    data_dir_env,
    gateway_api_url,
    gateway_instances,
    hub_network_config,
    launcher_role,
    launcher_service,
    managed_services,
    registry_api_url,
    registry_service,
    roles,
    server_registry_api_url,
    slurm_gateway,
    user_dask_environment,
)
from .state import Secrets, ensure_secrets
from .targets import spawner_config

KUBERNETES_GATEWAY_URL = "http://proxy-public/services/dask-gateway"
"""The chart's dask-gateway as user pods reach it (through the proxy's Service)."""


def configure(c: Config, settings: Settings) -> None:
    """Wire twinhub into the hub configuration ``c`` (JupyterHub's ``get_config()``)."""
    secrets = ensure_secrets(settings.state_dir)
    c.JupyterHub.db_url = settings.hub_db_url
    # who may log in: a generated password on one machine, OIDC where configured
    c.merge(auth_config(settings, secrets))
    # after login (and at /hub/) people land on the Twins page, twins first; next= still wins
    c.JupyterHub.default_url = landing_url
    c.JupyterHub.custom_scopes = custom_scopes()
    if settings.deployment == "kubernetes":
        _configure_kubernetes(c, settings, secrets)
    else:
        _configure_embedded(c, settings, secrets)


IN_CLUSTER_ENV = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "POD_NAMESPACE")
"""What a managed service of the hub pod needs to call the API server (JupyterHub passes
services only the environment it is given)."""


def _configure_kubernetes(c: Config, settings: Settings, secrets: Secrets) -> None:
    """In the z2jh chart's hub pod, after the chart's own configuration (the secrets live on
    the hub pod's volume, as on one machine)."""
    in_pod = f"http://hub:{settings.registry_port}"
    registry = registry_service(settings, secrets)
    registry["url"] = in_pod
    # every twin's dashboard behind hub login (SaaS), with its own LocalCluster in the pod
    dashboards = dashboards_service(settings, secrets)
    dashboards["url"] = f"http://hub:{settings.dashboards_port}"
    # the router starts each twin's dashboard as a pod (extensions/dashboards/pods.py) with the
    # hub pod's service account: the API server's address and the namespace from the pod
    dashboards["environment"].update({k: os.environ[k] for k in IN_CLUSTER_ENV if k in os.environ})
    c.JupyterHub.services.extend([registry, dashboards])
    # the chart's roles (its jupyterhub-idle-culler) stay; ours join them
    c.JupyterHub.load_roles.extend(roles(settings, culler=False))
    hooks = TwinSpawnHooks(
        config=c,
        registry_url=registry_api_url(settings),
        server_registry_url=f"{in_pod}/services/twinhub/api",
        gateway_url=KUBERNETES_GATEWAY_URL,
        kubernetes=True,
        # one user cannot hold every one of the hub's concurrent spawn slots
        spawns_per_user=settings.spawns_per_user,
    )
    c.KubeSpawner.profile_list = hooks.profile_list
    c.KubeSpawner.pre_spawn_hook = hooks.pre_spawn_hook
    c.KubeSpawner.post_stop_hook = hooks.post_stop_hook


def _configure_embedded(c: Config, settings: Settings, secrets: Secrets) -> None:
    """One machine (``make up``): the launcher runs the proxy; the hub runs everything else."""
    state = settings.state_dir
    # --- network: public proxy, hub API, proxy API (all internal parts on loopback) ---------
    c.JupyterHub.bind_url = f"http://{settings.ip}:{settings.port}"
    # the hub API: loopback unless Slurm jobs on other nodes must reach it
    # (TWINHUB_HUB_BIND_IP, TWINHUB_HUB_CONNECT_HOST; docs/hpc.md)
    for trait, value in hub_network_config(settings).items():
        c.JupyterHub[trait] = value
    # the launcher (hub/launch.py) runs the proxy (TWINHUB_PROXY: configurable-http-proxy or
    # traefik) next to the hub, not under it, so that the proxy keeps routing to users' servers
    # while a crashed hub is restarted (as on z2jh)
    c.merge(hub_proxy_config(settings, secrets))

    # --- state: cookie secret and pid file in the state directory ---------------------------
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")

    # --- user servers: JupyterLab, one named server per twin --------------------------------
    # where they run (local processes, Slurm jobs) is the target chosen by TWINHUB_SPAWNER, or
    # per profile with TWINHUB_SLURM=1 (extensions/spawners/profile.py)
    c.merge(spawner_config(settings))
    # from the twin runtime (TWINHUB_TWIN_PYTHON: the twins' science stack), not the hub's
    # platform environment (docs/twin-runtimes.md)
    c.Spawner.cmd = [str(settings.twin_bin / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    # a hub run as root starts each server as the user's own unix account
    # (extensions/accounts.py), never as root; an ordinary account runs them as itself
    c.Spawner.environment = {
        # the user's own environment (the twin runtime) comes first on PATH for terminals, kernels
        "PATH": f"{settings.twin_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        # our Jupyter server/lab settings for every user server (hub/singleuser/)
        "JUPYTER_CONFIG_PATH": str(REPO_ROOT / "hub" / "singleuser"),
        **user_dask_environment(settings),
        # where the catalogs find the built demo data (`make data`), whatever the server's cwd
        **data_dir_env(settings),
    }
    # a server slowed by busy cores is not a hung one: at load 12-14 (a 100-user round on 2
    # cores) the old 90 s http_timeout failed 1 of 100 spawns; docs/performance.md ("Many
    # users") has the measured start times these bounds are chosen from
    c.Spawner.start_timeout = settings.spawn_start_timeout
    c.Spawner.http_timeout = settings.spawn_http_timeout
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = 10
    c.JupyterHub.cleanup_servers = True
    # bounded load: spawns beyond the limits are refused with 429 + Retry-After (the spawn page
    # and API clients retry), never an error; see README "Performance" for the numbers
    c.JupyterHub.concurrent_spawn_limit = settings.concurrent_spawn_limit
    c.JupyterHub.active_server_limit = settings.active_server_limit

    # --- what a server runs: profile and twin chosen from the registry (form or user_options)
    gateways = gateway_instances(settings)
    slurm_dask = slurm_gateway(settings)
    hooks = TwinSpawnHooks(
        config=c,
        registry_url=registry_api_url(settings),
        server_registry_url=server_registry_api_url(settings),
        gateway_url=gateway_api_url(settings, gateways[0]),
        gateways={g.service: gateway_api_url(settings, g) for g in gateways[1:]},
        kubernetes=False,
        # Slurm profiles (hpc-slurm): servers as jobs, Dask on the gateway whose workers are jobs
        slurm=settings.slurm_enabled,
        slurm_environment=user_dask_environment(settings, slurm_dask) if slurm_dask else {},
        # one user cannot hold every one of the hub's concurrent spawn slots
        spawns_per_user=settings.spawns_per_user,
    )
    c.Spawner.options_form = hooks.options_form
    c.Spawner.options_from_form = hooks.options_from_form
    c.Spawner.pre_spawn_hook = hooks.pre_spawn_hook
    c.Spawner.post_stop_hook = hooks.post_stop_hook
    # the Twins page is linked from the hub's nav bar (hub/templates/page.html); the nav bar
    # and the proxy's 503 page say so when the registry does not answer (registry_status.py)
    c.JupyterHub.template_paths = [str(REPO_ROOT / "hub" / "templates")]
    c.JupyterHub.template_vars = {
        "twinhub_registry_up": RegistryStatus(f"{registry_api_url(settings)}/health"),
    }

    # --- services: registry, run executor, dashboards, Dask Gateways, idle culler, started and
    # stopped with the hub; and the launcher, which restarts a dead proxy and re-adds routes
    c.JupyterHub.services = [*managed_services(settings, secrets), launcher_service(secrets)]
    c.JupyterHub.load_roles = [*roles(settings), launcher_role()]
    c.JupyterHub.log_datefmt = "%H:%M:%S"
