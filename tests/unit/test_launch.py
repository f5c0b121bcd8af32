"""The launcher refuses to start on a busy port and says which variable to change."""

from __future__ import annotations

import socket

import pytest
from twinhub.contracts.settings import Settings, SettingsError
from twinhub.hub.launch import banner, check_ports
from twinhub.hub.state import ensure_secrets

from tests.support.gateway import free_ports
from tests.support.launcher import launch


def test_a_busy_port_is_named_with_its_variable() -> None:
    ports = free_ports(6)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports[2]))
        busy.listen()
        settings = Settings.from_env(
            {
                "TWINHUB_PORT": str(ports[0]),
                "TWINHUB_HUB_PORT": str(ports[1]),
                "TWINHUB_PROXY_API_PORT": str(ports[2]),
                "TWINHUB_GATEWAY_API_PORT": str(ports[3]),
                "TWINHUB_GATEWAY_HTTP_PORT": str(ports[4]),
                "TWINHUB_GATEWAY_TCP_PORT": str(ports[5]),
            }
        )
        with pytest.raises(SettingsError, match=f"TWINHUB_PROXY_API_PORT={ports[2]}"):
            check_ports(settings)


def test_the_launcher_refuses_a_busy_dashboards_port_and_names_it(tmp_path) -> None:
    (port,) = free_ports(1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        done, _ = launch(tmp_path / "state", {"TWINHUB_DASHBOARDS_PORT": str(port)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"Port(s) already in use: TWINHUB_DASHBOARDS_PORT={port}." in done.stderr
    assert "starting the gateway" not in done.stdout


def test_banner_tells_the_url_and_both_passwords(tmp_path) -> None:
    settings = Settings.from_env({"TWINHUB_STATE_DIR": str(tmp_path)})
    secrets = ensure_secrets(tmp_path)
    text = banner(settings, secrets)
    assert "http://127.0.0.1:8000" in text
    assert secrets.user_password in text and secrets.admin_password in text
