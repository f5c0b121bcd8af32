"""Isolation matrix: alice's things against lena (another user) and admin (hub admin).

Resources of alice: her default server, a named twin server (``growth``), a Dask Gateway
cluster, a twin run with its provenance, and a private twin of carol's for the visibility row.
Dashboards (the ``twinhub-apps`` service): carol's private twin and the lab's group twin open
only for their audience and the admin (who holds ``twins:write``, as in the registry); others
get the service's 404 page, and logged-out visitors are sent to the login. A failed run carol
recorded through the dashboard service (with the OAuth token the service holds for her) is
hers, as a run from her notebook would be.
Each row is one access: who tries it, and whether it must work. Every cross-user access is
refused; every own access works; the admin may do what the hub grants admins (manage servers,
read every run with ``custom:twinhub:runs:read``, and reach users' servers: JupyterHub 5's
admin role holds ``access:servers``) and nothing more (no writing into another's run).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from twinhub.twins.publish import publish
from twinhub.twins.runs import RunRecord

from tests.support.registry import Registry
from tests.support.twins import manifest
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
GATEWAY_API = "/services/dask-gateway/api/v1/clusters"
APPS = "/services/twinhub-apps"
API = "/services/twinhub/api"
APP_TITLE = "Panel Application"  # the test twins' app: a plain Panel page
NOT_FOUND_TITLE = "Twin not found"  # the service's 404 page
PROV = {
    "prefix": {"ex": "http://example.org/twinhub/"},
    "entity": {"ex:result": {}},
    "activity": {"ex:run": {}},
    "wasGeneratedBy": {"_:g": {"prov:entity": "ex:result", "prov:activity": "ex:run"}},
}


@pytest.fixture(scope="module")
def alices(registry: Registry) -> Iterator[dict]:
    """Start every resource of alice's once for the whole matrix."""
    gw, alice = registry.gateway, registry.users["alice"]
    gw.start_server(alice)
    gw.start_server(alice, "growth")
    dask = {"Authorization": f"jupyterhub {alice.token}"}
    r = httpx.post(
        f"{gw.url}{GATEWAY_API}/", headers=dask, json={"cluster_options": {}}, timeout=60
    )
    assert r.status_code == 201, r.text
    cluster = r.json()["name"]
    wait_for(
        lambda: httpx.get(f"{gw.url}{GATEWAY_API}/{cluster}", headers=dask).json()["status"],
        until=lambda status: status == "RUNNING",
        timeout=90,
        message="alice's cluster started",
    )
    with registry.client("alice") as c:
        # a run computed elsewhere (a queued one would be a job the executor runs)
        run = c.post("/twins/growth/runs", json={"parameters": {"rate": 0.3}, "status": "running"})
        assert run.status_code == 201, run.text
        run_id = run.json()["id"]
        assert c.put(f"/runs/{run_id}/provenance", json=PROV).status_code == 200
    try:
        yield {"cluster": cluster, "run": run_id, "dashboard_run": carols_dashboard_run(registry)}
    finally:
        httpx.delete(f"{gw.url}{GATEWAY_API}/{cluster}", headers=dask, timeout=60)
        for server in ("growth", ""):
            try:
                gw.stop_server(alice, server)
            except (AssertionError, TimeoutError):
                pass  # the matrix's admin row may have stopped it already


def dashboard_token(reg: Registry, who: str, twin: str) -> str:
    """The OAuth token the dashboard service holds for ``who`` after opening ``twin``.

    The same round trip a browser makes (service login, the hub's authorize, the callback, the
    page). The service keeps the token in its signed hub-OAuth cookie and records runs for
    that person with it (``publish`` with ``pn.state.access_token``).
    """
    session = reg.users[who]
    with reg.gateway.client(cookies=session.cookies, follow_redirects=True) as c:
        page = c.get(f"{APPS}/login", params={"next": f"{APPS}/{twin}"})
        assert page_title(page) == APP_TITLE, page.text[:300]
        signed = c.cookies.get(f"service-{APPS.rsplit('/', 1)[1]}", path=f"{APPS}/")
    # tornado's signed value: 2|1:0|<time>|<name>|<length>:<base64 value>|<signature>
    return base64.b64decode(signed.split("|")[4].split(":", 1)[1]).decode()


def page_title(page: httpx.Response) -> str:
    """The page's title: rendered by the server, unlike the content (sent over a websocket)."""
    found = re.search(r"<title>([^<]*)</title>", page.text)
    return found.group(1) if found else ""


def carols_dashboard_run(reg: Registry) -> str:
    """A failed run of carol's private twin, recorded as the dashboard service records it."""
    token = dashboard_token(reg, "carol", "growth-private")
    now = datetime.now(UTC)
    record = RunRecord(
        twin="growth-private", twin_version="1.0.0", entry_point="twinhub_testtwins.growth:run",
        parameters={"rate": 0.4}, inputs=[], agent="carol", code_version="tests",
        started=now, ended=now, status="failed",
        error="SchedulerLost: the Dask scheduler was lost during the run",
    )  # fmt: skip
    where = publish(record, api_url=f"{reg.gateway.url}{API}", token=token)
    return where.url.rsplit("/", 1)[1]


def dashboard_opens(twin: str) -> Callable:
    """Whether ``who`` (None: logged out) gets the twin's dashboard from the service.

    Refused means: sent to the login, or the service's 404 page ("Twin not found", HTTP 404).
    The test twins' app is an empty Panel page, titled as such; any other page (an error) fails.
    """

    def call(reg: Registry, who: str | None, res: dict) -> bool:
        headers = reg.users[who].headers if who else {}
        with reg.gateway.client(headers=headers) as c:
            page = c.get(f"{APPS}/{twin}")
        if page.status_code in (301, 302, 303, 307):
            assert "login" in page.headers["location"], page.headers["location"]
            return False
        title = page_title(page)
        if page.status_code == 404:  # the service's "Twin not found" page, with its status
            assert title == NOT_FOUND_TITLE, f"{who}: {title!r}"
            return False
        assert page.status_code == 200, f"{who}: {page.status_code} {page.text[:300]}"
        assert title == APP_TITLE, f"{who}: {title!r}"
        return True

    return call


def hub(method: str, path: str, **kw) -> Callable:
    return lambda reg, who, res: reg.gateway.client(headers=reg.users[who].headers).request(
        method, path.format(**res), **kw
    )


def dask(method: str, path: str, **kw) -> Callable:
    def call(reg: Registry, who: str, res: dict) -> httpx.Response:
        headers = {"Authorization": f"jupyterhub {reg.users[who].token}"}
        url = f"{reg.gateway.url}{GATEWAY_API}{path.format(**res)}"
        return httpx.request(method, url, headers=headers, timeout=60, **kw)

    return call


def registry_api(method: str, path: str, **kw) -> Callable:
    return lambda reg, who, res: reg.client(who).request(method, path.format(**res), **kw)


def listed_cluster(reg: Registry, who: str, res: dict) -> bool:
    return res["cluster"] in dask("GET", "/")(reg, who, res).json()  # {name: model}


# (what, who, how, must work)
MATRIX = [
    # --- servers: the user model, the server's content, start/stop -----------------------
    ("read alice's servers", "alice", hub("GET", "/hub/api/users/alice"), True),
    ("read alice's servers", "lena", hub("GET", "/hub/api/users/alice"), False),
    ("read alice's servers", "admin", hub("GET", "/hub/api/users/alice"), True),
    ("use alice's server", "alice", hub("GET", "/user/alice/api/status"), True),
    ("use alice's server", "lena", hub("GET", "/user/alice/api/status"), False),
    ("use alice's server", "admin", hub("GET", "/user/alice/api/status"), True),
    (
        "start kernel in alice's server",
        "lena",
        hub("POST", "/user/alice/api/kernels", json={}),
        False,
    ),
    (
        "start a server for alice",
        "lena",
        hub("POST", "/hub/api/users/alice/servers/x", json={}),
        False,
    ),
    ("stop alice's server", "lena", hub("DELETE", "/hub/api/users/alice/server"), False),
    # --- named twin server ------------------------------------------------------------------
    ("use alice's twin server", "alice", hub("GET", "/user/alice/growth/api/status"), True),
    ("use alice's twin server", "lena", hub("GET", "/user/alice/growth/api/status"), False),
    (
        "stop alice's twin server",
        "lena",
        hub("DELETE", "/hub/api/users/alice/servers/growth"),
        False,
    ),
    # --- Dask clusters: list, connect (its address and TLS credentials), scale, stop -------
    ("list alice's cluster", "alice", listed_cluster, True),
    ("list alice's cluster", "lena", listed_cluster, False),
    ("connect to alice's cluster", "alice", dask("GET", "/{cluster}"), True),
    ("connect to alice's cluster", "lena", dask("GET", "/{cluster}"), False),
    ("scale alice's cluster", "lena", dask("POST", "/{cluster}/scale", json={"count": 2}), False),
    ("scale alice's cluster", "alice", dask("POST", "/{cluster}/scale", json={"count": 1}), True),
    ("stop alice's cluster", "lena", dask("DELETE", "/{cluster}"), False),
    # --- runs and provenance ----------------------------------------------------------------
    ("read alice's run", "alice", registry_api("GET", "/runs/{run}"), True),
    ("read alice's run", "lena", registry_api("GET", "/runs/{run}"), False),
    ("read alice's run", "admin", registry_api("GET", "/runs/{run}"), True),
    ("read alice's provenance", "alice", registry_api("GET", "/runs/{run}/provenance"), True),
    ("read alice's provenance", "lena", registry_api("GET", "/runs/{run}/provenance"), False),
    ("read alice's provenance", "admin", registry_api("GET", "/runs/{run}/provenance"), True),
    (
        "report on alice's run",
        "lena",
        registry_api("PATCH", "/runs/{run}", json={"status": "failed"}),
        False,
    ),
    (
        "report on alice's run",
        "admin",
        registry_api("PATCH", "/runs/{run}", json={"status": "failed"}),
        False,
    ),
    (
        "report on alice's run",
        "alice",
        registry_api("PATCH", "/runs/{run}", json={"status": "running"}),
        True,
    ),
    (
        "overwrite alice's provenance",
        "lena",
        registry_api("PUT", "/runs/{run}/provenance", json=PROV),
        False,
    ),
    # --- registry writes and private twins ---------------------------------------------------
    ("register a twin", "alice", registry_api("POST", "/twins", json=manifest("by-alice")), False),
    ("register a twin", "lena", registry_api("POST", "/twins", json=manifest("by-lena")), False),
    ("register a twin", "admin", registry_api("POST", "/twins", json=manifest("by-admin")), True),
    ("retire a twin", "alice", registry_api("DELETE", "/twins/growth"), False),
    ("read carol's private twin", "carol", registry_api("GET", "/twins/growth-private"), True),
    ("read carol's private twin", "alice", registry_api("GET", "/twins/growth-private"), False),
    (
        "run carol's private twin",
        "alice",
        registry_api("POST", "/twins/growth-private/runs", json={"parameters": {}}),
        False,
    ),
    # --- dashboards of private twins, and the runs recorded through them ------------------
    ("open carol's private dashboard", "carol", dashboard_opens("growth-private"), True),
    ("open carol's private dashboard", "admin", dashboard_opens("growth-private"), True),
    ("open carol's private dashboard", "alice", dashboard_opens("growth-private"), False),
    ("open carol's private dashboard", "lena", dashboard_opens("growth-private"), False),
    ("open carol's private dashboard", None, dashboard_opens("growth-private"), False),
    ("open the lab's dashboard", "lena", dashboard_opens("growth-lab"), True),
    ("open the lab's dashboard", "alice", dashboard_opens("growth-lab"), False),
    ("open the public dashboard", "alice", dashboard_opens("growth"), True),
    ("open the public dashboard", None, dashboard_opens("growth"), False),
    ("read carol's dashboard run", "carol", registry_api("GET", "/runs/{dashboard_run}"), True),
    ("read carol's dashboard run", "admin", registry_api("GET", "/runs/{dashboard_run}"), True),
    ("read carol's dashboard run", "alice", registry_api("GET", "/runs/{dashboard_run}"), False),
    ("read carol's dashboard run", "lena", registry_api("GET", "/runs/{dashboard_run}"), False),
    (
        "read carol's dashboard provenance",
        "carol",
        registry_api("GET", "/runs/{dashboard_run}/provenance"),
        True,
    ),
    (
        "read carol's dashboard provenance",
        "lena",
        registry_api("GET", "/runs/{dashboard_run}/provenance"),
        False,
    ),
    (
        "read carol's dashboard provenance",
        "alice",
        registry_api("GET", "/runs/{dashboard_run}/provenance"),
        False,
    ),
    (
        "list carol's dashboard run",
        "alice",
        lambda reg, who, res: (
            res["dashboard_run"] in {r["id"] for r in reg.client(who).get("/runs").json()["items"]}
        ),
        False,
    ),
    (
        "report on carol's dashboard run",
        "alice",
        registry_api("PATCH", "/runs/{dashboard_run}", json={"status": "succeeded"}),
        False,
    ),
    # --- last: the admin manages alice's servers ---------------------------------------------
    (
        "stop alice's twin server",
        "admin",
        hub("DELETE", "/hub/api/users/alice/servers/growth"),
        True,
    ),
]


@pytest.mark.parametrize(
    "what, who, how, allowed", MATRIX, ids=[f"{w}-{who}" for w, who, _, _ in MATRIX]
)
def test_isolation(registry: Registry, alices: dict, what, who, how, allowed) -> None:
    outcome = how(registry, who, alices)
    if isinstance(outcome, bool):
        assert outcome is allowed, f"{who}: {what}"
        return
    if allowed:
        assert outcome.status_code < 300, f"{who}: {what}: {outcome.status_code} {outcome.text}"
    else:
        # refused as not found (nothing is revealed) or forbidden; never a success or an error
        assert outcome.status_code in (401, 403, 404), (
            f"{who} could {what}: {outcome.status_code} {outcome.text[:300]}"
        )
