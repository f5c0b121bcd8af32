"""Nobody waits on somebody else's registry call: with the registry stalled (its process
stopped, its socket still accepting connections that are never answered), the dashboard
service and the hub keep answering every request that does not need a fresh registry answer.

The checks are orderings, not timings: a request must complete while a registry call that
began before it is still pending."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psutil
import pytest
from twinhub.hub.registry_status import RegistryStatus

from tests.faults.processes import REGISTRY, find
from tests.support.gateway import Gateway

from .conftest import APPS, dashboard_browser, open_dashboard, until

pytestmark = pytest.mark.integration


@contextmanager
def stalled(process: psutil.Process) -> Iterator[None]:
    """The process stopped (SIGSTOP): its listening socket still accepts, nothing answers."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def connections_to(process: psutil.Process, port: int) -> set[tuple[str, int]]:
    """Local addresses of ``process``'s open connections to ``port`` on loopback."""
    return {
        tuple(c.laddr)
        for c in process.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


class Pending:
    """A request running in a thread; ``done`` is set when its answer arrived."""

    def __init__(self, get) -> None:
        self.done = threading.Event()
        self.response: httpx.Response | BaseException | None = None

        def run() -> None:
            try:
                self.response = get()
            except BaseException as e:  # reported by the test
                self.response = e
            finally:
                self.done.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()


def test_dashboard_service_answers_others_while_a_registry_lookup_hangs(
    dashboards: Gateway,
) -> None:
    registry = find(dashboards, REGISTRY)
    service = find(dashboards, "twinhub.extensions.dashboards")
    port = dashboards.settings.registry_port
    with (
        dashboard_browser(dashboards, "ada") as ada,
        dashboard_browser(dashboards, "bob") as bob,
    ):
        # both log in to the service; bob has seen his 404 page once (the registry answered)
        assert open_dashboard(ada, "no-such-twin").status_code == 404
        assert open_dashboard(bob, "not-a-twin-either").status_code == 404
        with stalled(registry):
            # ada opens a twin the service has not looked up for her: it asks the registry
            ada_page = Pending(lambda: ada.get(f"{APPS}/flood", timeout=120))
            until(
                lambda: connections_to(service, port),
                bool,
                "the service's request to the stalled registry",
            )
            # meanwhile a plain redirect and bob's (remembered) 404 page are answered
            redirect = bob.get(f"{APPS}/", timeout=120)
            missing = bob.get(f"{APPS}/not-a-twin-either", timeout=120)
            ada_waited = not ada_page.done.is_set()
            ada_registry_call = connections_to(service, port)
        ada_page.done.wait(120)
    assert redirect.status_code == 302 and missing.status_code == 404
    assert "<title>Twin not found</title>" in missing.text  # the page itself comes by websocket
    assert ada_waited and ada_registry_call, "the others were answered only after ada's lookup"
    assert isinstance(ada_page.response, httpx.Response), ada_page.response
    assert ada_page.response.status_code == 200  # once the registry answers, her page comes


def test_hub_pages_answer_and_report_a_stalled_registry(dashboards: Gateway) -> None:
    """End to end: with the registry stalled, the hub's pages keep answering, say the registry
    is unavailable once the probe gives up, and recover when it answers again. (That a page
    never waits for the probe is checked deterministically by the next test.)"""
    registry = find(dashboards, REGISTRY)
    alice = dashboards.login("hubert")
    with dashboards.client(cookies=alice.cookies) as c, stalled(registry):
        home, token_page = c.get("/hub/home"), c.get("/hub/token")
        assert home.status_code == 200 and token_page.status_code == 200
        until(
            lambda: c.get("/hub/home").text,
            lambda text: "Twins (registry unavailable)" in text,
            "the hub to report the stalled registry",
        )
    with dashboards.client(cookies=alice.cookies) as c:
        until(
            lambda: c.get("/hub/home").text,
            lambda text: "Twins (registry unavailable)" not in text,
            "the hub to see the registry answer again",
        )


def test_hub_registry_status_returns_before_asking_a_silent_registry() -> None:
    """The hub's template variable (hub/registry_status.py) against a loopback socket that
    accepts and never answers: the page's call returns before the registry is even asked (the
    probe runs afterwards, on the loop), and the answer turns to "down" once the probe gives up.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/api/health"
    outcome: dict[str, object] = {}

    async def render_pages() -> None:
        status = RegistryStatus(url, ttl=0.0, timeout=3.0)
        outcome["first"] = status()  # what a page rendered now shows
        try:
            outcome["asked_before_return"] = listener.accept() is not None
        except BlockingIOError:
            outcome["asked_before_return"] = False
        for _ in range(10_000):  # the probe connects once the loop runs it
            await asyncio.sleep(0.01)
            with contextlib.suppress(BlockingIOError):
                outcome["probe"] = listener.accept()[0]
                break
        outcome["while_pending"] = status()  # another page, answered while the probe waits
        for _ in range(10_000):
            await asyncio.sleep(0.01)
            if not status():
                outcome["down"] = True
                break

    runner = threading.Thread(target=lambda: asyncio.run(render_pages()))
    runner.start()  # its own loop: the browser tests' loop may hold this thread's
    runner.join(300)
    listener.close()
    assert outcome.get("asked_before_return") is False, "the page waited for the registry"
    assert outcome["first"] is True and outcome["while_pending"] is True
    assert "probe" in outcome, "the background probe never asked the registry"
    assert outcome.get("down"), "a registry that never answers was not reported down"
