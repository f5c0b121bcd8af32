"""The front page on the real gateway, over HTTP as a browser talks to it: login lands on the
Twins page with each twin's figure and skill scores; a dashboard link still comes back to the
dashboard; figures are as private as their twins; unknown dashboards are real 404s."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from twinhub.catalogs import build
from twinhub.twins import showcase

from tests.support.gateway import Gateway

pytestmark = pytest.mark.integration

TWINS_PAGE = "/services/twinhub/twins"
APPS = "/services/twinhub-apps"


@pytest.fixture(scope="module")
def front(gateway: Gateway) -> Gateway:
    """The session gateway with its data and the shipped twins' showcases rendered."""
    data = gateway.settings.state_dir / "data"
    build.build_all(data)
    showcase.build_all(data)
    return gateway


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for c in opened:
        c.close()


def browser_login(
    gw: Gateway, name: str, clients: list[httpx.Client], next_url: str = ""
) -> tuple[httpx.Client, str]:
    """POST the hub's login form (with ``next`` if given); the client and where it redirects."""
    c = gw.client()
    clients.append(c)
    c.get("/hub/login")
    query = f"?next={next_url}" if next_url else ""
    r = c.post(
        f"/hub/login{query}",
        data={"username": name, "password": gw.user_password, "_xsrf": c.cookies.get("_xsrf")},
        follow_redirects=False,
    )
    assert r.status_code == 302, r.text
    return c, r.headers["location"]


def test_login_lands_on_the_twins_page_with_figures_and_skills(front: Gateway, clients) -> None:
    c, location = browser_login(front, "lara", clients)
    assert location == TWINS_PAGE
    page = c.get(location, follow_redirects=True)  # through the registry's hub OAuth
    assert page.status_code == 200 and str(page.url).endswith(TWINS_PAGE)
    html = page.text
    for name in ("flood", "drought", "extremes", "lattice", "gwnoise"):
        assert f'src="{TWINS_PAGE}/{name}/thumbnail.png"' in html
    flood = showcase.read(front.settings.state_dir / "data", "flood")
    nse = next(s for s in flood["skills"] if s["label"].startswith("NSE"))
    assert f'NSE, validation 1985-1988: <strong class="twin-skill-value">{nse["text"]}' in html
    assert 'id="own-server-start" href="/hub/spawn"' in html  # the spawn form, one click
    png = c.get(f"{TWINS_PAGE}/flood/thumbnail.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content == (front.settings.state_dir / "data/showcase/flood.png").read_bytes()
    # the spawn form is still there for the user's own server
    spawn = c.get("/hub/spawn")
    assert spawn.status_code == 200 and 'id="twinhub-profile"' in spawn.text
    # /hub/ takes a logged-in person to the same page
    assert c.get("/hub/", follow_redirects=False).headers["location"] == TWINS_PAGE


def test_a_dashboard_link_still_returns_to_the_dashboard_after_login(front, clients) -> None:
    _, location = browser_login(front, "lara", clients, f"{APPS}/flood")
    assert location == f"{APPS}/flood"
    with front.client() as anonymous:
        r = anonymous.get("/hub/", follow_redirects=False)
        assert r.headers["location"] == "/hub/login?next=%2Fhub%2F"  # the hub's own login


def test_figures_are_as_private_as_their_twins(front: Gateway) -> None:
    """A twin made private (its code stays its own package's) hides its figure from others."""
    admin = front.login("admin", front.admin_password)
    api = "/services/twinhub/api/twins/extremes"
    with front.client(headers=admin.headers) as c:
        public = c.get(api).json()["manifest"]
        mira_only = {"visibility": "private", "maintainers": [{"name": "Mira", "github": "mira"}]}
        r = c.put(api, json={**public, **mira_only})
        assert r.status_code < 300, r.text
    try:
        mira, other = front.login("mira"), front.login("otto")
        with front.client(headers=mira.headers) as c:
            assert c.get(f"{TWINS_PAGE}/extremes/thumbnail.png").status_code == 200
        with front.client(headers=other.headers) as c:
            r = c.get(f"{TWINS_PAGE}/extremes/thumbnail.png")
            assert r.status_code == 404 and "extremes" in r.json()["detail"]
            assert c.get(f"{TWINS_PAGE}/lattice/thumbnail.png").status_code == 200
            assert c.get(f"{TWINS_PAGE}/no-such/thumbnail.png").status_code == 404
    finally:
        with front.client(headers=admin.headers) as c:
            assert c.put(api, json=public).status_code < 300


def test_unknown_twin_dashboard_is_a_404_listing_the_twins(front: Gateway, clients) -> None:
    c, _ = browser_login(front, "lara", clients, f"{APPS}/no-such-twin")
    r = c.get(f"{APPS}/no-such-twin", follow_redirects=True)  # the service's OAuth round trip
    assert r.status_code == 404, r.status_code
    assert str(r.url).endswith(f"{APPS}/no-such-twin")
    assert "Traceback" not in r.text
    # the friendly page (its text arrives over Bokeh's websocket: see tests/ui)
    assert "<title>Twin not found</title>" in r.text
    assert c.get(f"{APPS}/flood", follow_redirects=True).status_code == 200
