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
from urllib.parse import urlsplit

import panel as pn
from bokeh.server import urls as bokeh_urls
from panel.io.server import DocHandler
from tornado.web import RequestHandler
from twinhub.hub.settings import Settings

from ..hub_oauth import HubOAuth
from . import cluster
from .auth import CALLBACK_PATH, LOGIN_PATH, HubAuthProvider, callback_handler, login_handler
from .pages import PREFIX, hub_base, twin_page

# a twin is any path segment except our own endpoints (tornado tries routes in order)
TWIN_ROUTE = rf"/(?P<twin>(?!(?:{CALLBACK_PATH}|{LOGIN_PATH})(?:$|/))[^/]+)"


class TwinDocHandler(DocHandler):
    """Panel's page handler, answering with the status the page asked for (404, 503...).

    A dashboard link to an unknown twin must be a real 404 (for browsers, crawlers and link
    checkers), yet still a friendly page: the page function renders it and marks the status on
    the session's document (``pages.mark_status``); the handler sends it before the page.
    """

    async def get_session(self):
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


class TwinsIndex(RequestHandler):
    """The service's root: the Twins page lists what can be opened."""

    def get(self) -> None:
        self.redirect(f"{hub_base()}services/twinhub/twins")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    hub_auth = HubOAuth(cache_max_age=settings.auth_cache_seconds)
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
