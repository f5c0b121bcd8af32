"""The hub's ``extraConfig`` from our Helm values, run as the chart runs it in the hub pod.

In the hub pod the registry and the dashboard service are managed services that the proxy pod
reaches through the hub's Kubernetes Service: their URLs name that Service, yet each process
must listen on an address of its own pod, on a port the Service exposes and the network policy
lets in. No cluster is needed: the snippet is the chart's, the environment is the pod's.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from traitlets.config import Config
from twinhub.contracts.settings import REPO_ROOT, Settings, SettingsError
from twinhub.extensions.registry.config import RegistryConfig
from twinhub.extensions.run_tickets import SECRET_ENV as RUN_TICKET_SECRET_ENV
from twinhub.hub.configure import configure
from twinhub.hub.services import DASHBOARDS_SERVICE, REGISTRY_SERVICE, dashboards_service

VALUES = yaml.safe_load((REPO_ROOT / "hub" / "helm" / "jupyterhub-values.yaml").read_text())
Z2JH_CULLER = "jupyterhub-idle-culler"
# what the Secrets the values reference would hold (hub.extraEnv valueFrom)
FROM_SECRETS = {
    "TWINHUB_HUB_DATABASE_URL": "postgresql+psycopg://hub:pw@postgres:5432/jupyterhub",
    "TWINHUB_DATABASE_URL": "postgresql+psycopg://registry:pw@postgres:5432/twinhub",
    "TWINHUB_OIDC_CLIENT_ID": "twinhub",
    "TWINHUB_OIDC_CLIENT_SECRET": "not-a-secret",
}


@pytest.fixture
def hub_pod_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """``c`` after the chart's hub ran our ``10-twinhub`` snippet with the pod's environment."""
    for name, value in VALUES["hub"]["extraEnv"].items():
        monkeypatch.setenv(name, value if isinstance(value, str) else FROM_SECRETS[name])
    # the state volume and the image's data folder, here in a temporary folder
    monkeypatch.setenv("TWINHUB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TWINHUB_DATA_DIR", str(tmp_path / "image-data"))
    c = Config()
    # what the chart's jupyterhub_config.py (z2jh 4.x) has defined when extraConfig runs: its
    # idle culler (cull.enabled) with its role, then the services of hub.services
    c.JupyterHub.services = [{"name": Z2JH_CULLER, "command": ["python3", "-m", "culler"]}]
    c.JupyterHub.load_roles = [{"name": Z2JH_CULLER, "services": [Z2JH_CULLER],
                                "scopes": ["list:users", "delete:servers"]}]  # fmt: skip
    for name, service in VALUES["hub"]["services"].items():
        c.JupyterHub.services.append({"name": name, **service, "api_token": "chart-made"})
    exec(VALUES["hub"]["extraConfig"]["10-twinhub"], {"c": c, "get_config": lambda: c})
    return c


def test_every_role_names_defined_services_and_the_charts_roles_stay(
    hub_pod_config: Config,
) -> None:
    """What JupyterHub checks at start-up (a role naming an undefined service stops the hub)."""
    defined = services(hub_pod_config).keys()
    loaded = hub_pod_config.JupyterHub.load_roles
    names = [role["name"] for role in loaded]
    assert len(names) == len(set(names)) and all(len(name) >= 3 for name in names), names
    for role in loaded:
        assert set(role.get("services", [])) <= defined, role["name"]
    assert Z2JH_CULLER in names and "user" in names


def services(c: Config) -> dict[str, dict]:
    return {s["name"]: s for s in c.JupyterHub.services}


def test_services_listen_in_the_pod_on_ports_the_hub_service_exposes(
    hub_pod_config: Config,
) -> None:
    found = services(hub_pod_config)
    assert {REGISTRY_SERVICE, DASHBOARDS_SERVICE} <= found.keys()
    exposed = {p["port"]: p["targetPort"] for p in VALUES["hub"]["service"]["extraPorts"]}
    allowed = set(VALUES["hub"]["networkPolicy"]["allowedIngressPorts"])
    for name in (REGISTRY_SERVICE, DASHBOARDS_SERVICE):
        url = urlsplit(found[name]["url"])
        assert url.hostname == "hub", name  # the proxy pod reaches the hub pod's Service
        assert exposed.get(url.port) == url.port and url.port in allowed, name

    # JupyterHub hands each service its URL; what address and port does each process take?
    registry = found[REGISTRY_SERVICE]
    config = RegistryConfig.from_env(
        {**registry["environment"], "JUPYTERHUB_SERVICE_URL": registry["url"]}
    )
    assert (config.host, config.port) == ("0.0.0.0", urlsplit(registry["url"]).port)
    apps = Settings.from_env(found[DASHBOARDS_SERVICE]["environment"])
    assert apps.services_bind_ip == "0.0.0.0"
    assert apps.dashboards_port == urlsplit(found[DASHBOARDS_SERVICE]["url"]).port


def test_services_read_the_data_the_hub_image_built(hub_pod_config: Config, tmp_path: Path) -> None:
    for name in (REGISTRY_SERVICE, DASHBOARDS_SERVICE):
        environment = services(hub_pod_config)[name]["environment"]
        assert environment["TWINHUB_DATA_DIR"] == str(tmp_path / "image-data"), name


def test_the_router_and_the_registry_share_the_run_ticket_secret(hub_pod_config: Config) -> None:
    """Twins' dashboard pods record runs with tickets the router signs and the registry checks."""
    secrets = {
        name: services(hub_pod_config)[name]["environment"].get(RUN_TICKET_SECRET_ENV)
        for name in (REGISTRY_SERVICE, DASHBOARDS_SERVICE)
    }
    assert len(set(secrets.values())) == 1 and all(secrets.values()), secrets


IN_CLUSTER = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
              "POD_NAMESPACE": "science"}  # fmt: skip
"""What Kubernetes (and the chart, POD_NAMESPACE) put in the hub pod's environment."""


@pytest.fixture
def in_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in IN_CLUSTER.items():
        monkeypatch.setenv(name, value)


def test_the_dashboard_router_can_start_twin_pods_from_the_hub_pod(
    in_cluster: None, hub_pod_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router gets the API server's address and the namespace of the hub pod, and with them
    starts each twin's dashboard as a pod in that namespace (extensions/dashboards/pods.py)."""
    c = hub_pod_config
    environment = services(c)[DASHBOARDS_SERVICE]["environment"]
    assert IN_CLUSTER.items() <= environment.items()
    from twinhub.extensions.dashboards.pods import PodLaunch
    from twinhub.extensions.dashboards.router import launch_for

    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    launch = launch_for(Settings.from_env(), "/services/twinhub-apps/")
    assert isinstance(launch, PodLaunch) and launch.namespace == "science"


def test_the_embedded_default_stays_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWINHUB_SERVICES_BIND_IP", "TWINHUB_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    apps = dashboards_service(settings)
    assert Settings.from_env(apps["environment"]).services_bind_ip == "127.0.0.1"
    assert apps["environment"]["TWINHUB_DATA_DIR"] == str(settings.state_dir / "data")


def test_a_bind_address_that_is_no_address_is_refused() -> None:
    with pytest.raises(SettingsError, match="TWINHUB_SERVICES_BIND_IP='hub' is not an IP address"):
        Settings.from_env({"TWINHUB_SERVICES_BIND_IP": "hub"})


def test_the_chart_and_the_embedded_hub_share_one_wiring(
    hub_pod_config: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Both call ``configure(c, settings)`` and nothing else (issue 17: written once): what the
    pod gets and what ``make up`` gets differ only where TWINHUB_DEPLOYMENT says so."""
    snippet = VALUES["hub"]["extraConfig"]["10-twinhub"]
    embedded = (REPO_ROOT / "hub" / "jupyterhub_config.py").read_text()
    for source in (snippet, embedded):
        calls = [line for line in source.splitlines() if line and not line.startswith(("#", "f"))]
        assert len(calls) == 1 and calls[0].startswith("configure("), calls
    # shared: the landing page, the scopes, the spawn hooks (here on KubeSpawner's traits)
    monkeypatch.setenv("TWINHUB_DEPLOYMENT", "embedded")
    monkeypatch.setenv("TWINHUB_STATE_DIR", str(tmp_path / "embedded"))
    c = Config()
    configure(c, Settings.from_env())
    assert hub_pod_config.JupyterHub.default_url is c.JupyterHub.default_url
    assert hub_pod_config.JupyterHub.custom_scopes == c.JupyterHub.custom_scopes
    assert hub_pod_config.KubeSpawner.pre_spawn_hook.__func__ is c.Spawner.pre_spawn_hook.__func__
    # the chart runs the proxy, the spawner, dask-gateway and the culler: we configure none
    assert "ConfigurableHTTPProxy" not in hub_pod_config and "Spawner" not in hub_pod_config
    assert "spawner_class" not in hub_pod_config.JupyterHub
    assert set(services(hub_pod_config)) == {
        Z2JH_CULLER, "dask-gateway", REGISTRY_SERVICE, DASHBOARDS_SERVICE
    }  # fmt: skip


def test_an_unknown_deployment_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="TWINHUB_DEPLOYMENT='k8s': choose one of embedded"):
        Settings.from_env({"TWINHUB_DEPLOYMENT": "k8s"})
