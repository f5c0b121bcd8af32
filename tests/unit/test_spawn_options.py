"""From registry data to spawner settings: KubeSpawner's profile_list, env, the form."""

from __future__ import annotations

import dask.config
from twinhub.extensions.spawn_options import (
    build_profile_list,
    chosen_twin,
    options_form,
    options_from_form,
    server_environment,
)

SMALL = {
    "slug": "small",
    "display_name": "Small",
    "description": "",
    "cpu": 1.0,
    "memory": "2G",
    "gpu": 0,
    "default": True,
    "dask_gateway": {"worker_cores": 1, "worker_memory_gib": 1.0, "max_workers": 2},
}
OFFLOAD = {
    **SMALL,
    "slug": "hpc-offload",
    "display_name": "HPC",
    "default": False,
    "gpu": 1,
    "image": "registry.example.org/twinhub:1",
    "node_selector": {"virtual-node.interlink/type": "virtual-kubelet"},
    "tolerations": [
        {
            "key": "virtual-node.interlink/no-schedule",
            "operator": "Exists",
            "value": None,
            "effect": "NoSchedule",
            "tolerationSeconds": None,
        }
    ],
    "kubernetes_only": True,
    "dask_gateway": {"worker_cores": 4, "worker_memory_gib": 8.0, "max_workers": 8},
}
TWIN = {
    "name": "flood",
    "title": "Flood",
    "version": "1.0.0",
    "catalog": ["fulda", "rhine"],
    "dask": {"worker_cores": 2, "worker_memory_gib": 16.0, "max_workers": 4},
}


def test_profile_list_has_kubespawners_shape() -> None:
    entries = build_profile_list([SMALL, OFFLOAD], [TWIN], kubernetes=True)
    assert [e["slug"] for e in entries] == ["small", "hpc-offload"]
    small, offload = entries
    assert small["default"] is True
    assert small["kubespawner_override"] == {"cpu_limit": 1.0, "mem_limit": "2G"}
    override = offload["kubespawner_override"]
    assert override["node_selector"] == {"virtual-node.interlink/type": "virtual-kubelet"}
    assert override["tolerations"] == [
        {"key": "virtual-node.interlink/no-schedule", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert override["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert override["image"] == "registry.example.org/twinhub:1"
    choices = small["profile_options"]["twin"]["choices"]
    assert set(choices) == {"none", "flood"} and choices["none"]["default"] is True


def test_local_deployment_hides_kubernetes_only_profiles() -> None:
    assert [e["slug"] for e in build_profile_list([SMALL, OFFLOAD], [], kubernetes=False)] == [
        "small"
    ]


def test_environment_caps_the_twin_at_the_profile_and_dask_reads_it(monkeypatch) -> None:
    env = server_environment(SMALL, TWIN, api_url="http://r/api", user="ada", server="flood")
    assert env["TWINHUB_TWIN"] == "flood" and env["TWINHUB_CATALOG"] == "fulda,rhine"
    assert env["TWINHUB_DASK_MAX_WORKERS"] == "2"  # the twin wants 4, the profile allows 2
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # dask's own parser of DASK_* variables, as GatewayCluster() in the server will see them
    options = dask.config.collect_env()["gateway"]["cluster"]["options"]
    assert options == {
        "worker_cores": 1,
        "worker_memory": 1.0,
        "environment": {"TWINHUB_SERVER": "ada/flood"},
    }


def test_plain_server_has_no_twin() -> None:
    env = server_environment(OFFLOAD, None, api_url="u", user="ada", server="")
    assert env["TWINHUB_TWIN"] == "" and env["DASK_GATEWAY__CLUSTER__OPTIONS__WORKER_CORES"] == "4"


def test_form_round_trip() -> None:
    html = options_form([SMALL], [TWIN], server="flood")
    assert 'name="profile"' in html and '<option value="flood" selected>' in html
    assert options_from_form({"profile": ["small"], "twin": ["flood"]}) == {
        "profile": "small",
        "twin": "flood",
    }
    assert options_from_form({"profile": ["small"], "twin": ["none"]}) == {"profile": "small"}
    assert chosen_twin({"profile": "small", "twin": "flood"}) == "flood"
    assert chosen_twin({"twin": "none"}) is None


HPC_SLURM = {
    **SMALL,
    "slug": "hpc-slurm",
    "default": False,
    "slurm": {"partition": "", "time_limit": "2:00:00", "cores": 2, "memory_gib": 3.0},
}


def test_slurm_profiles_are_offered_only_where_slurm_is_enabled() -> None:
    def slugs(**flags) -> list[str]:
        return [e["slug"] for e in build_profile_list([SMALL, HPC_SLURM], [], **flags)]

    assert slugs(kubernetes=False) == ["small"]
    assert slugs(kubernetes=True) == ["small"]  # no pods for batch-job profiles
    assert slugs(kubernetes=False, slurm=True) == ["small", "hpc-slurm"]
