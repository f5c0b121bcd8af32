"""Our profile_list fed to the real KubeSpawner: it applies the overrides and reads the form as
the pre_spawn_hook expects (no cluster needed: KubeSpawner only reads a kube config here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from twinhub.extensions.spawn_options import build_profile_list, chosen_twin

from .test_spawn_options import OFFLOAD, SMALL, TWIN

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none, namespace: twinhub}}]
current-context: none
"""


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    # kubernetes_asyncio reads $KUBECONFIG once, at import: point its default at our file
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config))


def make_spawner() -> KubeSpawner:
    """A KubeSpawner with our profile list (inside a running loop, as in the hub)."""
    spawner = KubeSpawner(_mock=True)
    spawner.profile_list = build_profile_list([SMALL, OFFLOAD], [TWIN], kubernetes=True)
    return spawner


def test_kubespawner_applies_an_offload_profile(kubeconfig) -> None:
    async def scenario() -> KubeSpawner:
        spawner = make_spawner()
        form = {"profile": ["hpc-offload"], "profile-option-hpc-offload--twin": ["flood"]}
        spawner.user_options = spawner.options_from_form(form)
        await spawner.load_user_options()
        return spawner

    spawner = asyncio.run(scenario())
    assert chosen_twin(spawner.user_options) == "flood"  # what our pre_spawn_hook reads
    assert (spawner.cpu_limit, spawner.mem_limit) == (1.0, 2 * 2**30)
    assert spawner.node_selector == {"virtual-node.interlink/type": "virtual-kubelet"}
    assert spawner.tolerations == [
        {"key": "virtual-node.interlink/no-schedule", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert spawner.extra_resource_limits == {"nvidia.com/gpu": "1"}
    assert spawner.image == "registry.example.org/twinhub:1"


def test_kubespawner_renders_the_form_and_refuses_unknown_choices(kubeconfig) -> None:
    async def scenario() -> None:
        spawner = make_spawner()
        html = spawner._render_options_form(spawner.profile_list)
        assert "hpc-offload" in html and "flood" in html
        spawner.user_options = {"profile": "small", "twin": "not-a-twin"}
        with pytest.raises((ValueError, KeyError), match="not-a-twin"):
            await spawner.load_user_options()
        spawner.user_options = {"profile": "gpu-for-everyone"}
        with pytest.raises(ValueError, match="gpu-for-everyone"):
            await spawner.load_user_options()

    asyncio.run(scenario())
