"""The hub and gateway config files load as JupyterHub and dask-gateway load them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from oauthenticator.generic import GenericOAuthenticator
from traitlets.config.loader import PyFileConfigLoader
from twinhub.contracts.settings import REPO_ROOT, Settings
from twinhub.hub.gateway_options import cluster_options
from twinhub.hub.services import GATEWAY_ACCESS_SCOPE, roles


def load(name: str, monkeypatch, tmp_path: Path, **env: str):
    monkeypatch.setenv("TWINHUB_STATE_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return PyFileConfigLoader(name, path=str(REPO_ROOT / "hub")).load_config()


def test_default_hub_uses_a_generated_shared_password(monkeypatch, tmp_path: Path) -> None:
    c = load("jupyterhub_config.py", monkeypatch, tmp_path)
    assert issubclass(c.JupyterHub.authenticator_class, SharedPasswordAuthenticator)
    password = (tmp_path / "secrets" / "user_password").read_text().strip()
    assert c.SharedPasswordAuthenticator.user_password == password
    assert c.Authenticator.admin_users == {"admin"}
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    assert c.JupyterHub.allow_named_servers is True
    assert c.Spawner.default_url == "/lab"
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert list(services) == [
        "twinhub", "twinhub-executor", "twinhub-apps", "dask-gateway-server", "dask-gateway",
        "idle-culler", "twinhub-launcher",
    ]  # fmt: skip
    assert "--timeout=3600" in services["idle-culler"]["command"]
    # the hub routes the gateway's prefix to its front (dashboards for their owners only);
    # dask-gateway-server itself has no route
    assert services["dask-gateway"]["url"] == "http://127.0.0.1:8008"
    assert services["dask-gateway"]["environment"]["TWINHUB_GATEWAY_UPSTREAM"] == (
        "http://127.0.0.1:8003"
    )
    assert "url" not in services["dask-gateway-server"]
    # the launcher's token may only re-sync the proxy's routes
    (launcher,) = [r for r in c.JupyterHub.load_roles if r["name"] == "twinhub-launcher"]
    assert launcher["scopes"] == ["proxy"] and launcher["services"] == ["twinhub-launcher"]


def test_oidc_variables_switch_to_generic_oauth(monkeypatch, tmp_path: Path) -> None:
    c = load(
        "jupyterhub_config.py",
        monkeypatch,
        tmp_path,
        TWINHUB_OIDC_CLIENT_ID="twinhub",
        TWINHUB_OIDC_CLIENT_SECRET="from-a-secret-store",
        TWINHUB_OIDC_ISSUER="https://aai.egi.eu/auth/realms/egi",
        TWINHUB_OIDC_ALLOWED_GROUPS="vo.twin.eu",
        TWINHUB_PUBLIC_URL="https://twins.example.org",
    )
    oidc = c.GenericOAuthenticator
    assert issubclass(c.JupyterHub.authenticator_class, GenericOAuthenticator)
    assert oidc.client_secret == "from-a-secret-store"
    assert oidc.token_url == "https://aai.egi.eu/auth/realms/egi/protocol/openid-connect/token"
    assert oidc.oauth_callback_url == "https://twins.example.org/hub/oauth_callback"
    assert oidc.allowed_groups == {"vo.twin.eu"}
    assert "SharedPasswordAuthenticator" not in c


def test_gateway_config_sets_the_dask_cli_and_the_hub_prefix(monkeypatch, tmp_path) -> None:
    c = load("dask_gateway_config.py", monkeypatch, tmp_path, TWINHUB_DASK_MAX_WORKERS="3")
    assert c.Proxy.prefix == "/services/dask-gateway"
    assert c.ClusterConfig.scheduler_cmd[-1] == "scheduler"
    assert Path(c.ClusterConfig.scheduler_cmd[0]).name == "dask"
    assert c.ClusterConfig.cluster_max_workers == 3
    assert c.JupyterHubAuthenticator.jupyterhub_service_name == "dask-gateway"


def test_users_and_their_servers_may_use_the_gateway() -> None:
    by_name = {r["name"]: r for r in roles(Settings.from_env({}))}
    assert GATEWAY_ACCESS_SCOPE in by_name["user"]["scopes"]
    assert GATEWAY_ACCESS_SCOPE in by_name["server"]["scopes"]
    assert all(len(name) >= 3 for name in by_name)


def test_cluster_options_enforce_the_limits() -> None:
    options = cluster_options(Settings.from_env({"TWINHUB_DASK_MAX_WORKER_CORES": "2"}))
    parsed = options.parse_options({"worker_cores": 2, "worker_memory": 1.5})
    config = options.get_configuration(parsed, user=None)
    assert config["worker_memory"] == int(1.5 * 2**30)
    with pytest.raises(ValueError, match="worker_cores must be <= 2"):
        options.parse_options({"worker_cores": 3})
    with pytest.raises(ValueError, match="Unknown fields"):
        options.parse_options({"gpus": 1})


def test_traefik_proxy_is_the_launchers_with_the_generated_credentials(
    monkeypatch, tmp_path: Path
) -> None:
    """TWINHUB_PROXY=traefik: the hub writes traefik's rules file in the state directory and
    talks to the API the launcher's traefik serves on loopback; it never starts traefik."""
    from jupyterhub.app import JupyterHub
    from jupyterhub_traefik_proxy.fileprovider import TraefikFileProviderProxy

    c = load("jupyterhub_config.py", monkeypatch, tmp_path, TWINHUB_PROXY="traefik")
    assert c.JupyterHub.proxy_class == "traefik_file"
    assert JupyterHub(config=c).proxy_class is TraefikFileProviderProxy
    proxy = c.TraefikFileProviderProxy
    assert proxy.should_start is False
    assert proxy.traefik_api_url == "http://127.0.0.1:8001"
    assert proxy.traefik_api_password == (
        (tmp_path / "secrets" / "proxy_auth_token").read_text().strip()
    )
    assert proxy.dynamic_config_file == str(tmp_path / "traefik" / "rules.toml")
    assert "ConfigurableHTTPProxy" not in c


def test_spawn_timeouts_leave_room_for_busy_cores_and_are_settings(monkeypatch, tmp_path) -> None:
    """Issue 19 section 3: the old 90 s http_timeout failed a slow (not hung) server in a crowd."""
    c = load("jupyterhub_config.py", monkeypatch, tmp_path)
    assert c.Spawner.http_timeout == Settings().spawn_http_timeout >= 300
    assert c.Spawner.start_timeout == Settings().spawn_start_timeout >= 300
    c = load(
        "jupyterhub_config.py",
        monkeypatch,
        tmp_path,
        TWINHUB_SPAWN_HTTP_TIMEOUT="450",
        TWINHUB_SPAWN_START_TIMEOUT="200",
    )
    assert (c.Spawner.http_timeout, c.Spawner.start_timeout) == (450, 200)


def test_what_runs_twin_code_starts_from_the_twin_runtime(monkeypatch, tmp_path: Path) -> None:
    """Users' servers (local and Slurm), Dask schedulers and workers (stock, forked and in
    Slurm jobs) start from the twin runtime (TWINHUB_TWIN_PYTHON, `make up`: .venv); the
    services from the hub's own environment, the platform's (issue 17 section 2)."""
    twin = tmp_path / "twin-runtime" / "bin"
    env = {"TWINHUB_TWIN_PYTHON": str(twin / "python"), "TWINHUB_SLURM": "1"}
    hub = load("jupyterhub_config.py", monkeypatch, tmp_path, **env)
    assert hub.Spawner.cmd == [str(twin / "jupyterhub-singleuser")]
    assert hub.Spawner.environment["PATH"].startswith(f"{twin}:")
    slurm_server = hub.TwinhubSlurmSpawner.batchspawner_singleuser_cmd
    assert slurm_server == str(twin / "batchspawner-singleuser")
    services = {s["name"]: s for s in hub.JupyterHub.services}
    for name in ("twinhub", "twinhub-executor", "twinhub-apps", "dask-gateway", "idle-culler"):
        assert services[name]["command"][0] == sys.executable, name
    assert services["dask-gateway-server"]["command"][0] == str(
        Path(sys.executable).parent / "dask-gateway-server"
    )
    gateway = load("dask_gateway_config.py", monkeypatch, tmp_path, **env)
    assert gateway.ClusterConfig.scheduler_cmd == [str(twin / "dask"), "scheduler"]
    assert gateway.ClusterConfig.worker_cmd == [str(twin / "dask"), "worker"]
    assert gateway.PreforkLocalBackend.zygote_python == str(twin / "python")
    env["TWINHUB_DASK_BACKEND"] = "slurm"
    gateway = load("dask_gateway_config.py", monkeypatch, tmp_path, **env)
    launcher = gateway.TwinhubSlurmBackend.dask_gateway_jobqueue_launcher
    assert launcher == str(twin / "dask-gateway-jobqueue-launcher")
