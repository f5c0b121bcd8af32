"""Deployment targets: TWINHUB_SPAWNER / TWINHUB_DASK_BACKEND pick the plug-in, profiles map
to Slurm resources, and bad values are refused naming the variable or field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dask_gateway_server.backends.local import LocalBackend, UnsafeLocalBackend
from jupyterhub.spawner import LocalProcessSpawner
from pydantic import ValidationError
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item
from twinhub.contracts.profile import SlurmResources
from twinhub.contracts.settings import REPO_ROOT, Settings, SettingsError
from twinhub.extensions.gateway_backends.quotas import UserQuotas
from twinhub.extensions.gateway_backends.slurm import TwinhubSlurmBackend
from twinhub.extensions.spawners.slurm import spawner_overrides
from twinhub.hub.targets import target


def load(name: str, monkeypatch, tmp_path: Path, **env: str):
    monkeypatch.setenv("TWINHUB_STATE_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return PyFileConfigLoader(name, path=str(REPO_ROOT / "hub")).load_config()


def test_local_target_is_the_default(monkeypatch, tmp_path: Path) -> None:
    hub = load("jupyterhub_config.py", monkeypatch, tmp_path)
    # LocalProcessSpawner with a unix account per user when the hub runs as root
    spawner = import_item(hub.JupyterHub.spawner_class)
    assert issubclass(spawner, LocalProcessSpawner)
    assert hub.TwinhubLocalSpawner.home_dir_template == f"{tmp_path}/users/{{username}}"
    assert hub.UserAccounts.user_accounts == (os.geteuid() == 0)
    gateway = load("dask_gateway_config.py", monkeypatch, tmp_path)
    # dask-gateway's LocalBackend (processes as the user's account), with schedulers forked
    # from a warm process (extensions/gateway_backends/prefork.py) and per-user quotas
    # (extensions/gateway_backends/quotas.py)
    backend = gateway.DaskGateway.backend_class
    assert issubclass(backend, UserQuotas) and issubclass(backend, LocalBackend)
    assert not issubclass(backend, UnsafeLocalBackend)
    assert gateway.UserAccounts.user_accounts == (os.geteuid() == 0)


def test_slurm_target_configures_spawner_and_backend(monkeypatch, tmp_path: Path) -> None:
    slurm_conf = tmp_path / "slurm.conf"
    slurm_conf.write_text("ClusterName=site\n")
    env = {
        "TWINHUB_SPAWNER": "slurm",
        "TWINHUB_DASK_BACKEND": "slurm",
        "TWINHUB_SLURM_CONF": str(slurm_conf),
        "TWINHUB_SLURM_PARTITION": "interactive",
        "TWINHUB_SLURM_ACCOUNT": "twins",
    }
    hub = load("jupyterhub_config.py", monkeypatch, tmp_path, **env)
    assert hub.JupyterHub.spawner_class.endswith("TwinhubSlurmSpawner")
    spawner = hub.TwinhubSlurmSpawner
    assert (spawner.req_partition, spawner.req_account) == ("interactive", "twins")
    assert spawner.slurm_conf == str(slurm_conf)
    assert spawner.submit_as == "service"
    assert spawner.batchspawner_singleuser_cmd.endswith("/batchspawner-singleuser")
    gateway = load("dask_gateway_config.py", monkeypatch, tmp_path, **env)
    assert issubclass(gateway.DaskGateway.backend_class, TwinhubSlurmBackend)
    assert gateway.SlurmClusterConfig.partition == "interactive"
    assert gateway.SlurmClusterConfig.staging_directory.startswith(str(tmp_path))
    # the dask CLI set for every ClusterConfig applies to the Slurm one (a subclass)
    assert gateway.ClusterConfig.worker_cmd[-1] == "worker"


def test_slurm_classes_accept_the_generated_config(monkeypatch, tmp_path: Path) -> None:
    from twinhub.extensions.gateway_backends.slurm import TwinhubSlurmBackend

    gateway = load("dask_gateway_config.py", monkeypatch, tmp_path, TWINHUB_DASK_BACKEND="slurm")
    backend = TwinhubSlurmBackend(config=gateway)
    assert backend.default_host == "127.0.0.1"  # what schedulers and workers bind to
    assert backend.submit_as == "service"
    assert backend.get_status_cmd_env(["7"])[1] == {}  # no SLURM_CONF set: Slurm's default


@pytest.mark.parametrize("var", ["TWINHUB_SPAWNER", "TWINHUB_DASK_BACKEND"])
def test_unknown_target_is_refused_naming_the_variable(var: str) -> None:
    with pytest.raises(SettingsError, match=f"{var}='kubernetes': choose one of local, slurm"):
        Settings.from_env({var: "kubernetes"})
    with pytest.raises(ValueError, match="unknown deployment target 'pbs'"):
        target("pbs")


def test_submit_as_must_be_service_or_user() -> None:
    with pytest.raises(SettingsError, match="TWINHUB_SLURM_SUBMIT_AS='root'"):
        Settings.from_env({"TWINHUB_SLURM_SUBMIT_AS": "root"})


def test_profile_resources_become_spawner_overrides() -> None:
    resources = SlurmResources(
        partition="gpu", account="twins", time_limit="1-12:00:00", cores=4, memory_gib=1.5
    )
    assert spawner_overrides(resources) == {
        "req_runtime": "1-12:00:00",
        "req_nprocs": "4",
        "req_memory": "1536M",
        "req_partition": "gpu",
        "req_account": "twins",
    }
    # defaults leave partition and account to the cluster
    assert set(spawner_overrides(SlurmResources())) == {"req_runtime", "req_nprocs", "req_memory"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_limit", "lots"),
        ("time_limit", "12h"),
        ("cores", 0),
        ("memory_gib", "lots"),
        ("memory_gib", -1),
        ("partition", "debug; rm -rf /"),
    ],
)
def test_bad_profile_resources_are_refused_naming_the_field(field: str, value) -> None:
    with pytest.raises(ValidationError, match=field):
        SlurmResources(**{field: value})


def test_unknown_resource_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="gpus"):
        SlurmResources(gpus=2)


def test_missing_slurm_conf_is_refused_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TWINHUB_SLURM_CONF=.* is not a file"):
        Settings.from_env({"TWINHUB_SLURM_CONF": str(tmp_path / "nowhere.conf")})


def test_bad_partition_name_is_refused_naming_the_variable(monkeypatch, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TWINHUB_SLURM_PARTITION: .*letters, digits"):
        load(
            "dask_gateway_config.py",
            monkeypatch,
            tmp_path,
            TWINHUB_DASK_BACKEND="slurm",
            TWINHUB_SLURM_PARTITION="debug,gpu --uid=0",
        )


def test_profile_with_bad_slurm_resources_is_refused_naming_the_field() -> None:
    from twinhub.contracts.profile import parse_profile
    from twinhub.twins.manifest import ManifestError

    base = {"slug": "hpc-slurm", "display_name": "HPC", "cpu": 2, "memory": "3G"}
    good = parse_profile({**base, "slurm": {"cores": 2, "memory_gib": 3}})
    assert spawner_overrides(good.slurm)["req_nprocs"] == "2"
    with pytest.raises(ManifestError, match=r"slurm\.time_limit.*'lots' is not a Slurm time"):
        parse_profile({**base, "slurm": {"time_limit": "lots"}})
