"""The dashboard service's answers carry the gateway's security policy, as the hub's and the
registry's do: no framing, nosniff, a content policy of our own origin, SameSite cookies."""

from __future__ import annotations

import http.client
import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.support.gateway import Gateway

from .conftest import APPS, dashboard_browser, open_dashboard

pytestmark = pytest.mark.integration


def assert_policy(r: httpx.Response) -> None:
    where = f"{r.request.method} {r.url.path} ({r.status_code})"
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, where  # the hub's rule
    assert "default-src 'self'" in csp and "object-src 'none'" in csp, where
    assert r.headers.get("x-frame-options") == "DENY", where
    assert r.headers.get("x-content-type-options") == "nosniff", where
    assert r.headers.get("referrer-policy") == "same-origin", where


def service_answers(r: httpx.Response) -> list[httpx.Response]:
    """Every answer of the dashboard service in a followed chain (the hub's are its own)."""
    return [x for x in [*r.history, r] if x.url.path.startswith(APPS)]


def test_pages_redirects_and_error_pages_send_the_gateways_security_headers(
    dashboards: Gateway,
) -> None:
    with dashboard_browser(dashboards, "hedy") as c:
        page = open_dashboard(c, "flood")  # login round trip: login, callback, page
        assert page.status_code == 200, page.text[:300]
        chain = service_answers(page)
        assert len(chain) >= 3, [x.url.path for x in chain]
        missing = open_dashboard(c, "no-such-twin")  # the service's 404 page
        assert missing.status_code == 404
        unrouted = c.get(f"{APPS}/no/such/path")  # tornado's own 404
        assert unrouted.status_code == 404
        index = c.get(f"{APPS}/")  # the redirect to the Twins page
        assert index.status_code == 302
        static = c.get(f"{APPS}/static/js/bokeh.min.js")
        assert static.status_code == 200
    for r in [*chain, missing, unrouted, index, static]:
        assert_policy(r)


def test_dashboard_cookies_are_http_only_and_same_site(dashboards: Gateway) -> None:
    with dashboard_browser(dashboards, "hedy") as c:
        page = open_dashboard(c, "flood")
        assert page.status_code == 200
        set_cookies = [
            (x.url.path, v) for x in service_answers(page) for v in x.headers.get_list("set-cookie")
        ]
    live = [(path, v) for path, v in set_cookies if not v.split(";")[0].endswith(("=", '=""'))]
    names = {v.split("=", 1)[0] for _, v in live}  # cookies being cleared carry no options
    # the OAuth state cookie, the service's login cookie (the user's token) and tornado's XSRF
    assert {"service-twinhub-apps-oauth-state", "service-twinhub-apps", "_xsrf"} <= names, names
    for path, value in live:
        lowered = value.lower()
        assert "httponly" in lowered and "samesite=lax" in lowered, (path, value)


def test_a_pages_module_scripts_load_as_the_browser_fetches_them(dashboards: Gateway) -> None:
    """Panel's FAST components are ``<script type="module">``: the browser fetches them in CORS
    mode, and the hub's OAuth does not take a cookie login from such a request without an XSRF
    token. They were sent to the login (302, then a failed OAuth round trip), so the page's
    header components never loaded."""
    as_module = {
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Dest": "script",
        "Origin": dashboards.url,
        "Referer": f"{dashboards.url}{APPS}/flood",
    }
    with dashboard_browser(dashboards, "hedy") as c:
        page = open_dashboard(c, "flood")
        assert page.status_code == 200
        # every module script the page names (FAST's are npm paths: @scope/name@version)
        modules = re.findall(r'<script[^>]*type="module"[^>]*src="([^"]+)"', page.text)
        modules += re.findall(r'<script[^>]*src="([^"]+)"[^>]*type="module"', page.text)
        assert any("@" in src for src in modules), modules
        for src in modules:
            script = c.get(urljoin(str(page.url), src), headers=as_module, follow_redirects=False)
            assert script.status_code == 200, (src, script.status_code)
            assert "javascript" in script.headers["content-type"], src
            assert_policy(script)
    module = urljoin(str(page.url), modules[0])
    # a twin's own files stay behind the login: without a session, the login page, however
    # the path is spelt (other extensions than Panel's, dot segments, escapes)
    own_files = [
        "components/twinhub_hostile/app.js",
        "static/extensions/twinhub_hostile/index.js",
        "static/extensions/panel/../twinhub_hostile/index.js",
        "static/extensions/panel/%2e%2e/twinhub_hostile/index.js",
        "static/js/../extensions/twinhub_hostile/index.js",
    ]
    for path in own_files:
        status, location = _raw_get(dashboards.url, f"{APPS}/{path}", as_module)
        assert status == 302 and "/login" in location, (path, status, location)
    with httpx.Client(base_url=dashboards.url, timeout=60) as anonymous:
        library = anonymous.get(module, headers=as_module)  # still served to a module script
    assert library.status_code == 200, library.status_code


def _raw_get(base_url: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """A GET with the path as written (httpx would resolve ``..`` before sending it)."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.getheader("location") or ""
    finally:
        connection.close()
