"""The preview's **Publish** button: ``twinhub publish`` for a twin folder, from the browser.

The "Twin dashboards" index (``preview.py``) lists the twin folders of the server's root
(``<root>/<name>/twin.yaml``, as ``twinhub new NAME`` writes them there) with a Publish button
each. A click POSTs ``-/publish/<folder>``, which runs what ``twinhub publish --no-wait`` runs
(:func:`twinhub.extensions.registry.cli.upload`: local checks, pack, upload with the server's own
token) in a thread, and answers the new version (202) or why not (4xx, the registry's message as
JSON text); the page then polls ``-/versions/<twin>/<number>`` until the version is served or
failed (:func:`~twinhub.extensions.registry.cli.version_state`). A folder whose last build
failed is accepted again (the registry answers ``rebuild_of``: the failed version) and the
page says so; a failed build's answer carries what to do next (``hint``).

jupyter-server-proxy lets only the server's owner in, but it leaves XSRF to the proxied app
(its handler's ``check_xsrf_cookie`` does nothing), so a cookie-authenticated POST from another
site would reach us: the POST must carry ``X-XSRFToken`` equal to a random cookie this app set
(``SameSite=Strict``, on its own path; the index page carries the value), and a request the
browser marks cross-site is refused. The folder named in the URL is hostile: only a name of the
folders listed (a slug, a real directory, not a link) is published; one publish at a time.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import re
import secrets
from pathlib import Path

import httpx
from tornado.web import RequestHandler
from twinhub.contracts.manifest import SLUG, ManifestError
from twinhub.contracts.names import DASHBOARDS_PREFIX, REGISTRY_PREFIX
from twinhub.twins.manifest import MANIFEST_FILE

from ..registry import cli
from ..registry.archive import ArchiveError

COOKIE = "twinhub-preview-xsrf"
HEADER = "X-XSRFToken"
MAX_NAME = 40
"""A twin name is at most 40 characters (``twinhub new``); longer is refused before any lookup."""
LOG_TAIL = 4000
PUBLISH_PATH = "/-/publish/"
VERSIONS_PATH = "/-/versions/"


def twin_folders(root: Path) -> dict[str, Path]:
    """The twin folders of ``root``: ``<name>/twin.yaml`` with a slug name, neither a link."""
    found = {}
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return {}
    for entry in entries:
        manifest = entry / MANIFEST_FILE
        if (
            re.match(SLUG, entry.name)
            and not entry.is_symlink()
            and entry.is_dir()
            and not manifest.is_symlink()
            and manifest.is_file()
        ):
            found[entry.name] = entry
    return found


def hub_links(twin: str) -> dict[str, str]:
    """Where a served twin shows: the Twins page and its dashboard (paths on the hub)."""
    base = os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/")
    return {
        "twins_page": f"{base}{REGISTRY_PREFIX}/twins",
        "dashboard": f"{base}{DASHBOARDS_PREFIX}/{twin}",
    }


class _JSON(RequestHandler):
    def answer(self, status: int, body: dict) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def refuse(self, status: int, message: str) -> None:
        self.answer(status, {"error": message})


TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
"""What this app's cookie holds (``secrets.token_urlsafe(32)``); anything else is replaced."""


def xsrf_token(handler: RequestHandler, prefix: str) -> str:
    """This browser's anti-forgery value: the cookie's, or a new one set now."""
    token = handler.get_cookie(COOKIE) or ""
    if not TOKEN.fullmatch(token):
        token = secrets.token_urlsafe(32)
        handler.set_cookie(
            COOKIE, token, path=f"{prefix}/", httponly=True, samesite="Strict"
        )  # fmt: skip
    return token


def forgery(handler: RequestHandler) -> str | None:
    """Why this state-changing request is not the page's own (None: it is)."""
    if handler.request.headers.get("Sec-Fetch-Site", "same-origin") not in (
        "same-origin",
        "none",
    ):
        return "a request from another site is refused"
    cookie = handler.get_cookie(COOKIE) or ""
    sent = handler.request.headers.get(HEADER, "")
    if not TOKEN.fullmatch(cookie) or not hmac.compare_digest(cookie.encode(), sent.encode()[:64]):
        return f"the {HEADER} header is missing or wrong: reload the page"
    return None


def publish_handlers(root: Path) -> list[tuple[str, type[RequestHandler]]]:
    """The two routes of the Publish button (under the preview's prefix)."""
    lock = asyncio.Lock()

    class Publish(_JSON):
        def check_xsrf_cookie(self) -> None:  # ours: see forgery()
            pass

        async def post(self, folder: str) -> None:
            why = forgery(self)
            if why:
                return self.refuse(403, why)
            path = None
            if len(folder) <= MAX_NAME:
                path = twin_folders(root).get(folder)
            if path is None:
                return self.refuse(404, f"folder: no twin folder named {folder[:MAX_NAME]!r}")
            if lock.locked():
                return self.refuse(409, "folder: a publish is under way; wait for it")
            async with lock:
                try:
                    version = await asyncio.get_running_loop().run_in_executor(
                        None, cli.upload, path
                    )
                except (ManifestError, ArchiveError) as e:
                    return self.refuse(422, str(e))
                except cli.HubError as e:
                    status = e.status if e.status and 400 <= e.status < 500 else 502
                    return self.refuse(status, str(e))
                except (httpx.HTTPError, OSError) as e:
                    return self.refuse(502, f"the registry did not answer: {e}")
            twin = version["twin"]
            self.answer(202, {**_summary(version), **hub_links(twin)})

    class Version(_JSON):
        async def get(self, twin: str, number: str) -> None:
            if not re.match(SLUG, twin) or len(number) > 9:
                return self.refuse(404, "twin: no such published version")
            try:
                version = await asyncio.get_running_loop().run_in_executor(
                    None, cli.version_state, twin, int(number)
                )
            except cli.HubError as e:
                status = e.status if e.status and 400 <= e.status < 500 else 502
                return self.refuse(status, str(e))
            except httpx.HTTPError as e:
                return self.refuse(502, f"the registry did not answer: {e}")
            body = {**_summary(version), **hub_links(twin)}
            if version["state"] == "failed":
                body["log"] = (version.get("log") or "")[-LOG_TAIL:]
                body["hint"] = cli.RETRY_HINT
            self.answer(200, body)

    return [
        (rf"{PUBLISH_PATH}([^/]*)", Publish),
        (rf"{VERSIONS_PATH}([^/]+)/([0-9]+)", Version),
    ]


def _summary(version: dict) -> dict:
    return {k: version.get(k) for k in ("twin", "version", "state", "sha256", "size", "rebuild_of")}
