"""The dashboard service's Dask cluster: one user's runs queue, another user's do not wait."""

from __future__ import annotations

import threading
import time

import dask
import pytest
from twinhub.extensions.dashboards.cluster import UserClient


@dask.delayed
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_one_users_second_run_waits_while_another_user_runs_at_once(service_cluster) -> None:
    ada, bob = UserClient("ada-cap", slots=1), UserClient("bob-cap", slots=1)
    first = ada.compute(slow(3.0))
    started: dict[str, float] = {}

    def submit(who: str, client: UserClient) -> None:
        t0 = time.monotonic()
        client.compute(slow(0.1)).result()
        started[who] = time.monotonic() - t0

    threads = [
        threading.Thread(target=submit, args=("ada", ada)),
        threading.Thread(target=submit, args=("bob", bob)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert first.result() == 3.0
    assert started["bob"] < 2.0  # not behind ada's run
    assert started["ada"] > 2.0  # her second run waited for her first
    assert ada.twinhub_user == "ada-cap"


def test_a_bad_cap_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINHUB_DASHBOARDS_USER_RUNS", "0")
    with pytest.raises(ValueError, match="TWINHUB_DASHBOARDS_USER_RUNS"):
        UserClient("carl-cap")
