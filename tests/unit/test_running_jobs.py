"""A hub without Slurm does not start over servers that are Slurm jobs: it could neither poll
nor stop them, and the jobs would run unseen until their time limit. The hub's database is a
real JupyterHub database (its own ORM), the refusal is the launcher's, as `make up` meets it."""

from __future__ import annotations

from pathlib import Path

import pytest
from jupyterhub import orm
from twinhub.contracts.settings import Settings, SettingsError
from twinhub.hub.targets.running_jobs import check_no_orphaned_jobs, slurm_servers

from tests.support.launcher import launch

# spawner states as our spawners write them
PROFILE_SLURM = {"target": "slurm", "child_overrides": {}, "child_state": {"job_id": "42"}}
BATCHSPAWNER = {"job_id": "43", "job_status": "R 0:10 localhost"}
LOCAL = {"pid": 4242}


def hub_database(state_dir: Path, servers: dict[tuple[str, str], tuple[dict, bool]]) -> str:
    """``jupyterhub.sqlite`` with these (user, server name) -> (spawner state, running?)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{state_dir / 'jupyterhub.sqlite'}"
    db = orm.new_session_factory(url)()
    users: dict[str, orm.User] = {}
    for (user, name), (state, running) in servers.items():
        if user not in users:
            users[user] = orm.User(name=user)
            db.add(users[user])
        spawner = orm.Spawner(user=users[user], name=name, state=state)
        if running:
            spawner.server = orm.Server(port=8888)
        db.add(spawner)
    db.commit()
    db.close()
    return url


@pytest.fixture(autouse=True)
def slurm_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWINHUB_SLURM", "TWINHUB_SPAWNER", "TWINHUB_HUB_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_running_slurm_servers_are_found_and_nothing_else(tmp_path: Path) -> None:
    url = hub_database(
        tmp_path,
        {
            ("ada", "hpc"): (PROFILE_SLURM, True),
            ("bob", ""): (BATCHSPAWNER, True),
            ("cy", ""): (LOCAL, True),
            ("dee", "old"): (PROFILE_SLURM, False),  # stopped: no job left
        },
    )
    assert slurm_servers(url) == ["ada/hpc", "bob"]


def test_a_first_start_creates_no_database(tmp_path: Path) -> None:
    assert slurm_servers(f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}") == []
    assert not (tmp_path / "jupyterhub.sqlite").exists()


def test_only_a_hub_without_slurm_refuses(tmp_path: Path) -> None:
    hub_database(tmp_path, {("ada", "hpc"): (PROFILE_SLURM, True)})
    settings = Settings.from_env({"TWINHUB_STATE_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match=r"1 server\(s\) run as Slurm jobs \(ada/hpc\)"):
        check_no_orphaned_jobs(settings)
    check_no_orphaned_jobs(settings.model_copy(update={"slurm_profiles": True}))


def test_the_launcher_refuses_and_says_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "state"
    hub_database(state, {("ada", "hpc"): (PROFILE_SLURM, True), ("cy", ""): (LOCAL, True)})
    done, _ = launch(state)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "(ada/hpc)" in done.stderr and "TWINHUB_SLURM=1" in done.stderr
    assert "starting the gateway" not in done.stdout
