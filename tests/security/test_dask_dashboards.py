"""Dask dashboards belong to their cluster's owner (issue 16, section 2).

Alice's cluster's pages under the hub's proxy (status, task stream, logs, workers, metrics)
open for her once she is logged in to the hub; Bob, logged in too, gets 404 whether or not
he knows the name; without a hub session a browser is sent to the hub's login, an API client
gets 401. The gateway's REST API keeps working with a token, as the ``dask_gateway`` client
uses it.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.gateway import Gateway, Session, dask_gateway_api, start_cluster

pytestmark = pytest.mark.integration
PAGES = ("status", "tasks", "info/main/logs.html", "info/main/workers.html", "metrics")
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(scope="module")
def alice(gateway: Gateway) -> Session:
    return gateway.login("alice")


@pytest.fixture(scope="module")
def bob(gateway: Gateway) -> Session:
    return gateway.login("bob")


@pytest.fixture(scope="module")
def cluster(gateway: Gateway, alice: Session) -> Iterator[str]:
    with dask_gateway_api(gateway, alice) as api:
        name = start_cluster(api)
        try:
            yield name
        finally:
            api.delete(f"/clusters/{name}")


def browser(gateway: Gateway, user: Session | None) -> httpx.Client:
    """A browser with the user's hub session (or none) that follows the OAuth redirects."""
    cookies = httpx.Cookies(user.cookies) if user else None
    return httpx.Client(
        base_url=gateway.url, cookies=cookies, headers=BROWSER, timeout=60, follow_redirects=True
    )


def page_url(cluster: str, page: str) -> str:
    return f"/services/dask-gateway/clusters/{cluster}/{page}"


def test_the_owner_opens_every_dashboard_page_and_another_user_none(
    gateway: Gateway, alice: Session, bob: Session, cluster: str
) -> None:
    with browser(gateway, alice) as hers, browser(gateway, bob) as his:
        for page in PAGES:
            mine = hers.get(page_url(cluster, page))
            assert mine.status_code == 200, (page, mine.status_code, mine.text[:300])
            assert mine.url.path == page_url(cluster, page)  # after the hub's OAuth round trip
            theirs = his.get(page_url(cluster, page))
            assert theirs.status_code == 404, (page, theirs.status_code)
            assert cluster not in theirs.text or "of yours" in theirs.text
        assert "Dask" in hers.get(page_url(cluster, "status")).text


def test_a_name_that_is_no_cluster_is_404_like_another_users(
    gateway: Gateway, bob: Session, cluster: str
) -> None:
    with browser(gateway, bob) as his:
        assert his.get(page_url("0" * 32, "status")).status_code == 404


def test_a_browser_without_a_hub_session_is_sent_to_the_hub_login(
    gateway: Gateway, cluster: str
) -> None:
    with browser(gateway, None) as anonymous:
        first = anonymous.get(page_url(cluster, "status"), follow_redirects=False)
        assert first.status_code == 302
        assert "/hub/api/oauth2/authorize" in first.headers["location"]
        landed = anonymous.get(page_url(cluster, "status"))
        assert landed.url.path == "/hub/login"


def test_an_api_client_without_a_session_gets_401(gateway: Gateway, cluster: str) -> None:
    for page in PAGES:
        r = httpx.get(
            f"{gateway.url}{page_url(cluster, page)}",
            headers={"Accept": "application/json"},
            timeout=30,
        )
        assert r.status_code == 401, (page, r.status_code)


def test_a_hub_token_is_no_way_into_another_users_dashboard(
    gateway: Gateway, bob: Session, cluster: str
) -> None:
    """Bob's API token reaches the gateway's API (his clusters), not Alice's dashboard."""
    for auth in (f"token {bob.token}", f"jupyterhub {bob.token}"):
        r = httpx.get(
            f"{gateway.url}{page_url(cluster, 'status')}",
            headers={"Authorization": auth},
            timeout=30,
        )
        assert r.status_code in (401, 403, 404), (auth, r.status_code)
    with dask_gateway_api(gateway, bob) as api:
        assert api.get("/clusters/").status_code == 200  # the API itself still works
