"""A twin's dashboard that crashes, hangs or snoops harms only itself (issue 17 section 3).

Three hostile twins (``tests/support/twin_packages/twinhub_hostile``) are registered privately
through the registry's API; each runs in its own process behind the dashboard router. While
they end their process, loop forever or read what they can, another twin's dashboard keeps
answering from its own process, and nothing of the platform is read.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator

import httpx
import psutil
import pytest
from twinhub.hub.services import dashboards_home

from tests.support.gateway import Gateway
from tests.support.waiting import wait_for

from .conftest import APPS, dashboard_browser, open_dashboard

pytestmark = pytest.mark.integration

OWNER = "hilde"
HOSTILE = {
    "hostile-exit": "create_exit",
    "hostile-loop": "create_loop",
    "hostile-snoop": "create_snoop",
}
TWINS_API = "/services/twinhub/api/twins"


@pytest.fixture(scope="module")
def hostile(dashboards: Gateway) -> Iterator[Gateway]:
    """The hostile twins, private to their owner, registered as any twin is: by the API."""
    admin = dashboards.login("admin", dashboards.admin_password)
    with dashboards.client(headers=admin.headers) as c:
        base = c.get(f"{TWINS_API}/lattice").json()["manifest"]
        for name, app in HOSTILE.items():
            manifest = {
                **base,
                "name": name,
                "title": f"Hostile twin {name}",
                "model": "twinhub_hostile.app:model",
                "app": f"twinhub_hostile.app:{app}",
                "showcase": None,
                "visibility": "private",
                "maintainers": [{"name": "Hilde", "github": OWNER}],
            }
            r = c.post(TWINS_API, json=manifest)
            assert r.status_code in (201, 409), r.text
    yield dashboards


def the_process(gw: Gateway, twin: str) -> psutil.Process:
    return wait_for(
        lambda: (gw.twin_processes(twin) or [None])[0],
        until=lambda p: p is not None,
        message=f"the dashboard process of {twin}",
        timeout=60,
    )


def test_a_dashboard_that_ends_its_process_harms_only_itself(hostile: Gateway) -> None:
    with dashboard_browser(hostile, OWNER) as c:
        assert open_dashboard(c, "lattice").status_code == 200
        lattice = the_process(hostile, "lattice")
        crashed = open_dashboard(c, "hostile-exit")
        assert crashed.status_code == 502, crashed.text[:300]
        assert open_dashboard(c, "lattice").status_code == 200
        assert the_process(hostile, "lattice").pid == lattice.pid  # the same process, untouched
        # started again on the next request; crashing again and again, it waits longer
        seen = []
        for _ in range(6):
            again = c.get(f"{APPS}/hostile-exit")
            seen.append(again.status_code)
            if again.status_code == 503:
                break
        assert seen[-1] == 503 and set(seen) <= {502, 503}, seen
        assert int(again.headers["retry-after"]) >= 1 and "hostile-exit" in again.text


def test_a_dashboard_that_loops_forever_harms_only_itself(hostile: Gateway) -> None:
    answers: list[httpx.Response] = []

    def open_the_loop() -> None:
        with dashboard_browser(hostile, OWNER) as looping:
            looping.timeout = httpx.Timeout(180)  # its start, then the watchdog's verdict
            answers.append(open_dashboard(looping, "hostile-loop"))

    stuck = threading.Thread(target=open_the_loop)
    stuck.start()
    try:
        the_process(hostile, "hostile-loop")
        with dashboard_browser(hostile, OWNER) as c:
            for _ in range(3):  # while the looping page waits, another twin answers
                assert stuck.is_alive()
                assert open_dashboard(c, "lattice").status_code == 200
    finally:
        stuck.join(timeout=120)
    assert not stuck.is_alive()
    assert answers and answers[0].status_code in (502, 503), answers[0].text[:300]
    assert not hostile.twin_processes("hostile-loop")  # the watchdog stopped it


def test_a_dashboard_reads_nothing_of_the_platform(hostile: Gateway) -> None:
    settings = hostile.settings
    report_file = dashboards_home(settings) / "hostile-snoop.json"
    report_file.unlink(missing_ok=True)
    with dashboard_browser(hostile, OWNER) as c:
        assert open_dashboard(c, "hostile-snoop").status_code == 200
        snoop = the_process(hostile, "hostile-snoop")
        report = wait_for(
            lambda: report_file.is_file() and json.loads(report_file.read_text()),
            until=bool,
            message="the snooping twin's report",
            timeout=60,
        )
    assert report["uid"] != 0 and report["uid"] == snoop.uids().real
    assert report["secret_env"] == []  # no token, secret or database URL in its environment
    # what its visitor's requests carry is no way to act as the visitor: a run ticket of this
    # twin, not their hub token (each answer was 200 or 422 with the token)
    answers = report["registry_answers"]
    assert set(answers.values()) == {403}, answers
    assert not report["proc_1_environ"] and not report["parent_environ"]
    own = {p.pid for p in psutil.process_iter() if p.uids().real == report["uid"]}
    assert set(report["read_environs"]) <= own  # only processes of its own account
    readable_roots = (str(settings.state_dir / "data"), str(dashboards_home(settings)))
    platform = [f for f in report["read_files"] if not f.startswith(readable_roots)]
    assert platform == []


def test_a_killed_dashboard_process_comes_back_on_the_next_request(hostile: Gateway) -> None:
    with dashboard_browser(hostile, OWNER) as c:
        c.timeout = httpx.Timeout(120)  # a cold start of the process, then its page
        assert open_dashboard(c, "lattice").status_code == 200
        lattice = the_process(hostile, "lattice")
        lattice.send_signal(signal.SIGKILL)
        wait_for(lambda: not lattice.is_running() or lattice.status() == psutil.STATUS_ZOMBIE,
                 message="the killed process gone", timeout=30)  # fmt: skip
        again = open_dashboard(c, "lattice")
        assert again.status_code == 200, again.text[:300]
        assert the_process(hostile, "lattice").pid != lattice.pid
