"""The launcher's restart policy and how it recognises the services of a dead hub."""

from __future__ import annotations

import sys

from twinhub.contracts.settings import Settings
from twinhub.extensions.hub_supervisor import RestartPolicy, runs
from twinhub.hub.services import managed_services
from twinhub.hub.state import ensure_secrets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_hub_that_keeps_dying_is_not_restarted_past_the_limit() -> None:
    clock = Clock()
    policy = RestartPolicy(max_restarts=3, window=600, clock=clock)
    allowed = []
    for _ in range(5):
        allowed.append(policy.allow())
        clock.now += 10
    assert allowed == [True, True, True, False, False]
    assert policy.recent == 3


def test_restarts_long_ago_no_longer_count() -> None:
    clock = Clock()
    policy = RestartPolicy(max_restarts=2, window=600, clock=clock)
    assert policy.allow()
    clock.now = 100.0
    assert policy.allow()
    assert not policy.allow()
    clock.now = 599.0
    assert not policy.allow()  # the first restart is still within the window
    clock.now = 600.0
    assert policy.allow()  # the first one dropped out: one more is allowed
    assert not policy.allow()  # the one at 100 s still counts


def test_zero_restarts_means_never_restart() -> None:
    assert not RestartPolicy(max_restarts=0, window=600).allow()


def test_services_are_recognised_by_their_command_lines(tmp_path) -> None:
    settings = Settings.from_env({"TWINHUB_STATE_DIR": str(tmp_path)})
    services = {
        s["name"]: s["command"] for s in managed_services(settings, ensure_secrets(tmp_path))
    }
    gateway = services["dask-gateway-server"]  # the gateway itself (dask-gateway is its front)
    # a script runs through its interpreter: python <script> <args>
    assert runs([sys.executable, *gateway], gateway)
    assert runs(services["twinhub"], services["twinhub"])
    # another service, a user's server, another gateway's config: not the same service
    assert not runs(services["twinhub-apps"], services["twinhub"])
    assert not runs([sys.executable, "/x/jupyterhub-singleuser", "--allow-root"], gateway)
    assert not runs([sys.executable, gateway[0], "--config", "/elsewhere/config.py"], gateway)
