"""The Bokeh/Panel server of ``twinhub-apps``: one route for every twin, hub OAuth in front.

Started by the hub (``hub/services.py``) with ``JUPYTERHUB_*`` variables that configure
``HubOAuth``. Routes under ``JUPYTERHUB_SERVICE_PREFIX``: ``<twin>`` (the dashboard, resolved
per request), ``oauth_callback`` (the end of the hub login) and the prefix itself, which sends
people to the Twins page.
"""

from __future__ import annotations

import logging
import secrets
import signal
from urllib.parse import urlencode, urlsplit

import panel as pn
from bokeh.server import urls as bokeh_urls
from panel.io.server import DocHandler
from tornado.httputil import HTTPHeaders
from tornado.web import OutputTransform, RequestHandler
from twinhub.contracts.settings import Settings
from twinhub.extensions.accesslog import RedactSecrets
from twinhub.extensions.websecurity import COOKIE_OPTIONS, DASHBOARD_CSP, HEADERS

from ..hub_oauth import HubOAuth
from . import cluster
from .auth import (
    CALLBACK_PATH,
    LOGIN_PATH,
    TOKEN_COOKIE,
    HubAuthProvider,
    callback_handler,
    login_handler,
)
from .pages import PREFIX, hub_base, prepare, twin_page
from .urlstate import IGNORED_KEY, bounded_query

# a twin is any path segment except our own endpoints (tornado tries routes in order)
TWIN_ROUTE = rf"/(?P<twin>(?!(?:{CALLBACK_PATH}|{LOGIN_PATH})(?:$|/))[^/]+)"


class TwinDocHandler(DocHandler):
    """Panel's page handler: asks the registry first, answers with the page's status.

    Bokeh builds the page synchronously on the event loop every user shares, so the registry
    lookup happens here, awaited (``pages.prepare``), and the page reads its answer; the
    link's query is bounded here too, before Panel parses it (``urlstate.bounded_query``).
    A dashboard link to an unknown twin must be a real 404 (for browsers, crawlers and link
    checkers), yet still a friendly page: the page function renders it and marks the status on
    the session's document (``pages.mark_status``); the handler sends it before the page.
    """

    def prepare(self):
        """A link too large to read is answered with the bounded one (urlstate), before Panel,
        the page or the browser's copy of the URL parse any of it."""
        kept, dropped = bounded_query(self.request.query_arguments)
        if dropped is not None:
            self.redirect(f"{self.request.path}?{urlencode({**kept, IGNORED_KEY: dropped})}")
            return None
        return super().prepare()

    async def get_session(self):
        name = getattr(self.request, "route_params", {}).get("twin", "")
        token = self.get_signed_cookie(TOKEN_COOKIE)  # set by HubAuthProvider on this request
        await prepare(name, token.decode() if token else None)
        session = await super().get_session()
        status = getattr(session.document, "twinhub_status", None)
        if status:
            self.set_status(status)
        return session


def use_twin_doc_handler() -> None:
    """Serve every app page with :class:`TwinDocHandler` (Bokeh builds routes from this list)."""
    patterns = bokeh_urls.per_app_patterns
    for i, (route, handler, *rest) in enumerate(patterns):
        if handler is DocHandler:
            patterns[i] = (route, TwinDocHandler, *rest)


class SecurityHeaders(OutputTransform):
    """The gateway's security headers (:mod:`~twinhub.extensions.websecurity`) on every
    answer of the service: pages, static files, redirects, error pages."""

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        for name, value in {**HEADERS, "Content-Security-Policy": DASHBOARD_CSP}.items():
            headers[name] = value
        return status_code, headers, chunk


class TwinsIndex(RequestHandler):
    """The service's root: the Twins page lists what can be opened."""

    def get(self) -> None:
        self.redirect(f"{hub_base()}services/twinhub/twins")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("tornado.access").addFilter(RedactSecrets())  # no OAuth code/state
    settings = Settings.from_env()
    hub_auth = HubOAuth(cache_max_age=settings.auth_cache_seconds, cookie_options=COOKIE_OPTIONS)
    if not hub_auth.api_token:
        raise SystemExit("JUPYTERHUB_API_TOKEN is not set: twinhub-apps runs as a hub service")
    cookie_secret = secrets.token_hex(32)  # a restart only means a silent new hub login
    public = urlsplit(settings.url).netloc
    prefix = PREFIX.rstrip("/")
    use_twin_doc_handler()
    server = pn.serve(
        {TWIN_ROUTE: twin_page},
        port=settings.dashboards_port,
        address=settings.services_bind_ip,
        prefix=prefix,
        websocket_origin=[public, f"127.0.0.1:{settings.port}", f"localhost:{settings.port}"],
        auth_provider=HubAuthProvider(hub_auth, cookie_secret),
        cookie_secret=cookie_secret,
        cookie_path=PREFIX,
        extra_patterns=[
            (rf"/{CALLBACK_PATH}", callback_handler(hub_auth)),
            (rf"/{LOGIN_PATH}", login_handler(hub_auth, PREFIX)),
            (r"/?", TwinsIndex),
        ],
        show=False,
        start=False,
        title="twinhub dashboards",
    )
    # Bokeh builds the tornado app itself: our headers, and our cookie options for its XSRF
    server._tornado.transforms.append(SecurityHeaders)
    server._tornado.settings["xsrf_cookie_kwargs"] = COOKIE_OPTIONS

    def stop(*_) -> None:
        server.stop()
        server.io_loop.stop()

    signal.signal(signal.SIGTERM, lambda *_: server.io_loop.add_callback_from_signal(stop))
    try:
        server.start()
        server.io_loop.start()
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
