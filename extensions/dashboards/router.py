"""The ``twinhub-apps`` service: hub login in front, each twin's dashboard in a process of its own.

Started by the hub (``hub/services.py``) with ``JUPYTERHUB_*`` variables that configure
``HubOAuth``. It keeps the URLs of the single dashboard server it replaces, under
``JUPYTERHUB_SERVICE_PREFIX``:

- ``<twin>`` (with the widget state in the query), ``<twin>/ws`` and everything else below a
  twin: the user is logged in through the hub, the registry says (as that user) whether they
  may open the twin and with which manifest, then the request goes to the twin's process
  (:mod:`.supervisor`) unchanged, with the user named in headers only the process can trust;
- ``static/...`` and ``components/...`` (Bokeh's and Panel's files, shared by every page): to
  the process of the twin whose page asks for them (its ``Referer``), else of the twin this
  user opened last, so a twin's process only ever serves files to its own pages;
- ``login`` and ``oauth_callback`` (the hub login round trip), and the prefix itself, which
  sends people to the Twins page.

The router runs no twin code and imports no Panel: a twin that crashes, hangs, loops or
reads what it should not is a process of its own, without tokens. On a root platform a shipped
twin's process runs as the dashboards' account (``TWINHUB_APPS_ACCOUNT``) and a published twin's
as its owner's unix account (:func:`twin_runtime`), so one user's twin cannot read, signal or
trace another's process, nor the run tickets of its visitors.
"""

from __future__ import annotations

import html
import logging
import os
import pwd
import re
import signal
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPHeaders
from tornado.ioloop import IOLoop
from tornado.web import Application, HTTPError, OutputTransform, RequestHandler, removeslash
from twinhub.contracts.settings import Settings
from twinhub.extensions.accesslog import RedactSecrets
from twinhub.extensions.accounts import AccountTable
from twinhub.extensions.gateway_front.forward import MAX_MESSAGE, WebSocketRelay, forward_http
from twinhub.extensions.runtimes import SERVED, published_dir, runtime_python
from twinhub.extensions.websecurity import COOKIE_OPTIONS, DASHBOARD_CSP, HEADERS

from .. import run_tickets
from ..hub_oauth import HubOAuth
from .auth import CALLBACK_PATH, LOGIN_PATH, callback_handler, login_handler
from .registry import RegistryUnavailable, TwinDirectory, TwinLookup
from .supervisor import Launch, Launcher, Runtime, StartFailed, Supervisor, TwinProcess, Unavailable

log = logging.getLogger("twinhub.dashboards.router")
SHARED_FILES = ("static", "components")
"""Top-level paths of Bokeh/Panel files every page loads (not twins)."""
RESERVED = (CALLBACK_PATH, LOGIN_PATH, *SHARED_FILES)
LIBRARY_FILES = re.compile(r"static/(?:js|extensions/panel)(?:/[\w@+-][\w.@+-]{0,200}){1,20}")
"""Bokeh's and Panel's own files, the same for every twin: the only shared files served without
a login. Segments (npm's ``@scope/name@version`` ones too) never start with a dot and hold no
``%`` escapes, so ``..`` cannot climb out to ``static/extensions/<package>``, where a twin's own
Bokeh models would be."""
TWIN = r"[^/]{1,100}"
NO_COOKIES = frozenset(("set-cookie",))
"""A twin's process never sets cookies on the gateway's origin (the hub's are there)."""
LAST_TWINS = 10_000
"""Users whose last opened twin is remembered (for shared files without a ``Referer``)."""
PROCESS_SECRETS = ("TWINHUB_DATABASE_URL", "TWINHUB_GATEWAY_DATABASE_URL")
"""Settings that are the platform's alone (the registry's and the gateway's database URLs may hold
a password)."""
HUB_LOGIN_SETTINGS = "TWINHUB_OIDC_"
"""The hub's login provider: no business of a twin's."""


def hub_base() -> str:
    return os.environ.get("JUPYTERHUB_BASE_URL", "/")


class SecurityHeaders(OutputTransform):
    """The gateway's security headers on every answer, forwarded ones included: whatever a
    twin's process sends, the browser gets the gateway's policy."""

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        for name, value in {**HEADERS, "Content-Security-Policy": DASHBOARD_CSP}.items():
            headers[name] = value
        return status_code, headers, chunk


class Router:
    """What the handlers share: hub login, the registry as the user, the twins' processes."""

    def __init__(
        self, hub_auth: HubOAuth, supervisor: Supervisor, prefix: str, ticket_secret: str = ""
    ):
        self.hub_auth = hub_auth
        self.ticket_secret = ticket_secret
        self.supervisor = supervisor
        self.prefix = prefix
        self.directory = TwinDirectory()
        self.last_twin: OrderedDict[str, str] = OrderedDict()

    def opened(self, user: str, twin: str) -> None:
        self.last_twin.pop(user, None)
        self.last_twin[user] = twin
        while len(self.last_twin) > LAST_TWINS:
            self.last_twin.popitem(last=False)


class _Answered(Exception):
    """The request was answered while checking it (a login redirect, an error page)."""


class RouterHandler(RequestHandler):
    """Hub login and the registry's word before anything reaches a twin's process."""

    router: Router
    user: str
    token: str | None
    groups: list[str]

    def initialize(self, router: Router) -> None:
        self.router = router

    async def login(self) -> None:
        """Who is asking (the hub's answer, cached); a browser without a login goes to it."""
        model = await self.router.hub_auth.get_user(self, sync=False)
        if not model:
            if self.request.method in ("GET", "HEAD"):  # a link opened: log in and come back
                next_url = self.request.uri or self.router.prefix
                self.redirect(f"{self.router.prefix}{LOGIN_PATH}?{urlencode({'next': next_url})}")
                raise _Answered()
            raise HTTPError(401, "log in to the hub to open dashboards")
        self.user = model["name"]
        self.groups = list(model.get("groups") or ())
        self.token = self.router.hub_auth.get_token(self)

    def run_ticket(self, twin: str) -> str | None:
        """What the twin's process gets in place of the user's token: the right to record
        this user's runs of this twin, and nothing else (extensions/run_tickets.py)."""
        if not self.router.ticket_secret:
            return None  # runs are kept as files in the process's folder, not in the registry
        return run_tickets.issue(self.router.ticket_secret, self.user, twin, self.groups)

    async def manifest(self, twin: str) -> dict[str, Any]:
        """The twin's manifest as the registry gives it to this user, or an answered page."""
        try:
            lookup: TwinLookup = await self.router.directory.lookup(twin, self.token or "")
        except RegistryUnavailable as e:
            log.warning("registry unavailable for %s/%s: %s", self.user, twin, e)
            self.page(503, "The twin registry is not answering", str(e))
        if lookup.manifest is None:
            self.not_found(twin, lookup.available)
        if not lookup.manifest.get("app"):
            self.page(404, f"{twin} has no dashboard", "Its manifest declares no app.")
        return lookup.manifest

    def page(self, status: int, title: str, message: str, retry_after: float | None = None):
        """A page of the router itself; title and message are text (they may quote the URL)."""
        body = f"<h2>{html.escape(title)}</h2><p>{html.escape(message)}</p>"
        self._finish_page(status, title, body, "twin-error", retry_after)

    def not_found(self, twin: str, available: list[dict[str, Any]]) -> None:
        """404: the name is unknown, retired or private to others; list what the user can open.

        The name comes from the URL and the titles from twin authors: all of it is text."""
        links = [
            f'<li><a href="{html.escape(self.router.prefix + quote(t["name"], safe=""))}">'
            f"{html.escape(t.get('title') or t['name'])}</a> "
            f"(<code>{html.escape(t['name'])}</code>)</li>"
            for t in available
        ] or ["<li>none yet</li>"]
        body = (
            f"<h2>404: no twin named “{html.escape(twin)}” is available to you</h2>"
            "<p>It may be misspelt, retired, or shared with other people only. "
            "Twins you can open:</p>"
            f"<ul>{''.join(links)}</ul>"
            f'<p><a href="{html.escape(hub_base())}services/twinhub/twins">All twins</a></p>'
        )
        self._finish_page(404, "Twin not found", body, "twin-not-found")

    def _finish_page(
        self, status: int, title: str, body: str, css: str, retry_after: float | None = None
    ) -> None:
        self.set_status(status)
        if retry_after is not None:
            self.set_header("Retry-After", str(max(1, round(retry_after))))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title></head>"
            f"<body><main class='{css}'>{body}</main></body></html>"
        )
        raise _Answered()

    async def process(self, twin: str) -> TwinProcess:
        """The twin's process, started if need be, for a user the registry lets open it."""
        manifest = await self.manifest(twin)
        try:
            process = await self.router.supervisor.get(twin, manifest)
        except Unavailable as e:
            self.page(e.status, f"The dashboard of {twin} is not available", e.message,
                      e.retry_after)  # fmt: skip
        self.router.opened(self.user, twin)
        return process

    def write_error(self, status_code: int, **kwargs) -> None:
        reason = kwargs.get("exc_info", (None, None))[1]
        message = getattr(reason, "log_message", None) or self._reason
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: {message}\n")


class TwinPage(RouterHandler):
    """A twin's page and everything below it but its websocket: to the twin's process."""

    async def _serve(self, twin: str, _rest: str = "") -> None:
        try:
            await self.login()
            process = await self.process(twin)
        except _Answered:
            return
        await forward(self, process, self.user, self.run_ticket(twin), f"the dashboard of {twin}")

    get = head = post = put = patch = delete = options = _serve


class TwinPageSlash(RequestHandler):
    """``<twin>/`` is ``<twin>`` (a permanent redirect, query kept): Panel's page names its
    files relative to its own URL, so with the slash they resolved to ``<twin>/static/...``,
    which is no file, and the page never left its loading spinner."""

    @removeslash
    def get(self, twin: str) -> None:
        pass  # removeslash answered

    head = get


class TwinSocket(RouterHandler, WebSocketRelay):
    """A page's websocket (Bokeh's ``<twin>/ws``): relayed to the twin's running process."""

    _process: TwinProcess | None = None
    _counted = False

    def upstream_url(self) -> str:
        return "ws" + self._process.base.removeprefix("http") + self.request.uri

    def upstream_headers(self) -> dict[str, str]:
        return self._process.headers(self.user, self.run_ticket(self._process.twin))

    def get_compression_options(self):
        return None

    async def get(self, twin: str) -> None:
        try:
            await self.login()
            await self.manifest(twin)
        except _Answered:
            return
        except HTTPError as e:
            self.set_status(e.status_code)
            self.finish(f"{e.status_code}: {e.log_message}\n")
            return
        self._process = self.router.supervisor.serving(twin)
        if self._process is None:  # its sessions went with it: the page must be reloaded
            self.set_status(502)
            self.finish(f"the dashboard of {twin} is not running: reload the page\n")
            return
        await self.relay(twin)

    def open(self, *args: str) -> None:
        if self._process is not None and not self._counted:
            self._counted = True
            self._process.sockets += 1
            self._process.touch()
        super().open(*args)

    def on_close(self) -> None:
        if self._process is not None and self._counted:
            self._counted = False
            self._process.sockets -= 1
            self._process.touch()
        super().on_close()


class SharedFiles(RouterHandler):
    """Bokeh's and Panel's files: from the process of the page that asks for them."""

    REFERER_TWIN = re.compile(r"[^/]+")

    async def get(self, _path: str) -> None:
        """Logged in: from the referring page's twin, else the user's last twin. Not logged
        in, as far as the hub can tell: from the referring page's twin alone, without a user.
        Module scripts (Panel's FAST components) are fetched in CORS mode, and the hub's
        OAuth refuses cookie logins of such requests without an XSRF token, which a script
        tag cannot send: sending them to the login made the components never load. Only
        Bokeh's and Panel's own files (:data:`LIBRARY_FILES`, the same for everyone) go
        without a login; ``components/`` and other extensions hold a twin's own code, which a
        private twin keeps to its audience."""
        model = await self.router.hub_auth.get_user(self, sync=False)
        if not model and not LIBRARY_FILES.fullmatch(self.request.path[len(self.router.prefix) :]):
            try:
                await self.login()  # the login page, as for any other page of a twin
            except _Answered:
                return
            return
        self.user = model["name"] if model else ""
        candidates = [self.referer_twin()]
        if model:
            candidates.append(self.router.last_twin.get(self.user))
        supervisor = self.router.supervisor
        for twin in candidates:
            process = supervisor.serving(twin) if twin else None
            if process is not None:
                await forward(self, process, self.user, None, f"the dashboard of {twin}")
                return
        raise HTTPError(404, "open a twin's dashboard first: its files come with it")

    head = get

    def referer_twin(self) -> str | None:
        referer = urlsplit(self.request.headers.get("Referer", ""))
        if not referer.path.startswith(self.router.prefix):
            return None
        match = self.REFERER_TWIN.match(referer.path[len(self.router.prefix) :])
        return match.group(0) if match and match.group(0) not in RESERVED else None


class TwinsIndex(RequestHandler):
    """The service's root: the Twins page lists what can be opened."""

    def get(self) -> None:
        self.redirect(f"{hub_base()}services/twinhub/twins")


async def forward(
    handler: RequestHandler, process: TwinProcess, user: str, ticket: str | None, name: str
) -> None:
    """The request to the twin's process as it came (path, query, body), the user named and
    their run ticket (never their token) attached."""
    process.touch()
    await forward_http(
        handler,
        f"{process.base}{handler.request.uri}",
        private=False,  # the hub's cookies and tokens stay here
        extra_headers=process.headers(user, ticket),
        drop_response_headers=NO_COOKIES,
        upstream_name=name,
    )
    process.touch()


def make_app(
    prefix: str, hub_auth: HubOAuth, supervisor: Supervisor, ticket_secret: str = ""
) -> Application:
    router = Router(hub_auth, supervisor, prefix, ticket_secret)
    base = re.escape(prefix.rstrip("/"))
    twin = rf"(?P<twin>(?!(?:{'|'.join(RESERVED)})(?:$|/)){TWIN})"
    args = {"router": router}
    return Application(
        [
            (rf"{base}/{CALLBACK_PATH}", callback_handler(hub_auth)),
            (rf"{base}/{LOGIN_PATH}", login_handler(hub_auth, prefix)),
            (rf"{base}/(?:{'|'.join(SHARED_FILES)})/(.*)", SharedFiles, args),
            (rf"{base}/{twin}/ws", TwinSocket, args),
            (rf"{base}/{twin}/", TwinPageSlash),
            (rf"{base}/{twin}(?P<_rest>/.*)?", TwinPage, args),
            (rf"{base}/?", TwinsIndex),
        ],
        hub_auth=hub_auth,
        cookie_secret=os.urandom(32),  # a restart only means a silent new hub login
        websocket_max_message_size=MAX_MESSAGE,
        xsrf_cookie_kwargs=COOKIE_OPTIONS,
    )


def process_env(settings: Settings, prefix: str) -> dict[str, str]:
    """A twin process's environment: the settings it reads, where the data and the registry
    are, and nothing secret (no hub or service token, no database password)."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "TWINHUB_API_URL", "TWINHUB_DATA_DIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    settings_env = {
        k: v
        for k, v in settings.to_env().items()
        if k not in PROCESS_SECRETS and not k.startswith(HUB_LOGIN_SETTINGS)
    }
    home = os.environ.get("TWINHUB_APPS_HOME") or os.getcwd()
    return {
        **settings_env,
        **env,
        "HOME": home,
        "PYTHONUNBUFFERED": "1",
        "JUPYTERHUB_SERVICE_PREFIX": prefix,
        "JUPYTERHUB_BASE_URL": hub_base(),
    }


def served_version(settings: Settings, twin: str) -> Path | None:
    """The folder of a published twin's served version (``<state>/published/<twin>/<n>``,
    what :func:`~twinhub.extensions.runtimes.runtime_python` runs), None for any other twin."""
    if not twin or twin.startswith(".") or "/" in twin or "\0" in twin:
        return None  # not a registry name (it checked the name before the router asks)
    try:
        version = (published_dir(settings.state_dir, twin) / SERVED).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return version if version.is_dir() else None


def twin_command(python: str | Path, twin: str) -> list[str]:
    return [
        str(python),
        "-m",
        "twinhub.extensions.dashboards.server",
        twin,  # not read: names the twin in ps and in the tests
    ]


def twin_runtime(settings: Settings, twin: str) -> Runtime:
    """Who runs ``twin``'s process, with which interpreter (issue 17 section 4).

    A published twin runs its served version's environment as the account that owns that
    version: publishing builds and tests it as its owner's account
    (:func:`~twinhub.extensions.accounts.ensure_account`, the mapping the owner's server uses)
    and hands the folder to that account, so the code and who runs it come from one place
    and agree even while a new version is being served. That account must be one the
    mapping recorded for a hub user; nothing is created here, and a version owned by anyone
    else (root, a system account) is not run at all. Its working directory and ``HOME`` are
    the account's own home (else the version's folder, which it owns). Any other twin (the
    platform's) runs as the dashboards' account in its home. Without user accounts (the
    platform is not root) every twin runs as the router's own account, as before."""
    version = served_version(settings, twin)
    if version is None:
        command = twin_command(runtime_python(twin, settings), twin)
        if not settings.user_accounts or os.geteuid() != 0:
            return Runtime(command)
        return Runtime(command, settings.apps_account, os.environ.get("TWINHUB_APPS_HOME"))
    command = twin_command(version / "env" / "bin" / "python", twin)
    key = version_key(version)
    if not settings.user_accounts or os.geteuid() != 0:
        return Runtime(command, code=str(version), key=key)
    uid = version.stat().st_uid
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        entry = None
    owners = set(AccountTable(Path(settings.state_dir), settings.account_prefix).names())
    if entry is None or uid == 0 or entry.pw_name not in owners:
        raise StartFailed(
            f"its served version belongs to no hub user's account (uid {uid}): not run"
        )
    home = entry.pw_dir if os.path.isdir(entry.pw_dir) else str(version)
    return Runtime(command, entry.pw_name, home, str(version), key)


def runtime_key(settings: Settings, twin: str) -> str:
    """What a twin's process changes with, cheaply: the served version's folder and its
    owner's uid (a new version served, rollback), asked on every request."""
    version = served_version(settings, twin)
    return "" if version is None else version_key(version)


def version_key(version: Path) -> str:
    try:
        return f"{version}:{version.stat().st_uid}"
    except OSError:
        return str(version)


def launch_for(settings: Settings, prefix: str) -> Launcher:
    """How this router starts twins' processes: pods on Kubernetes (``pods.py``), else local
    processes (on a root platform, as the account :func:`twin_runtime` chooses per twin), and,
    where Slurm is enabled, Slurm jobs for twins whose profile carries Slurm resources
    (``slurmjobs.py``)."""
    public = urlsplit(settings.url).netloc
    if settings.deployment == "kubernetes":
        from .pods import pod_launch_for  # kubernetes_asyncio only where it is used

        return pod_launch_for(settings, process_env(settings, prefix), prefix, [public])
    home = os.environ.get("TWINHUB_APPS_HOME") or None
    local = Launch(
        command=lambda twin: twin_command(runtime_python(twin, settings), twin),
        env=process_env(settings, prefix),
        cwd=home,
        account=settings.apps_account if settings.user_accounts else None,
        prefix=prefix,
        websocket_origins=[public, f"127.0.0.1:{settings.port}", f"localhost:{settings.port}"],
        runtime=lambda twin: twin_runtime(settings, twin),
        runtime_key_of=lambda twin: runtime_key(settings, twin),
    )
    if not settings.slurm_enabled:
        return local
    from .slurmjobs import ProfileLaunch, RegistryProfiles, SlurmLaunch

    # a twin whose profile carries Slurm resources runs as a job (issue 17 section 3)
    slurm = SlurmLaunch(
        local,
        bind_ip=settings.slurm_job_bind_ip,
        slurm_conf=settings.slurm_conf,
        jobs_dir=Path(settings.state_dir) / "dashboard-jobs",
        partition=settings.slurm_partition,
        account=settings.slurm_account,
        registry_url=settings.jobs_registry_api_url,  # a node's loopback is not the hub's
    )
    return ProfileLaunch(local, slurm, RegistryProfiles(os.environ.get("JUPYTERHUB_API_TOKEN", "")))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("tornado.access").addFilter(RedactSecrets())  # no OAuth code/state
    settings = Settings.from_env()
    hub_auth = HubOAuth(cache_max_age=settings.auth_cache_seconds, cookie_options=COOKIE_OPTIONS)
    if not hub_auth.api_token:
        raise SystemExit("JUPYTERHUB_API_TOKEN is not set: twinhub-apps runs as a hub service")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/twinhub-apps/")
    supervisor = Supervisor(
        launch_for(settings, prefix),
        idle_seconds=settings.dashboards_idle_seconds,
        start_seconds=settings.dashboards_start_seconds,
        hang_seconds=settings.dashboards_hang_seconds,
    )
    app = make_app(prefix, hub_auth, supervisor, run_tickets.secret_from_env())
    app.transforms.append(SecurityHeaders)
    server = HTTPServer(app, xheaders=True)
    server.listen(settings.dashboards_port, settings.services_bind_ip)
    log.info("dashboard router at %s:%s%s", settings.services_bind_ip,
             settings.dashboards_port, prefix)  # fmt: skip
    loop = IOLoop.current()

    async def shut_down() -> None:
        server.stop()
        await supervisor.close()
        loop.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: loop.add_callback_from_signal(shut_down))
    try:
        loop.start()
    finally:
        sys.stdout.flush()


if __name__ == "__main__":
    main()
