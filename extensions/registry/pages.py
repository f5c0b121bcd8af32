"""The Twins page (``/services/twinhub/twins``): browse twins, launch one, see and stop yours.

It is also where people land after logging in (the hub's ``default_url``, hub/frontpage.py):
each twin's card shows its key figure and skill figures, rendered at build time
(``twinhub.twins.showcase``), with the way to open its dashboard or JupyterLab, and the page
leads to the person's own development server (the hub's spawn form).
Server-rendered with the hub's own stylesheet, linked from the hub's nav bar. Launching and
stopping go through the hub's REST API with the user's OAuth token (scopes ``servers!user`` and
``read:servers!user``, granted to this service), so the hub's spawn hooks and permissions apply
exactly as for any other spawn: the page has no powers of its own.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from twinhub.catalogs.location import data_dir
from twinhub.contracts.settings import Settings
from twinhub.extensions.server.notebook import notebook_path
from twinhub.extensions.websecurity import COOKIE_OPTIONS
from twinhub.twins import showcase

from ..spawn_options import usable_profiles
from . import jobs
from .auth import Authenticator, User
from .bodies import form_fields
from .errors import Forbidden, NotFound
from .store import Store

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def hub_api_url() -> str:
    return os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api").rstrip("/")


def hub_base_url() -> str:
    return os.environ.get("JUPYTERHUB_BASE_URL", "/")


def slurm_enabled() -> bool:
    """The hub runs servers as Slurm jobs (TWINHUB_SLURM, or TWINHUB_SPAWNER=slurm): only then
    are profiles with Slurm resources launchable, as the spawn hooks decide too."""
    return Settings.from_env().slurm_enabled


async def hub_request(user: User, method: str, path: str, **kwargs) -> httpx.Response:
    """Call the hub's REST API as the user (their OAuth token)."""
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.request(
            method,
            f"{hub_api_url()}{path}",
            headers={"Authorization": f"token {user.token}"},
            **kwargs,
        )


async def running_servers(user: User) -> dict[str, dict]:
    r = await hub_request(user, "GET", f"/users/{quote(user.name)}")
    if r.status_code != 200:
        return {}
    return r.json().get("servers") or {}


def build_pages(
    store: Store,
    auth: Authenticator,
    prefix: str,
    twins_dir: Path | None = None,
    schedules=None,
) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    def lab_path(manifest: dict) -> str:
        """Path in the twin's server that "Open in JupyterLab" opens: its notebook if shipped."""
        notebook = manifest.get("notebook")
        shipped = twins_dir is not None and notebook and (twins_dir / manifest["name"] / notebook)
        if shipped and shipped.is_file():
            return f"lab/tree/{notebook_path(manifest['name'], notebook)}"
        return "lab"

    async def browser_user(request: Request) -> User | RedirectResponse:
        user = await auth.user(request)
        if user is not None:
            return user
        url, state = auth.start_login(str(request.url.path))
        response = RedirectResponse(url, status_code=302)
        response.set_cookie(
            auth.hub.state_cookie_name,
            auth.signed(auth.hub.state_cookie_name, state),
            path=prefix,
            max_age=600,
            **COOKIE_OPTIONS,
        )
        return response

    @pages.get("/oauth_callback")
    async def oauth_callback(request: Request, code: str = "", state: str = "", error: str = ""):
        if error or not code:
            raise Forbidden(f"the hub refused the login: {error or 'no code'}")
        cookie = request.cookies.get(auth.hub.state_cookie_name)
        cookie_state = auth.unsigned(auth.hub.state_cookie_name, cookie)
        token, next_url = await auth.finish_login(code, state, cookie_state)
        if not next_url.startswith(prefix):
            next_url = f"{prefix}twins"
        response = RedirectResponse(next_url, status_code=302)
        response.delete_cookie(auth.hub.state_cookie_name, path=prefix)
        response.set_cookie(
            auth.hub.cookie_name,
            auth.signed(auth.hub.cookie_name, token),
            path=prefix,
            **COOKIE_OPTIONS,
            secure=request.url.scheme == "https",
        )
        return response

    @pages.get("/")
    async def index() -> RedirectResponse:
        return RedirectResponse(f"{prefix}twins", status_code=302)

    @pages.get("/twins", response_class=HTMLResponse)
    async def twins_page(request: Request, message: str = ""):
        user = await browser_user(request)
        if isinstance(user, RedirectResponse):
            return user
        twins, _ = store.list_twins(user, limit=500)
        profiles, _ = store.list_profiles(user, limit=500)
        pipelines, _ = store.list_pipelines(user, limit=500)
        servers = await running_servers(user)
        names = {t.name for t in twins}
        showcases = {name: showcase.read(data_dir(), name) for name in names}
        return TEMPLATES.TemplateResponse(
            request,
            "twins.html",
            {
                "user": user,
                "twins": [t.manifest for t in twins],
                "pipelines": [p.document for p in pipelines],
                "profiles": usable_profiles(
                    [p.profile for p in profiles], kubernetes=False, slurm=slurm_enabled()
                ),
                "servers": {k: v for k, v in servers.items() if k in names},
                "dev_server": servers.get(""),
                "lab_paths": {t.name: lab_path(t.manifest) for t in twins},
                "showcases": {k: v for k, v in showcases.items() if v},
                "prefix": prefix,
                "base_url": hub_base_url(),
                "xsrf": auth.xsrf_token(user),
                "message": message,
                "notifications": schedules.notifications(user, limit=20) if schedules else [],
            },
        )

    @pages.get("/twins/{name}/thumbnail.png")
    async def thumbnail(request: Request, name: str):
        """The twin's key figure; as private as the twin (404 for those who may not see it)."""
        user = await auth.require_user(request)
        store.twin_manifest(user, name)
        path = showcase.showcase_dir(data_dir()) / f"{name}.png"
        if not path.is_file():
            raise NotFound(f"twin {name!r} has no rendered figure yet (make data renders them)")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private"})

    @pages.post("/twins/{name}/launch")
    async def launch(request: Request, name: str):
        user = await auth.require_user(request)
        form = await form_fields(request, "profile", "xsrf")
        auth.check_xsrf(user, form["xsrf"])
        profile = form["profile"]
        manifest = store.twin_manifest(user, name)  # 404 for a twin the user may not see
        path = f"/users/{quote(user.name)}/servers/{quote(name)}"
        r = await hub_request(user, "POST", path, json={"twin": name, "profile": profile})
        base = hub_base_url()
        if r.status_code in (201, 202):
            lab = f"{base}user/{quote(user.name)}/{quote(name)}/{lab_path(manifest.model_dump())}"
            target = f"{base}hub/spawn-pending/{quote(user.name)}/{quote(name)}?next={quote(lab)}"
            return RedirectResponse(target, status_code=303)
        message = _hub_message(r)
        return RedirectResponse(f"{prefix}twins?message={quote(message)}", status_code=303)

    @pages.post("/twins/{name}/stop")
    async def stop(request: Request, name: str):
        user = await auth.require_user(request)
        auth.check_xsrf(user, (await form_fields(request, "xsrf"))["xsrf"])
        r = await hub_request(user, "DELETE", f"/users/{quote(user.name)}/servers/{quote(name)}")
        message = "" if r.status_code in (202, 204) else _hub_message(r)
        return RedirectResponse(f"{prefix}twins?message={quote(message)}", status_code=303)

    def my_jobs(user: User) -> list:
        with store.sessions() as s:
            return jobs.list_jobs(s, user.name, limit=RUNS_SHOWN)

    def resubmit(user: User, job_id: str) -> str:
        with store.sessions() as s:
            job = jobs.visible_job(s, user.name, job_id)
            process, inputs = job.process, dict(job.inputs)
        store.twin_manifest(user, process)  # 404 for a twin no longer visible to the caller
        with store.transaction() as s:
            return jobs.submit(s, owner=user.name, process=process, inputs=inputs)

    @pages.get("/runs", response_class=HTMLResponse)
    async def runs_page(request: Request, message: str = ""):
        """Your runs (jobs the platform executes), newest first: status, parameters, why one
        failed, its outputs and PROV to download, and "run again"."""
        user = await browser_user(request)
        if isinstance(user, RedirectResponse):
            return user
        rows = await asyncio.to_thread(my_jobs, user)
        return TEMPLATES.TemplateResponse(
            request,
            "runs.html",
            {
                "user": user,
                "jobs": rows,
                "finished": jobs.FINISHED,
                "successful": jobs.SUCCESSFUL,
                "shown": RUNS_SHOWN,
                "prefix": prefix,
                "base_url": hub_base_url(),
                "xsrf": auth.xsrf_token(user),
                "message": message,
            },
        )

    @pages.post("/runs/{job_id}/again")
    async def run_again(request: Request, job_id: str):
        """A new job of the same process with the same inputs (checked again: the twin's
        parameters may have changed since), for the caller; 404 for a job not theirs."""
        user = await auth.require_user(request)
        auth.check_xsrf(user, (await form_fields(request, "xsrf"))["xsrf"])
        new = await asyncio.to_thread(resubmit, user, job_id)
        message = f"submitted run {new}"
        return RedirectResponse(f"{prefix}runs?message={quote(message)}", status_code=303)

    return pages


RUNS_SHOWN = 200
"""The newest runs the Runs page lists (the API pages through all of them)."""


def _hub_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)
    except ValueError:
        return f"the hub answered {response.status_code}"
