"""Security headers and cookies of the registry's pages, CSRF protection of browser writes, and
no token in any log of the session."""

from __future__ import annotations

import re
from contextlib import closing

import httpx
import pytest

from tests.support.registry import Registry
from tests.support.twins import manifest

pytestmark = pytest.mark.integration
PREFIX = "/services/twinhub"


def browser(registry: Registry, who: str) -> tuple[httpx.Client, httpx.Response]:
    """A browser of a logged-in hub user that opened the Twins page (hub OAuth done)."""
    c = registry.gateway.client(cookies=registry.users[who].cookies, follow_redirects=True)
    page = c.get(f"{PREFIX}/twins")
    assert page.status_code == 200 and str(page.url).endswith("/twins"), page.url
    return c, page


def test_pages_and_api_send_security_headers_compatible_with_the_hub(registry: Registry) -> None:
    c, page = browser(registry, "alice")
    with closing(c):
        api = c.get(f"{PREFIX}/api/twins")
        hub = c.get("/hub/home")
    hub_csp = hub.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in hub_csp
    for r in (page, api):
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp  # the hub's rule, kept
        assert "script-src 'self'" in csp and "default-src 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"


def test_registry_cookie_is_http_only_and_same_site(registry: Registry) -> None:
    with registry.gateway.client(cookies=registry.users["alice"].cookies) as c:
        start = c.get(f"{PREFIX}/twins")  # -> the hub's authorize URL, state cookie set
        assert start.status_code == 302
        state_cookie = start.headers["set-cookie"].lower()
        authorize = c.get(start.headers["location"])
        callback = c.get(authorize.headers["location"])
    assert callback.status_code == 302
    set_cookies = [v.lower() for v in callback.headers.get_list("set-cookie")]
    session = [v for v in set_cookies if v.startswith("service-twinhub=")]
    assert len(session) == 1, set_cookies  # the registry's login cookie (the user's token)
    for value in [state_cookie, session[0]]:
        assert "httponly" in value and "samesite=lax" in value, value
        # Secure is set when the gateway is served over https (see pages.oauth_callback)
        assert "secure" not in value


def test_cookie_authenticated_write_without_xsrf_token_is_refused(registry: Registry) -> None:
    c, page = browser(registry, "admin")
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text).group(1)
    with closing(c):
        forged = c.post(f"{PREFIX}/api/twins", json=manifest("csrf-forged"))
        assert forged.status_code == 403
        assert "XSRF" in forged.json()["detail"]
        assert c.get(f"{PREFIX}/api/twins/csrf-forged").status_code == 404  # nothing stored
        wrong = c.post(
            f"{PREFIX}/api/twins", json=manifest("csrf-forged"), headers={"X-XSRFToken": "x"}
        )
        assert wrong.status_code == 403
        other = browser(registry, "alice")[1]  # another user's token is no good either
        alices = re.search(r'name="xsrf" value="([^"]+)"', other.text).group(1)
        assert (
            c.delete(f"{PREFIX}/api/twins/growth", headers={"X-XSRFToken": alices}).status_code
            == 403
        )
        ok = c.post(f"{PREFIX}/api/twins", json=manifest("csrf-ok"), headers={"X-XSRFToken": xsrf})
        assert ok.status_code == 201, ok.text
        assert c.get(f"{PREFIX}/api/twins/growth").status_code == 200  # reads need no token
    # programs with a token in the header are not exposed to CSRF: no XSRF token needed
    with registry.client("admin") as api:
        assert api.delete("/twins/csrf-ok").status_code == 200


def test_no_token_of_the_session_is_logged(registry: Registry) -> None:
    # make sure every user has used their token, with the registry and the hub
    for who in registry.users:
        with registry.client(who) as c:
            assert c.get("/twins").status_code == 200
    log = registry.gateway.log()
    assert "/services/twinhub/api/twins" in log  # the registry's access log is in it
    leaked = [who for who, s in registry.users.items() if s.token in log]
    assert not leaked, f"tokens of {leaked} appear in the gateway log"
