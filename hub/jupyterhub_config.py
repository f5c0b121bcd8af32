# JupyterHub configuration of the embedded twinhub gateway (one machine, `make up`).
#
# Every value an operator may change comes from a TWINHUB_* environment variable: run
# `python -m twinhub.contracts.settings` to list them with their current values. Secrets are
# generated on first start under $TWINHUB_STATE_DIR/secrets (mode 0600), never stored in git.
#
# The Kubernetes deployment (hub/helm/) reuses the same services, roles and spawn hooks.
import os

from twinhub.contracts.settings import REPO_ROOT, Settings
from twinhub.extensions.spawn import TwinSpawnHooks
from twinhub.hub.auth import auth_config
from twinhub.hub.frontpage import landing_url
from twinhub.hub.proxy import hub_proxy_config
from twinhub.hub.registry_status import RegistryStatus
from twinhub.hub.services import (
    custom_scopes,
    data_dir_env,
    gateway_api_url,
    gateway_instances,
    hub_network_config,
    launcher_role,
    launcher_service,
    managed_services,
    registry_api_url,
    roles,
    server_registry_api_url,
    slurm_gateway,
    user_dask_environment,
)
from twinhub.hub.state import ensure_secrets
from twinhub.hub.targets import spawner_config

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

settings = Settings.from_env()
secrets = ensure_secrets(settings.state_dir)
state = settings.state_dir

# --- network: public proxy, hub API, proxy API (all internal parts on loopback) ---------------
c.JupyterHub.bind_url = f"http://{settings.ip}:{settings.port}"
# the hub API: loopback unless Slurm jobs on other nodes must reach it (TWINHUB_HUB_BIND_IP,
# TWINHUB_HUB_CONNECT_HOST; docs/hpc.md)
for trait, value in hub_network_config(settings).items():
    c.JupyterHub[trait] = value
# the launcher (hub/launch.py) runs the proxy (TWINHUB_PROXY: configurable-http-proxy or traefik)
# next to the hub, not under it, so that the proxy keeps routing to users' servers while a
# crashed hub is restarted (as on z2jh)
c.merge(hub_proxy_config(settings, secrets))

# --- state: database and cookie secret in the state directory ----------------------------------
c.JupyterHub.db_url = settings.hub_db_url
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")

# --- who may log in -------------------------------------------------------------------------------
c.merge(auth_config(settings, secrets))

# --- user servers: JupyterLab, one named server per twin -------------------------------------
# where they run (local processes, Slurm jobs) is the target chosen by TWINHUB_SPAWNER, or
# per profile with TWINHUB_SLURM=1 (hub/targets/profile_spawner.py)
c.merge(spawner_config(settings))
c.Spawner.cmd = [str(settings.venv_bin / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
# a hub run as root starts each server as the user's own unix account (hub/accounts.py), never
# as root; an ordinary account runs them as itself
c.Spawner.environment = {
    # the user's own environment (the hub's venv) comes first on PATH for terminals and kernels
    "PATH": f"{settings.venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    # our Jupyter server/lab settings for every user server (hub/singleuser/)
    "JUPYTER_CONFIG_PATH": str(REPO_ROOT / "hub" / "singleuser"),
    **user_dask_environment(settings),
    # where the catalogs find the built demo data (`make data`), whatever the server's cwd
    **data_dir_env(settings),
}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 10
c.JupyterHub.cleanup_servers = True
# bounded load: spawns beyond the limits are refused with 429 + Retry-After (the spawn page
# and API clients retry), never an error; see README "Performance" for the numbers behind them
c.JupyterHub.concurrent_spawn_limit = settings.concurrent_spawn_limit
c.JupyterHub.active_server_limit = settings.active_server_limit

# --- what a server runs: profile and twin chosen from the registry (form or user_options) -----
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
# the Twins page is linked from the hub's nav bar (hub/templates/page.html); the nav bar and
# the proxy's 503 page say so when the registry does not answer (hub/registry_status.py)
c.JupyterHub.template_paths = [str(REPO_ROOT / "hub" / "templates")]
# after login (and at /hub/) people land on the Twins page, twins first; next= still wins
c.JupyterHub.default_url = landing_url
c.JupyterHub.template_vars = {
    "twinhub_registry_up": RegistryStatus(f"{registry_api_url(settings)}/health"),
}

# --- services: registry, Dask Gateway and the idle culler, started and stopped with the hub ----
# ... and the launcher, which restarts a dead proxy and then asks the hub for its routes
c.JupyterHub.services = [*managed_services(settings, secrets), launcher_service(secrets)]
c.JupyterHub.custom_scopes = custom_scopes()
c.JupyterHub.load_roles = [*roles(settings), launcher_role()]

c.JupyterHub.log_datefmt = "%H:%M:%S"
