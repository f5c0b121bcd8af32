# dask-gateway-server configuration of the embedded twinhub gateway.
#
# Started by JupyterHub as the managed service `dask-gateway` (see hub/services.py), which
# hands it JUPYTERHUB_API_TOKEN/URL and the TWINHUB_* settings. Users authenticate with their
# hub token; clusters run as local processes of the gateway (UnsafeLocalBackend: one machine,
# one operator account). Kubernetes uses the dask-gateway Helm chart instead (hub/helm/).
from twinhub.hub.gateway_options import cluster_options
from twinhub.hub.services import GATEWAY_PREFIX, GATEWAY_SERVICE
from twinhub.hub.settings import Settings
from twinhub.hub.state import ensure_secrets
from twinhub.hub.targets import dask_backend_config

c = get_config()  # noqa: F821 - provided by dask-gateway-server when it loads this file

settings = Settings.from_env()

# API server (internal) and the HTTP/TCP proxies: dashboards and API behind the hub's proxy
c.DaskGateway.address = f"127.0.0.1:{settings.gateway_api_port}"
c.Proxy.address = f"127.0.0.1:{settings.gateway_http_port}"
c.Proxy.tcp_address = f"127.0.0.1:{settings.gateway_tcp_port}"
c.Proxy.prefix = GATEWAY_PREFIX

c.DaskGateway.authenticator_class = "dask_gateway_server.auth.JupyterHubAuthenticator"
# tokens need access:services!service=dask-gateway (granted by the hub's roles)
c.JupyterHubAuthenticator.jupyterhub_service_name = GATEWAY_SERVICE

# where schedulers and workers run (local processes, Slurm jobs): TWINHUB_DASK_BACKEND
c.merge(dask_backend_config(settings))

# the `dask` CLI of the hub's environment (the old dask-scheduler/dask-worker are gone)
dask = str(settings.venv_bin / "dask")
c.ClusterConfig.scheduler_cmd = [dask, "scheduler"]
c.ClusterConfig.worker_cmd = [dask, "worker"]

# limits per cluster, and the options users may set within them
c.ClusterConfig.cluster_max_workers = settings.dask_max_workers
c.ClusterConfig.cluster_max_cores = settings.dask_max_workers * settings.dask_max_worker_cores
c.ClusterConfig.cluster_max_memory = int(
    settings.dask_max_workers * settings.dask_max_worker_memory_gib * 2**30
)
c.ClusterConfig.idle_timeout = settings.dask_idle_timeout
c.Backend.cluster_options = cluster_options(settings)

# clusters outlive a crash of the gateway (it dies with the hub): their records, with the TLS
# credentials encrypted by a secret of the state directory, are in a database file, so the
# gateway the restarted hub starts re-attaches them (hub/launch.py, docs/operations.md). A clean
# stop (Ctrl-C) still stops every cluster (stop_clusters_on_shutdown keeps its default, True).
_gateway_dir = settings.state_dir / "dask-gateway"
_gateway_dir.mkdir(mode=0o700, exist_ok=True)
c.DBBackendBase.db_url = f"sqlite:///{_gateway_dir / 'gateway.sqlite'}"
c.DBBackendBase.db_encrypt_keys = [ensure_secrets(settings.state_dir).gateway_db_key]
