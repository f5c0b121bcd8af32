"""The Bokeh/Panel server of one twin: the process the dashboard router starts for it.

``python -m twinhub.extensions.dashboards.server`` reads one line of JSON on stdin (see
:class:`ProcessConfig`; nothing secret travels in its environment or command line) — in a pod
(``pods.py``) from the file :data:`CONFIG_FILE_ENV` names instead, a mounted Secret — serves
the twin's app at ``<prefix><twin>`` (its websocket at ``<prefix><twin>/ws``, Bokeh's and
Panel's files at ``<prefix>static/``, as before) on a loopback port of its own choosing, and
prints ``READY <port>`` when it listens.

It trusts nobody but the router: every request must carry the process's secret
(:data:`SECRET_HEADER`), and the router names the hub user (:data:`USER_HEADER`) and hands
over their OAuth token (:data:`TOKEN_HEADER`, used to record their runs in the registry). The
process holds no platform token; it runs in the twin's environment (``extensions/runtimes.py``)
as the dashboards' account (``TWINHUB_APPS_ACCOUNT``), or for a published twin as its owner's
account (``router.twin_runtime``).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import signal
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import panel as pn
from bokeh.server import urls as bokeh_urls
from bokeh.server.auth_provider import AuthProvider
from panel.io.server import DocHandler
from tornado.httputil import HTTPHeaders
from tornado.web import HTTPError, OutputTransform, RequestHandler, create_signed_value
from twinhub.extensions.accesslog import RedactSecrets
from twinhub.extensions.websecurity import COOKIE_OPTIONS, DASHBOARD_CSP, HEADERS

from . import cluster
from .auth import TOKEN_COOKIE, USER_COOKIE
from .pages import prepare, serve_twin, twin_page
from .protocol import (
    ALIVE_PATH,
    CONFIG_FILE_ENV,
    READY_LINE,
    ROUTER_HEADERS,
    SECRET_HEADER,
    TOKEN_HEADER,
    USER_HEADER,
)
from .urlstate import IGNORED_KEY, RUN_KEY, bounded_query


@dataclass(frozen=True)
class ProcessConfig:
    """What the router hands a twin's process on stdin."""

    twin: str
    manifest: dict[str, Any]
    secret: str
    prefix: str = "/services/twinhub-apps/"
    websocket_origins: list[str] = field(default_factory=list)
    address: str = "127.0.0.1"
    """Where it listens: loopback locally; in a pod all its addresses (its NetworkPolicy lets
    only the hub pod in)."""
    port: int = 0
    """0: a free port of its choosing (locally); a fixed one in a pod (its probe's)."""


class RouterAuthProvider(AuthProvider):
    """Bokeh authentication by the router: a request without the process's secret is nobody.

    The user and their token are put on the request as Panel's signed cookies, so that
    ``pn.state.user`` and ``pn.state.access_token`` work as in any Panel app; the browser never
    gets them from here (it talks to the router only).
    """

    def __init__(self, secret: str, cookie_secret: str):
        self.secret = secret
        self.cookie_secret = cookie_secret
        super().__init__()

    @property
    def get_user(self):
        return self._user

    @property
    def login_url(self):
        return None

    @property
    def get_login_url(self):
        return lambda handler: f"/{ALIVE_PATH}"  # never used: the router logs people in

    def _user(self, handler: RequestHandler) -> str | None:
        given = handler.request.headers.get(SECRET_HEADER, "")
        user = handler.request.headers.get(USER_HEADER, "")
        if not user or not hmac.compare_digest(given.encode(), self.secret.encode()):
            return None
        values = {USER_COOKIE: user}
        if token := handler.request.headers.get(TOKEN_HEADER):
            values[TOKEN_COOKIE] = token
        for key, value in values.items():
            handler.request.cookies[key] = create_signed_value(
                self.cookie_secret, key, value
            ).decode()
        return user


class TwinDocHandler(DocHandler):
    """Panel's page handler: the link's query bounded first, the page's status kept.

    The link's query is bounded here, before Panel parses it (``urlstate.bounded_query``).
    A page may set its own status (a twin without an app: ``pages.mark_status``); the handler
    sends it before the page.
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
        token = self.get_signed_cookie(TOKEN_COOKIE)  # put there by RouterAuthProvider
        run = self.get_query_argument(RUN_KEY, None)  # bounded by prepare() above
        await prepare(name, token.decode() if token else None, run)
        session = await super().get_session()
        status = getattr(session.document, "twinhub_status", None)
        if status:
            self.set_status(status)
        return session

    def get_login_url(self) -> str:  # no login here: without the router's secret, refuse
        raise HTTPError(403, "dashboards are reached through the dashboard router only")


def use_twin_doc_handler() -> None:
    """Serve every app page with :class:`TwinDocHandler` (Bokeh builds routes from this list)."""
    patterns = bokeh_urls.per_app_patterns
    for i, (route, handler, *rest) in enumerate(patterns):
        if handler is DocHandler:
            patterns[i] = (route, TwinDocHandler, *rest)


class SecurityHeaders(OutputTransform):
    """The gateway's security headers (:mod:`~twinhub.extensions.websecurity`) on every
    answer: pages, static files, redirects, error pages (the router sets them again)."""

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        for name, value in {**HEADERS, "Content-Security-Policy": DASHBOARD_CSP}.items():
            headers[name] = value
        return status_code, headers, chunk


class Alive(RequestHandler):
    """The watchdog's question: answered at once unless the event loop is stuck."""

    def get(self) -> None:
        self.finish("alive")


def read_config(stream=sys.stdin, environ=os.environ) -> ProcessConfig:
    path = environ.get(CONFIG_FILE_ENV)
    if path:
        with open(path, encoding="utf-8") as file:
            return ProcessConfig(**json.loads(file.readline()))
    raw = json.loads(stream.readline())
    return ProcessConfig(**raw)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("tornado.access").addFilter(RedactSecrets())
    config = read_config()
    serve_twin(config.twin, config.manifest)
    cookie_secret = secrets.token_hex(32)
    use_twin_doc_handler()
    server = pn.serve(
        {f"/{config.twin}": twin_page},  # today's URLs: the router forwards paths unchanged
        port=config.port,
        address=config.address,
        prefix=config.prefix.rstrip("/"),
        websocket_origin=config.websocket_origins or None,
        auth_provider=RouterAuthProvider(config.secret, cookie_secret),
        cookie_secret=cookie_secret,
        exclude_headers=list(ROUTER_HEADERS),
        extra_patterns=[(rf"/{config.twin}/{ALIVE_PATH}", Alive)],
        show=False,
        start=False,
        title=f"twinhub: {config.twin}",
    )
    server._tornado.transforms.append(SecurityHeaders)
    server._tornado.settings["xsrf_cookie_kwargs"] = COOKIE_OPTIONS

    def stop(*_) -> None:
        server.stop()
        server.io_loop.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.io_loop.add_callback_from_signal(stop))
    server.start()
    print(f"{READY_LINE}{server.port}", flush=True)
    try:
        server.io_loop.start()
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
