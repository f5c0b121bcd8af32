"""Each profile's Dask options pass the bounds our dask-gateway chart values configure, and turn
into valid KubeBackend cluster settings (the chart's dask-gateway-server runs the same code)."""

from __future__ import annotations

import pytest
import yaml
from dask_gateway_server.backends.kubernetes import KubeClusterConfig
from twinhub.contracts.profile import parse_profile
from twinhub.contracts.settings import REPO_ROOT, Settings
from twinhub.hub.gateway_options import GIB, cluster_options

HELM = REPO_ROOT / "hub" / "helm"
PROFILES = [
    parse_profile(p).model_dump(mode="json")
    for p in yaml.safe_load((REPO_ROOT / "hub" / "profiles.yaml").read_text())
]


def chart_settings() -> Settings:
    """The settings dask-gateway-server reads in its pod: the `gateway.env` of our values."""
    env = yaml.safe_load((HELM / "dask-gateway-values.yaml").read_text())["gateway"]["env"]
    return Settings.from_env({item["name"]: item["value"] for item in env})


@pytest.mark.parametrize("profile", PROFILES, ids=[p["slug"] for p in PROFILES])
def test_profile_dask_options_become_valid_kube_cluster_settings(profile: dict) -> None:
    options = cluster_options(chart_settings())
    dask = profile["dask_gateway"]
    requested = {"worker_cores": dask["worker_cores"], "worker_memory": dask["worker_memory_gib"]}
    parsed = options.parse_options(requested)
    config = options.get_configuration(parsed, user=None)
    cluster = KubeClusterConfig(**config)
    assert cluster.worker_cores == dask["worker_cores"]
    assert cluster.worker_memory == int(dask["worker_memory_gib"] * GIB)


def test_options_beyond_the_chart_limits_are_refused() -> None:
    options = cluster_options(chart_settings())
    with pytest.raises(ValueError, match="worker_cores must be <="):
        options.parse_options({"worker_cores": 64})
