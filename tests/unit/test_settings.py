"""Operator settings: every variable is read, converted and checked with a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from twinhub.contracts.settings import Settings, SettingsError, describe


def test_defaults_serve_loopback_on_port_8000() -> None:
    s = Settings.from_env({})
    assert s.url == "http://127.0.0.1:8000"
    assert s.is_loopback
    assert not s.oidc_enabled


def test_values_are_converted_from_the_environment(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "TWINHUB_STATE_DIR": str(tmp_path / "st"),
            "TWINHUB_PORT": "9000",
            "TWINHUB_ADMIN_USERS": "ada, grace",
            "TWINHUB_DASK_MAX_WORKER_MEMORY": "2.5",
        }
    )
    assert s.state_dir == tmp_path / "st"
    assert s.port == 9000
    assert s.admin_users == ("ada", "grace")
    assert s.dask_max_worker_memory_gib == 2.5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TWINHUB_PORT": "eighty"}, "TWINHUB_PORT='eighty' is not a valid int"),
        ({"TWINHUB_PORT": "70000"}, "TWINHUB_PORT=70000"),
        ({"TWINHUB_HUB_PORT": "8000"}, "ports must all differ"),
        ({"TWINHUB_IP": "localhost:80"}, "TWINHUB_IP"),
        ({"TWINHUB_OIDC_CLIENT_ID": "twinhub"}, "TWINHUB_OIDC_ISSUER"),
        ({"TWINHUB_PROXY": "nginx"}, "TWINHUB_PROXY='nginx': choose one of chp, traefik"),
        # ranges declared with the fields, worded from the declaration
        ({"TWINHUB_EXECUTOR_SLOTS": "0"}, "TWINHUB_EXECUTOR_SLOTS=0: give a whole number from 1"),
        ({"TWINHUB_AUTH_CACHE_SECONDS": "0"}, "TWINHUB_AUTH_CACHE_SECONDS=0: give a number above"),
        ({"TWINHUB_HUB_MAX_RESTARTS": "-1"}, "TWINHUB_HUB_MAX_RESTARTS=-1: give 0 or more"),
    ],
)
def test_bad_values_name_the_variable(env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_child_environment_round_trips_but_keeps_the_oidc_secret() -> None:
    s = Settings.from_env(
        {
            "TWINHUB_PORT": "9100",
            "TWINHUB_OIDC_CLIENT_ID": "c",
            "TWINHUB_OIDC_CLIENT_SECRET": "s3cret",
            "TWINHUB_OIDC_ISSUER": "https://idp.example/realms/x",
        }
    )
    env = s.to_env()
    assert "TWINHUB_OIDC_CLIENT_SECRET" not in env
    again = Settings.from_env(env)
    assert again.port == 9100 and again.oidc_client_id == "c"


def test_describe_lists_every_variable_and_hides_secrets(monkeypatch) -> None:
    monkeypatch.setenv("TWINHUB_OIDC_CLIENT_SECRET", "s3cret")
    text = describe()
    assert "TWINHUB_STATE_DIR=" in text and "TWINHUB_CULL_TIMEOUT=3600" in text
    assert "s3cret" not in text


def test_secret_files_set_variables_and_the_environment_wins(tmp_path: Path) -> None:
    """Kubernetes mounts a Secret as files named like the variables (TWINHUB_SECRETS_DIR)."""
    (tmp_path / "TWINHUB_OIDC_CLIENT_SECRET").write_text("from-a-file")
    (tmp_path / "TWINHUB_PORT").write_text("9200")
    s = Settings.from_env({"TWINHUB_SECRETS_DIR": str(tmp_path), "TWINHUB_PORT": "9300"})
    assert s.oidc_client_secret == "from-a-file"
    assert s.port == 9300
    with pytest.raises(SettingsError, match="TWINHUB_SECRETS_DIR"):
        Settings.from_env({"TWINHUB_SECRETS_DIR": str(tmp_path / "missing")})


def test_the_data_folder_is_a_setting(tmp_path: Path) -> None:
    s = Settings.from_env({"TWINHUB_STATE_DIR": str(tmp_path)})
    assert s.data_path == tmp_path / "data"
    s = Settings.from_env({"TWINHUB_DATA_DIR": str(tmp_path / "image-data")})
    assert s.data_path == tmp_path / "image-data"
