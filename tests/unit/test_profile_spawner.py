"""One hub, two places for servers: the profile spawner picks the child spawner from the
profile (Slurm resources -> batch job, otherwise a local process) and keeps that choice in the
state the hub stores, so a restarted hub polls and stops the right process or job."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets.config.loader import PyFileConfigLoader
from twinhub.contracts.settings import REPO_ROOT, Settings
from twinhub.extensions.spawners.local import TwinhubLocalSpawner
from twinhub.extensions.spawners.profile import TwinhubProfileSpawner
from twinhub.extensions.spawners.slurm import TwinhubSlurmSpawner

HPC = {"slug": "hpc-slurm", "slurm": {"time_limit": "2:00:00", "cores": 2, "memory_gib": 3}}
SMALL = {"slug": "small", "slurm": None}


@pytest.fixture
def hub_config(monkeypatch, tmp_path: Path):
    """The shipped jupyterhub_config.py with Slurm profiles enabled (TWINHUB_SLURM=1)."""
    monkeypatch.setenv("TWINHUB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TWINHUB_SLURM", "1")
    return PyFileConfigLoader("jupyterhub_config.py", path=str(REPO_ROOT / "hub")).load_config()


def spawner(config) -> TwinhubProfileSpawner:
    # JupyterHub's User, reduced to what a spawner reads before it starts anything
    user = SimpleNamespace(name="ada", url="/user/ada/", escaped_name="ada", settings={})
    return TwinhubProfileSpawner(config=config, user=user, orm_spawner=None)


def test_slurm_profiles_make_the_profile_spawner_the_hubs_spawner(hub_config) -> None:
    assert hub_config.JupyterHub.spawner_class.endswith("TwinhubProfileSpawner")
    targets = hub_config.TwinhubProfileSpawner.targets
    assert targets["local"].endswith("TwinhubLocalSpawner")
    assert targets["slurm"].endswith("TwinhubSlurmSpawner")
    # the Slurm child is configured as the hub-wide Slurm spawner would be
    assert hub_config.TwinhubSlurmSpawner.submit_as == "service"
    assert hub_config.TwinhubSlurmSpawner.bind_ip == "127.0.0.1"


def test_slurm_profile_gets_a_batch_job_spawner_with_its_resources(hub_config) -> None:
    s = spawner(hub_config)
    s.environment = {"TWINHUB_PROFILE": "hpc-slurm"}
    s.apply_profile(HPC)
    child = s.child
    assert isinstance(child, TwinhubSlurmSpawner)
    assert (child.req_nprocs, child.req_memory, child.req_runtime) == ("2", "3072M", "2:00:00")
    # what the hub and the hooks set on the spawner reaches the child
    s.api_token = "t0ken"
    s.environment = {**s.environment, "TWINHUB_TWIN": "flood"}
    assert child.api_token == "t0ken"
    assert child.environment["TWINHUB_TWIN"] == "flood"
    # the hub waits as long as a queued job may take
    assert s.start_timeout == 300


def test_other_profiles_keep_the_local_spawner(hub_config) -> None:
    s = spawner(hub_config)
    s.apply_profile(SMALL)
    assert type(s.child) is TwinhubLocalSpawner
    assert s.start_timeout == Settings().spawn_start_timeout  # the local target's, not Slurm's


def test_the_choice_survives_a_hub_restart(hub_config) -> None:
    s = spawner(hub_config)
    s.apply_profile(HPC)
    s.child.job_id = "4242"  # as after sbatch
    state = s.get_state()

    restarted = spawner(hub_config)
    restarted.load_state(state)
    assert isinstance(restarted.child, TwinhubSlurmSpawner)
    assert restarted.child.job_id == "4242"
    assert restarted.child.req_nprocs == "2"

    restarted.clear_state()  # after a stop: nothing left to poll
    assert restarted.child is None and restarted.get_state().get("target") is None
    assert asyncio.run(restarted.poll()) == 1


def test_a_target_the_hub_does_not_enable_is_refused(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TWINHUB_STATE_DIR", str(tmp_path))
    config = PyFileConfigLoader("jupyterhub_config.py", path=str(REPO_ROOT / "hub")).load_config()
    config.TwinhubProfileSpawner.targets = {"local": "jupyterhub.spawner.SimpleLocalProcessSpawner"}
    with pytest.raises(ValueError, match="profile target 'slurm' is not enabled on this hub"):
        spawner(config).apply_profile(HPC)


def test_a_server_started_before_slurm_profiles_is_still_polled(hub_config) -> None:
    """State of the hub-wide local spawner (a pid) from before TWINHUB_SLURM=1 was set."""
    s = spawner(hub_config)
    s.load_state({"pid": 4242})
    assert type(s.child) is TwinhubLocalSpawner and s.child.pid == 4242


def test_hub_wide_slurm_spawner_takes_each_profiles_resources_or_the_defaults(
    hub_config,
) -> None:
    user = SimpleNamespace(name="ada", url="/user/ada/", escaped_name="ada", settings={})
    s = TwinhubSlurmSpawner(config=hub_config, user=user, orm_spawner=None)
    configured = (s.req_nprocs, s.req_memory, s.req_runtime)
    s.apply_profile(HPC)
    assert (s.req_nprocs, s.req_memory, s.req_runtime) == ("2", "3072M", "2:00:00")
    s.apply_profile(SMALL)  # the next spawn, on a profile without Slurm resources
    assert (s.req_nprocs, s.req_memory, s.req_runtime) == configured == ("1", "2048M", "8:00:00")
