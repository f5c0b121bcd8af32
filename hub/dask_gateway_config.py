# dask-gateway-server configuration of the embedded twinhub gateway.
#
# Started by JupyterHub as a managed service (see hub/services.py), which hands it
# JUPYTERHUB_API_TOKEN/URL, the TWINHUB_* settings and TWINHUB_GATEWAY_SERVICE: the hub runs
# `dask-gateway` (backend of TWINHUB_DASK_BACKEND) and, for Slurm profiles on a hub whose
# clusters are otherwise local (TWINHUB_SLURM=1), `dask-gateway-slurm`; this file configures
# either. Users authenticate with their hub token. Local clusters are processes of the gateway
# (UnsafeLocalBackend, schedulers forked from a warm process:
# extensions/gateway_backends/prefork.py).
# Kubernetes uses the dask-gateway Helm chart instead (hub/helm/).
import os

from twinhub.contracts.settings import Settings
from twinhub.extensions.gateway_backends.quotas import with_user_quotas
from twinhub.hub.gateway_options import cluster_limits, cluster_options
from twinhub.hub.services import GATEWAY_INSTANCE_ENV, GATEWAY_SERVICE, gateway_instance
from twinhub.hub.state import ensure_secrets, state_dir_mode
from twinhub.hub.targets import dask_backend_config

c = get_config()  # noqa: F821 - provided by dask-gateway-server when it loads this file

settings = Settings.from_env()
instance = gateway_instance(settings, os.environ.get(GATEWAY_INSTANCE_ENV) or GATEWAY_SERVICE)

# API server (internal) and the HTTP/TCP proxies: dashboards and API behind the hub's proxy;
# the proxies listen where jobs on other nodes can reach them (TWINHUB_HUB_BIND_IP)
c.DaskGateway.address = f"127.0.0.1:{instance.api_port}"
c.Proxy.address = f"{settings.hub_bind_ip}:{instance.http_port}"
c.Proxy.tcp_address = f"{settings.hub_bind_ip}:{instance.tcp_port}"
c.Proxy.prefix = instance.prefix

c.DaskGateway.authenticator_class = "dask_gateway_server.auth.JupyterHubAuthenticator"
# tokens need access:services!service=<this gateway> (granted by the hub's roles)
c.JupyterHubAuthenticator.jupyterhub_service_name = instance.service

# where schedulers and workers run (local processes, Slurm jobs)
c.merge(dask_backend_config(settings, instance.target))
if settings.hub_connect_host:
    # schedulers in jobs on other nodes send their heartbeats here
    c.DBBackendBase.api_url = (
        f"http://{settings.connect_host}:{instance.http_port}{instance.prefix}/api"
    )

# --- per-user quotas across all of a user's clusters, whatever the backend
# (extensions/gateway_backends/quotas.py):
# a user's N+1th cluster, or one past their cores/memory, is refused with the limit named
c.DaskGateway.backend_class = with_user_quotas(c.DaskGateway.backend_class)
c.UserQuotas.max_clusters_per_user = settings.dask_max_clusters_per_user
c.UserQuotas.max_cores_per_user = settings.dask_max_cores_per_user
c.UserQuotas.max_memory_per_user = int(settings.dask_max_memory_per_user_gib * 2**30)
# the user's running jobs (the run executor's) count in the same budget
c.UserQuotas.registry_db_url = settings.registry_db_url
c.UserQuotas.job_workers = settings.executor_workers

# the `dask` CLI of the twin runtime (the old dask-scheduler/dask-worker are gone): workers run
# twins' tasks, and the scheduler unpickles the graphs users submit, so both need the twins'
# code and science stack, which the gateway's own (platform) environment does not hold
dask = str(settings.twin_bin / "dask")
c.ClusterConfig.scheduler_cmd = [dask, "scheduler"]
c.ClusterConfig.worker_cmd = [dask, "worker"]

# limits per cluster, and the options users may set within them
c.merge(cluster_limits(settings))  # the scheduler counted in, so max_workers fit
c.ClusterConfig.idle_timeout = settings.dask_idle_timeout
c.Backend.cluster_options = cluster_options(settings)

# clusters outlive a crash of the gateway (it dies with the hub): their records, with the TLS
# credentials encrypted by a secret of the state directory, are in a database file, so the
# gateway the restarted hub starts re-attaches them (hub/launch.py, docs/operations.md). A clean
# stop (Ctrl-C) still stops every cluster (stop_clusters_on_shutdown keeps its default, True).
# users' accounts pass through (0711) to their clusters' folders; the database file is 0600
_gateway_dir = settings.state_dir / "dask-gateway"
_gateway_dir.mkdir(mode=state_dir_mode(), exist_ok=True)
_gateway_dir.chmod(state_dir_mode())
c.DBBackendBase.db_url = settings.gateway_db_url  # the run executor reads it too (quotas)
c.DBBackendBase.db_encrypt_keys = [ensure_secrets(settings.state_dir).gateway_db_key]
