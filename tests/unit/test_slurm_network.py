"""Where jobs find the hub: bind and connect addresses come from TWINHUB_* settings, default
to loopback (one machine), and reach every generated piece of config for a multi-node cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader
from twinhub.contracts.settings import REPO_ROOT, Settings, SettingsError
from twinhub.extensions.gateway_backends.prefork import PreforkLocalBackend
from twinhub.extensions.gateway_backends.slurm import TwinhubSlurmBackend
from twinhub.extensions.gateway_front import UPSTREAM_ENV
from twinhub.hub.proxy import proxy_command

MULTI_NODE = {
    "TWINHUB_HUB_BIND_IP": "0.0.0.0",
    "TWINHUB_HUB_CONNECT_HOST": "hub.cluster",
    "TWINHUB_SLURM_JOB_BIND_IP": "0.0.0.0",
    "TWINHUB_PUBLIC_URL": "https://twins.example.org",
}


def load(name: str, monkeypatch, tmp_path: Path, **env: str):
    monkeypatch.setenv("TWINHUB_STATE_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return PyFileConfigLoader(name, path=str(REPO_ROOT / "hub")).load_config()


def test_defaults_keep_everything_on_loopback(monkeypatch, tmp_path: Path) -> None:
    env = {"TWINHUB_SPAWNER": "slurm", "TWINHUB_DASK_BACKEND": "slurm"}
    hub = load("jupyterhub_config.py", monkeypatch, tmp_path, **env)
    assert hub.JupyterHub.hub_bind_url == "http://127.0.0.1:8081"
    assert "hub_connect_url" not in hub.JupyterHub
    assert hub.TwinhubSlurmSpawner.bind_ip == "127.0.0.1"
    assert hub.Spawner.environment["DASK_GATEWAY__ADDRESS"].startswith("http://127.0.0.1:8003/")
    gateway = load("dask_gateway_config.py", monkeypatch, tmp_path, **env)
    assert gateway.Proxy.address == "127.0.0.1:8003"
    assert "api_url" not in gateway.DBBackendBase
    assert TwinhubSlurmBackend(config=gateway).default_host == "127.0.0.1"


def test_multi_node_settings_reach_hub_servers_and_schedulers(monkeypatch, tmp_path) -> None:
    env = {**MULTI_NODE, "TWINHUB_SPAWNER": "slurm", "TWINHUB_DASK_BACKEND": "slurm"}
    hub = load("jupyterhub_config.py", monkeypatch, tmp_path, **env)
    # the hub API listens on the cluster network; jobs call it back by the submit host's name
    assert hub.JupyterHub.hub_bind_url == "http://0.0.0.0:8081"
    assert hub.JupyterHub.hub_connect_url == "http://hub.cluster:8081"
    # servers listen on all interfaces; the hub connects to the node squeue names
    assert hub.TwinhubSlurmSpawner.bind_ip == ""
    env_of_servers = hub.Spawner.environment
    assert (
        env_of_servers["DASK_GATEWAY__ADDRESS"] == "http://hub.cluster:8003/services/dask-gateway"
    )
    assert env_of_servers["DASK_GATEWAY__PROXY_ADDRESS"] == "gateway://hub.cluster:8786"
    hooks = hub.Spawner.pre_spawn_hook.__self__
    assert hooks.server_registry_url == "https://twins.example.org/services/twinhub/api"
    # schedulers and workers listen on all interfaces and send heartbeats to the hub host
    gateway = load("dask_gateway_config.py", monkeypatch, tmp_path, **env)
    assert (gateway.Proxy.address, gateway.Proxy.tcp_address) == ("0.0.0.0:8003", "0.0.0.0:8786")
    assert gateway.DBBackendBase.api_url == "http://hub.cluster:8003/services/dask-gateway/api"
    assert TwinhubSlurmBackend(config=gateway).default_host == "0.0.0.0"


def test_slurm_profiles_gateway_gets_its_own_ports_and_the_same_addresses(
    monkeypatch, tmp_path: Path
) -> None:
    env = {**MULTI_NODE, "TWINHUB_SLURM": "1"}
    hub = load("jupyterhub_config.py", monkeypatch, tmp_path, **env)
    services = {s["name"]: s for s in hub.JupyterHub.services}
    slurm_gateway = services["dask-gateway-slurm-server"]
    assert slurm_gateway["environment"]["TWINHUB_GATEWAY_SERVICE"] == "dask-gateway-slurm"
    assert services["dask-gateway-slurm"]["url"] == "http://127.0.0.1:8009"  # its front
    assert "api_token" not in slurm_gateway  # the hub makes one at each start
    hooks = hub.Spawner.pre_spawn_hook.__self__
    assert hooks.slurm is True
    assert hooks.slurm_environment["DASK_GATEWAY__ADDRESS"] == (
        "http://hub.cluster:8007/services/dask-gateway-slurm"
    )
    assert hooks.gateways == {
        "dask-gateway-slurm": "http://127.0.0.1:8007/services/dask-gateway-slurm"
    }
    monkeypatch.setenv("TWINHUB_GATEWAY_SERVICE", "dask-gateway-slurm")
    gateway = load("dask_gateway_config.py", monkeypatch, tmp_path, **env)
    assert issubclass(gateway.DaskGateway.backend_class, TwinhubSlurmBackend)
    assert gateway.Proxy.prefix == "/services/dask-gateway-slurm"
    assert gateway.JupyterHubAuthenticator.jupyterhub_service_name == "dask-gateway-slurm"
    assert gateway.DBBackendBase.api_url == (
        "http://hub.cluster:8007/services/dask-gateway-slurm/api"
    )
    # the main gateway keeps local processes
    monkeypatch.setenv("TWINHUB_GATEWAY_SERVICE", "dask-gateway")
    main = load("dask_gateway_config.py", monkeypatch, tmp_path, **env)
    assert issubclass(main.DaskGateway.backend_class, PreforkLocalBackend)  # local, warm


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("TWINHUB_HUB_BIND_IP", "hub.cluster", "is not an IP address"),
        ("TWINHUB_SLURM_JOB_BIND_IP", "everywhere", "is not an IP address"),
        ("TWINHUB_HUB_CONNECT_HOST", "http://hub:8081", "without scheme or port"),
    ],
)
def test_bad_addresses_are_refused_naming_the_variable(var: str, value: str, message: str):
    with pytest.raises(SettingsError, match=f"{var}=.*{message}"):
        Settings.from_env({var: value})


def test_slurm_profiles_need_slurms_commands(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SettingsError, match="TWINHUB_SLURM=1 needs Slurm's client commands"):
        Settings.from_env({"TWINHUB_SLURM": "1"})


def test_hub_reaches_its_gateways_where_a_cluster_network_address_binds_them(
    monkeypatch, tmp_path: Path
) -> None:
    """With TWINHUB_HUB_BIND_IP set to one interface, nothing listens on loopback for the
    hub API or the gateways' proxies: the hub, its proxy and the spawn hooks dial that address
    (tests/hpc/test_multinode.py runs it for real)."""
    env = {"TWINHUB_SLURM": "1", "TWINHUB_HUB_BIND_IP": "10.251.0.1"}
    hub = load("jupyterhub_config.py", monkeypatch, tmp_path, **env)
    services = {s["name"]: s for s in hub.JupyterHub.services}
    # the hub's routes go to the gateways' fronts (on the hub's machine), which forward to the
    # gateways' HTTP proxies on the cluster network's address
    upstream = {
        name: s["environment"][UPSTREAM_ENV]
        for name, s in services.items()
        if UPSTREAM_ENV in s.get("environment", {})
    }
    assert upstream == {
        "dask-gateway": "http://10.251.0.1:8003",
        "dask-gateway-slurm": "http://10.251.0.1:8007",
    }
    hooks = hub.Spawner.pre_spawn_hook.__self__
    assert hooks.gateway_url == "http://10.251.0.1:8003/services/dask-gateway"
    assert proxy_command(Settings.from_env(env))[-3] == "http://10.251.0.1:8081/hub/error"
    # a wildcard bind is reached on loopback
    wildcard = load("jupyterhub_config.py", monkeypatch, tmp_path, TWINHUB_HUB_BIND_IP="0.0.0.0")
    (main,) = [s for s in wildcard.JupyterHub.services if s["name"] == "dask-gateway"]
    assert main["environment"][UPSTREAM_ENV] == "http://127.0.0.1:8003"
