"""OAuth ``code`` and ``state`` never reach a log in clear: after real hub logins to the
dashboard service and to the registry, the gateway's log (every service's output) holds their
callbacks with the values redacted, as the hub's own access log does."""

from __future__ import annotations

import pytest

from tests.support.gateway import Gateway

from .conftest import dashboard_browser, until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("service", "path"),
    [("twinhub-apps", "no-such-twin"), ("twinhub", "twins")],
    ids=["dashboards", "registry"],
)
def test_oauth_code_and_state_are_redacted_in_access_logs(
    dashboards: Gateway, service: str, path: str
) -> None:
    with dashboard_browser(dashboards, "logan") as c:
        r = c.get(f"/services/{service}/{path}", follow_redirects=True)
        assert r.status_code in (200, 404), r.text[:300]
        assert c.oauth, "no OAuth callback happened"  # type: ignore[attr-defined]
        secrets = [v for cb in c.oauth for k, v in cb.items() if k in ("code", "state")]  # type: ignore[attr-defined]
    assert len(secrets) >= 2
    callback = f"/services/{service}/oauth_callback?code=[secret]"
    log = until(dashboards.log, lambda text: callback in text, f"the {service} callback logged")
    for secret in secrets:
        assert secret not in log, f"{service}: an OAuth value is in the log in clear"
