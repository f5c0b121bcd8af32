"""``dask-gateway`` as the hub sees it: the gateway's API passed through, dashboards for owners.

dask-gateway-server's own proxy serves every cluster's dashboard (status, task stream, logs,
identity, metrics: ``<prefix>/clusters/<name>/...``) to anyone who knows the cluster's name,
and the name travels in every ``dashboard_link``. This service takes the hub's route of the
gateway (``/services/dask-gateway/``) and forwards to the gateway's HTTP proxy on loopback:

- ``api/...`` (the REST API the ``dask_gateway`` client speaks) passes through as it is: the
  gateway authenticates it with the user's hub token, as before;
- ``clusters/<name>/...`` (dashboards) needs a hub login (JupyterHub's OAuth, as every hub
  service): a browser without one is sent to the hub's login and back, an API client gets 401.
  Then the gateway's API is asked, with the user's token, whether the cluster is theirs; only
  the owner gets the page (hub admins too are refused: the gateway shows a cluster to its owner
  only). Anyone else gets 404, for a cluster that exists as for one that does not.

Settings come from the hub (``JUPYTERHUB_SERVICE_URL``/``_PREFIX``, the OAuth variables) and
``TWINHUB_GATEWAY_UPSTREAM``, the gateway's HTTP proxy (``http://127.0.0.1:<port>``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
from urllib.parse import quote, urlsplit

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.web import Application, HTTPError, RequestHandler
from twinhub.contracts.names import GATEWAY_PREFIX

from . import UPSTREAM_ENV
from .dashboard_key import HEADER, SECRET_ENV, cluster_key
from .forward import MAX_MESSAGE, WebSocketRelay, forward_http

log = logging.getLogger("twinhub.gateway_front")
CLUSTER_NAME = r"[0-9A-Za-z._-]{1,100}"
OWNER_CACHE_SECONDS = 30.0
"""How long an answer "this cluster is (not) yours" is reused: a dashboard page loads dozens
of files, each would otherwise cost a call to the gateway (and the hub, for the token)."""


class Owners:
    """Whose clusters are whose, asked of the gateway's API with the user's own token."""

    def __init__(self, api: str):
        self.api = api
        self._known: dict[tuple[str, str], tuple[bool, float]] = {}

    async def owns(self, user: str, token: str, cluster: str) -> bool:
        now = time.monotonic()
        known = self._known.get((user, cluster))
        if known and known[1] > now:
            return known[0]
        request = HTTPRequest(
            f"{self.api}/clusters/{quote(cluster, safe='')}",
            headers={"Authorization": f"jupyterhub {token}"},
            request_timeout=30,
        )
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
        if response.code not in (200, 403, 404):
            raise HTTPError(502, f"Dask Gateway answered {response.code} about the cluster")
        owned = response.code == 200 and json.loads(response.body).get("name") == cluster
        if len(self._known) > 10_000:  # bounded: forget everything rather than grow
            self._known.clear()
        self._known[(user, cluster)] = (owned, now + OWNER_CACHE_SECONDS)
        return owned


class OwnerOnly(HubOAuthenticated):
    """Let a request through only from the hub user who owns the cluster in its path."""

    hub_auth: HubOAuth
    owners: Owners

    def initialize(self, hub_auth: HubOAuth, owners: Owners, upstream: str, secret: str) -> None:
        self.hub_auth, self.owners, self.upstream = hub_auth, owners, upstream
        self.secret = secret

    def get_current_user(self):  # resolved in check_owner, without blocking the event loop
        return self._user

    _user = None

    def wants_html(self) -> bool:
        return "text/html" in self.request.headers.get("Accept", "")

    async def check_owner(self, cluster: str) -> None:
        """Raise (or redirect) unless the request's hub user owns ``cluster``."""
        self._user = await self.hub_auth.get_user(self, sync=False)
        if not self._user:
            if self.request.method in ("GET", "HEAD") and self.wants_html():
                self.redirect(self.get_login_url())
                raise _Answered()
            raise HTTPError(401, "log in to the hub to open Dask dashboards")
        token = self.hub_auth.get_token(self)
        if not token or not await self.owners.owns(self._user["name"], token, cluster):
            raise HTTPError(404, f"no Dask cluster {cluster} of yours")

    def upstream_path(self) -> str:
        return f"{self.upstream}{self.request.uri}"

    def key_header(self, cluster: str) -> dict[str, str]:
        """The cluster's dashboard key, which its scheduler asks for (dashboard_key.py)."""
        return {HEADER: cluster_key(self.secret, cluster)} if self.secret else {}


class _Answered(Exception):
    """The request was answered (a redirect to the login) while checking it."""


class DashboardHandler(OwnerOnly, RequestHandler):
    """A cluster's dashboard pages, for its owner."""

    async def _serve(self, cluster: str, _rest: str = "") -> None:
        try:
            await self.check_owner(cluster)
        except _Answered:
            return
        await forward_http(
            self, self.upstream_path(), private=False, extra_headers=self.key_header(cluster)
        )

    get = head = post = put = patch = delete = options = _serve

    def write_error(self, status_code: int, **kwargs) -> None:
        reason = kwargs.get("exc_info", (None, None))[1]
        message = getattr(reason, "log_message", None) or self._reason
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: {message}\n")


class DashboardSocket(OwnerOnly, WebSocketRelay):
    """A dashboard's websocket (Bokeh's ``.../ws``), for the cluster's owner."""

    def upstream_url(self) -> str:
        return "ws" + self.upstream_path()[len("http") :]

    def upstream_headers(self) -> dict[str, str]:
        return self.key_header(self.path_args[0])

    def get_compression_options(self):
        return None

    async def get(self, cluster: str, rest: str = "") -> None:
        try:
            await self.check_owner(cluster)
        except _Answered:
            return
        except HTTPError as e:
            self.set_status(e.status_code)
            self.finish(f"{e.status_code}: {e.log_message}\n")
            return
        await self.relay(cluster, rest)


class PassThrough(RequestHandler):
    """Everything else (the gateway's REST API): the gateway authenticates it itself."""

    def initialize(self, upstream: str) -> None:
        self.upstream = upstream

    async def _serve(self, *_args: str) -> None:
        await forward_http(self, f"{self.upstream}{self.request.uri}", private=True)

    get = head = post = put = patch = delete = options = _serve


def make_app(prefix: str, upstream: str, hub_auth: HubOAuth, secret: str = "") -> Application:
    """``secret``: the platform's dashboard secret (without it, schedulers refuse every page)."""
    owners = Owners(f"{upstream}{prefix}api/v1")
    cluster = rf"{re.escape(prefix)}clusters/({CLUSTER_NAME})"
    args = {"hub_auth": hub_auth, "owners": owners, "upstream": upstream, "secret": secret}
    return Application(
        [
            (rf"{re.escape(prefix)}oauth_callback", HubOAuthCallbackHandler),
            (rf"{cluster}(/.*/ws)$", DashboardSocket, args),
            (rf"{cluster}(/.*)?$", DashboardHandler, args),
            (r".*", PassThrough, {"upstream": upstream}),
        ],
        hub_auth=hub_auth,
        cookie_secret=os.urandom(32),  # a restart only means a silent new hub login
        websocket_max_message_size=MAX_MESSAGE,
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    upstream = os.environ.get(UPSTREAM_ENV, "").rstrip("/")
    if not upstream:
        raise SystemExit(f"{UPSTREAM_ENV} is not set: the gateway front runs as a hub service")
    # the singleton: the OAuth callback handler (JupyterHub's) uses HubOAuth.instance()
    hub_auth = HubOAuth.instance(cache_max_age=60)
    if not hub_auth.api_token:
        raise SystemExit("JUPYTERHUB_API_TOKEN is not set: the gateway front runs as a hub service")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"{GATEWAY_PREFIX}/")
    url = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8008"))
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        log.warning("%s is not set: Dask dashboards will refuse every request", SECRET_ENV)
    server = HTTPServer(make_app(prefix, upstream, hub_auth, secret), xheaders=True)
    server.listen(url.port or 80, url.hostname or "127.0.0.1")
    log.info("Dask Gateway front at %s%s, forwarding to %s", url.netloc, prefix, upstream)
    loop = IOLoop.current()
    # the hub stops it with SIGTERM; Ctrl-C on the launcher reaches its whole group (SIGINT)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: loop.add_callback_from_signal(loop.stop))
    loop.start()


if __name__ == "__main__":
    main()
