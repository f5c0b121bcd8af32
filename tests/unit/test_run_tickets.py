"""Run tickets: what a twin's dashboard process holds instead of its visitors' hub tokens."""

from __future__ import annotations

import time

import pytest
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import Match
from twinhub.extensions import run_tickets
from twinhub.extensions.registry.auth import _ticket_user
from twinhub.extensions.registry.errors import Forbidden

SECRET = "s" * 43


PREFIX = "/services/twinhub"
ROUTES = [  # the registry's routes as FastAPI matches them (api.py, processes.py)
    APIRoute(f"{PREFIX}{path}", lambda: None, methods=[method])
    for method, path in [
        ("POST", "/api/twins/{name}/runs"),
        ("PUT", "/api/runs/{run_id}/provenance"),
        ("GET", "/api/runs"),
        ("GET", "/api/runs/{run_id}/provenance"),
        ("GET", "/api/runs/{run_id}"),
        ("PATCH", "/api/runs/{run_id}"),
        ("POST", "/api/twins"),
        ("DELETE", "/api/twins/{name}"),
        ("POST", "/ogcapi/processes/{process_id}/execution"),
    ]
]


def request(method: str, path: str) -> Request:
    """The request as the registry's dependencies see it: after routing."""
    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    for route in ROUTES:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return Request({**scope, **child})
    return Request(scope)  # no route: a 404 for FastAPI


def test_a_ticket_names_its_user_twin_and_groups() -> None:
    token = run_tickets.issue(SECRET, "nina", "flood", ["hydrology"])
    ticket = run_tickets.verify(SECRET, token)
    assert (ticket.user, ticket.twin, ticket.groups) == ("nina", "flood", {"hydrology"})


def test_a_ticket_is_no_jwt_to_panel() -> None:
    """pn.state.access_token decodes a three-part dotted token as a JWT and fails on it."""
    from panel.util import decode_token

    with pytest.raises(Exception):  # noqa: B017 - whatever it raises, it is no JWT
        decode_token(run_tickets.issue(SECRET, "nina", "flood"))


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
        lambda t: t.replace(
            t.split("~")[1], run_tickets.issue("x", "admin", "flood").split("~")[1]
        ),
        lambda t: t + "x" * run_tickets.MAX_LENGTH,  # too long to look at
        lambda t: t.split("~", 2)[0] + "~e30~" + t.rsplit("~", 1)[1],  # '{}' as the payload
        lambda t: "twinhub-run~",
    ],
)
def test_forged_tickets_are_refused(forge) -> None:
    token = run_tickets.issue(SECRET, "nina", "flood")
    assert run_tickets.verify(SECRET, forge(token)) is None


def test_a_ticket_of_another_secret_or_past_its_time_is_refused() -> None:
    token = run_tickets.issue(SECRET, "nina", "flood")
    assert run_tickets.verify("another secret", token) is None
    assert run_tickets.verify("", token) is None  # a registry without the secret: no tickets
    later = time.time() + run_tickets.LIFETIME + 1
    assert run_tickets.verify(SECRET, token, now=later) is None


def test_a_ticket_records_runs_of_its_twin_and_does_nothing_else() -> None:
    token = run_tickets.issue(SECRET, "nina", "flood", ["hydrology"])
    ticket = run_tickets.verify(SECRET, token)
    base = f"{PREFIX}/api"
    user = _ticket_user(ticket, token, request("POST", f"{base}/twins/flood/runs"))
    assert (user.name, user.ticket_twin, user.groups, user.scopes) == (
        "nina", "flood", {"hydrology"}, frozenset()
    )  # fmt: skip
    assert _ticket_user(ticket, token, request("PUT", f"{base}/runs/abc/provenance"))
    assert _ticket_user(ticket, token, request("GET", f"{base}/runs/abc"))  # a run link
    for method, path in [
        ("POST", f"{base}/twins/lattice/runs"),  # another twin's runs
        ("GET", f"{base}/runs"),  # the visitor's runs
        ("GET", f"{base}/runs/abc/provenance"),
        ("PATCH", f"{base}/runs/abc"),
        ("POST", f"{base}/twins"),  # publishing in the visitor's name
        ("POST", f"{base}/twins/flood/runs/extra"),
        ("POST", f"{base}/twins/flood/runs{'/x' * 500}/api/twins/flood/runs"),
        ("POST", f"{PREFIX}/ogcapi/processes/flood/execution"),
        ("DELETE", f"{base}/twins/flood"),
    ]:
        with pytest.raises(Forbidden):
            _ticket_user(ticket, token, request(method, path))
