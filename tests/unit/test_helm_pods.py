"""Every shipped infrastructure profile, applied by the real KubeSpawner configured from our Helm
values, yields a pod that the Kubernetes API schema accepts, with the profile's resources,
placement and environment. No cluster is needed: KubeSpawner builds the manifest locally."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from twinhub.contracts.profile import memory_bytes, parse_profile
from twinhub.contracts.settings import REPO_ROOT
from twinhub.extensions.spawn import TwinSpawnHooks
from twinhub.extensions.spawn_options import build_profile_list

K8S_VERSION = "1.30.0"
HELM = REPO_ROOT / "hub" / "helm"
PROFILES = [
    parse_profile(p, "hub/profiles.yaml").model_dump(mode="json")
    for p in yaml.safe_load((REPO_ROOT / "hub" / "profiles.yaml").read_text())
]
# Slurm profiles run servers as batch jobs of a hub with TWINHUB_SLURM=1, never as pods
POD_PROFILES = [p for p in PROFILES if not p.get("slurm")]
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none, namespace: twinhub}}]
current-context: none
"""


@pytest.fixture(autouse=True)
def kubeconfig(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config))


def singleuser_values() -> dict:
    return yaml.safe_load((HELM / "jupyterhub-values.yaml").read_text())["singleuser"]


def configured_spawner() -> KubeSpawner:
    """KubeSpawner set up as the z2jh chart sets it up from our `singleuser` values."""
    values = singleuser_values()
    spawner = KubeSpawner(_mock=True)
    spawner.image = f"{values['image']['name']}:{values['image']['tag']}"
    spawner.default_url = values["defaultUrl"]
    spawner.cpu_limit = float(values["cpu"]["limit"])
    spawner.cpu_guarantee = float(values["cpu"]["guarantee"])
    spawner.mem_limit = values["memory"]["limit"]
    spawner.mem_guarantee = values["memory"]["guarantee"]
    spawner.environment = dict(values["extraEnv"])
    spawner.profile_list = build_profile_list(PROFILES, [], kubernetes=True)
    return spawner


async def pod_for(profile: dict) -> tuple[KubeSpawner, dict]:
    spawner = configured_spawner()
    spawner.user_options = {"profile": profile["slug"]}
    await spawner.load_user_options()
    hooks = TwinSpawnHooks(
        registry_url="http://127.0.0.1:8004/services/twinhub/api",
        server_registry_url="http://hub:8004/services/twinhub/api",
        kubernetes=True,
    )
    hooks.apply(spawner, profile, None)  # what pre_spawn_hook does once the registry answered
    pod = await spawner.get_pod_manifest()
    return spawner, ApiClient().sanitize_for_serialization(pod)


@pytest.mark.parametrize("profile", POD_PROFILES, ids=[p["slug"] for p in POD_PROFILES])
def test_each_profile_gives_a_valid_pod_with_its_resources(profile: dict) -> None:
    spawner, pod = asyncio.run(pod_for(profile))
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)

    container = pod["spec"]["containers"][0]
    limits = container["resources"]["limits"]
    assert float(limits["cpu"]) == float(profile["cpu"])
    assert int(limits["memory"]) == memory_bytes(profile["memory"])
    if profile.get("gpu"):
        assert limits["nvidia.com/gpu"] == str(profile["gpu"])
    else:
        assert "nvidia.com/gpu" not in limits
    assert pod["spec"].get("nodeSelector") or {} == (profile.get("node_selector") or {})
    for toleration in profile.get("tolerations") or []:
        wanted = {k: v for k, v in toleration.items() if v is not None}
        assert any(wanted.items() <= t.items() for t in pod["spec"]["tolerations"]), wanted

    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DASK_GATEWAY__ADDRESS"] == "http://proxy-public/services/dask-gateway"
    assert env["TWINHUB_API_URL"] == "http://hub:8004/services/twinhub/api"
    dask = profile["dask_gateway"]
    assert env["DASK_GATEWAY__CLUSTER__OPTIONS__WORKER_CORES"] == str(dask["worker_cores"])
    # KubeSpawner expands {...} in env values; ours must reach the pod literally
    tag = json.loads(env["DASK_GATEWAY__CLUSTER__OPTIONS__ENVIRONMENT"])
    assert tag == {"TWINHUB_SERVER": f"{spawner.user.name}/"}
    assert (
        env["DASK_DISTRIBUTED__DASHBOARD__LINK"] == "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status"
    )


def test_offload_profile_lands_on_the_interlink_virtual_node() -> None:
    offload = next(p for p in PROFILES if p["slug"] == "hpc-offload")
    _, pod = asyncio.run(pod_for(offload))
    assert pod["spec"]["nodeSelector"] == {"virtual-node.interlink/type": "virtual-kubelet"}
    keys = {t["key"] for t in pod["spec"]["tolerations"]}
    assert "virtual-node.interlink/no-schedule" in keys


def test_a_bad_profile_never_reaches_a_manifest() -> None:
    with pytest.raises(ValueError, match="memory"):
        parse_profile({**PROFILES[0], "memory": "lots"})
