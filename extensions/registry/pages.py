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
import json
import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from twinhub.catalogs.location import data_dir
from twinhub.contracts.names import DASHBOARDS_PREFIX, SCOPE_RUNS_READ
from twinhub.contracts.settings import Settings
from twinhub.extensions.server.notebook import notebook_path
from twinhub.extensions.websecurity import COOKIE_OPTIONS
from twinhub.twins import showcase

from ..spawn_options import usable_profiles
from . import jobs
from .auth import Authenticator, User
from .bodies import form_fields
from .db import Run
from .errors import Conflict, Forbidden, Invalid, NotFound
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

    def visible_processes(user: User) -> dict[str, dict]:
        """The twins and pipelines the user may see, by name (their manifest or document)."""
        twins, _ = store.list_twins(user, limit=500)
        pipelines, _ = store.list_pipelines(user, limit=500)
        return {t.name: t.manifest for t in twins} | {p.name: p.document for p in pipelines}

    def runs_of(user: User, page: int = 0) -> dict[str, Any]:
        """The user's own jobs and runs recorded from notebooks and dashboards, and those of
        others shared with them: the registry's one rule for runs (``custom:twinhub:runs:read``
        reads everyone's, as ``GET /api/runs`` does), limited to twins and pipelines the user
        may see. Page ``page`` of each list, :data:`RUNS_SHOWN` a page, newest first;
        ``older`` says whether any list goes on."""
        processes = visible_processes(user)
        shared = user.has(SCOPE_RUNS_READ)
        newest = (Run.created_at.desc(), Run.id)
        window = {"limit": RUNS_SHOWN + 1, "offset": page * RUNS_SHOWN}  # one more: is there?
        with store.sessions() as s:
            found = {
                "jobs": jobs.list_jobs(s, user.name, **window),
                "shared": (
                    jobs.list_shared_jobs(s, user.name, list(processes), **window) if shared else []
                ),
                "recorded": list(
                    s.scalars(
                        select(Run)
                        .where(Run.user == user.name)
                        .order_by(*newest)
                        .limit(window["limit"])
                        .offset(window["offset"])
                    )
                ),
                "shared_recorded": (
                    list(
                        s.scalars(
                            select(Run)
                            .where(Run.user != user.name, Run.twin_name.in_(list(processes)))
                            .order_by(*newest)
                            .limit(window["limit"])
                            .offset(window["offset"])
                        )
                    )
                    if shared
                    else []
                ),
            }
        older = any(len(rows) > RUNS_SHOWN for rows in found.values())
        found = {key: rows[:RUNS_SHOWN] for key, rows in found.items()}
        return {**found, "processes": processes, "older": older}

    def readable_job(user: User, job_id: str):
        """A job the user may read (theirs, or shared with them) of a process they may see."""
        with store.sessions() as s:
            job = jobs.visible_job(s, user.name, job_id, read_all=user.has(SCOPE_RUNS_READ))
        if job.owner != user.name and job.process not in visible_processes(user):
            raise NotFound(f"no job {job_id[:64]!r}")
        return job

    def resubmit(user: User, run_id: str, *, replay: bool = False) -> str:
        """A new job of the user's with the inputs of a run they may read (a job, or a run
        recorded from a notebook or dashboard); a replay also names the run whose PROV record
        the executor replays (``twins.runs.replay``)."""
        try:
            job = readable_job(user, run_id)
            process, inputs = job.process, dict(job.inputs)
            replayable = job.status == jobs.SUCCESSFUL and bool(job.provenance)
            status = job.status
        except NotFound:
            run = store.get_run(user, run_id)  # a recorded run: the registry's rule, or 404
            process, inputs, status = run.twin_name, dict(run.parameters), run.status
            replayable = status == "succeeded" and bool(run.provenance)
        if process not in visible_processes(user):  # no longer visible to the caller
            raise NotFound(f"no process {process!r}")
        if replay and not replayable:
            raise Conflict(f"run {run_id!r} has no PROV record to replay: it is {status}")
        with store.transaction() as s:
            trigger = f"{jobs.REPLAY_PREFIX}{run_id}" if replay else "api"
            return jobs.submit(s, owner=user.name, process=process, inputs=inputs, trigger=trigger)

    def render_runs(user: User, message: str = "", page: int = 0, **extra) -> dict[str, Any]:
        """The Runs page's context (database reads: call it off the event loop)."""
        found = runs_of(user, page)
        processes = found.pop("processes")
        schedule_rows = schedules.list(user) if schedules else []
        notes = schedules.notifications(user, limit=20) if schedules else []
        runs = [
            *((j.id, j.process, j.inputs) for j in [*found["jobs"], *found["shared"]]),
            *(
                (r.id, r.twin_name, r.parameters)
                for r in [*found["recorded"], *found["shared_recorded"]]
            ),
        ]
        return {
            "user": user,
            "page": "runs",
            **found,
            "can_read_shared": user.has(SCOPE_RUNS_READ),
            "dashboards": {
                run_id: dashboard_link(process, run_id, inputs)
                for run_id, process, inputs in runs
                if process in processes and processes[process].get("app")
            },
            "schedules": schedule_rows,
            "schedulable": sorted(processes),
            "notifications": notes,
            "finished": jobs.FINISHED,
            "successful": jobs.SUCCESSFUL,
            "replay_prefix": jobs.REPLAY_PREFIX,
            "shown": RUNS_SHOWN,
            "page_number": page,
            "prefix": prefix,
            "base_url": hub_base_url(),
            "xsrf": auth.xsrf_token(user),
            "message": message,
            "form": {},
            **extra,
        }

    @pages.get("/runs", response_class=HTMLResponse)
    async def runs_page(request: Request, message: str = "", page: RunsPage = 0):
        """Your runs and those shared with you (jobs the platform executes), newest first, a
        page at a time: status, parameters, why one failed, outputs and PROV, "run again",
        "replay", the dashboard showing the run; your schedules and their notifications."""
        user = await browser_user(request)
        if isinstance(user, RedirectResponse):
            return user
        context = await asyncio.to_thread(render_runs, user, message[:MAX_MESSAGE], page)
        return TEMPLATES.TemplateResponse(request, "runs.html", context)

    @pages.get("/runs/{run_id}/provenance", response_class=HTMLResponse)
    async def run_provenance(request: Request, run_id: str):
        """A run's W3C PROV-JSON, readable in the page (as text) with its download: a job the
        platform ran or a run recorded from a notebook or dashboard, seen by the rule of
        ``GET /api/runs/{id}/provenance`` (its user, or ``runs:read``); 404 otherwise."""
        user = await browser_user(request)
        if isinstance(user, RedirectResponse):
            return user
        run = await asyncio.to_thread(store.get_run, user, run_id)
        if not run.provenance:
            raise NotFound(f"run {run_id!r} has no PROV record: it is {run.status}")
        return TEMPLATES.TemplateResponse(
            request,
            "provenance.html",
            {
                "user": user,
                "page": "runs",
                "run": run,
                "document": json.dumps(run.provenance, indent=2, sort_keys=True),
                "prefix": prefix,
                "base_url": hub_base_url(),
            },
        )

    async def posted(request: Request, *names: str) -> tuple[User, dict[str, str]]:
        user = await auth.require_user(request)
        form = await form_fields(request, "xsrf", *names)
        auth.check_xsrf(user, form["xsrf"])
        return user, form

    def back(message: str) -> RedirectResponse:
        return RedirectResponse(f"{prefix}runs?message={quote(message)}", status_code=303)

    @pages.post("/runs/{job_id}/again")
    async def run_again(request: Request, job_id: str):  # a job's or a recorded run's id
        """A new job of the same process with the same inputs (checked again: the twin's
        parameters may have changed since), for the caller; 404 for a run they may not read."""
        user, _ = await posted(request)
        new = await asyncio.to_thread(resubmit, user, job_id)
        return back(f"submitted run {new}")

    @pages.post("/runs/{job_id}/replay")
    async def run_replay(request: Request, job_id: str):
        """Rerun a successful job from its PROV record and check the output bit for bit
        (``twins.runs.replay``, in the executor): the new job fails, saying why, if not."""
        user, _ = await posted(request)
        new = await asyncio.to_thread(resubmit, user, job_id, replay=True)
        return back(f"submitted replay {new} of run {job_id}")

    @pages.post("/runs/schedules")
    async def create_schedule(request: Request):
        """A schedule from the Runs page's form, checked as ``POST /api/schedules`` checks it;
        a refused one shows the page again (422) with the fields named and the form kept."""
        user, form = await posted(request, *SCHEDULE_FORM)
        try:
            document = schedule_document(form)
            row = await asyncio.to_thread(schedules.create, user, document)
        except Invalid as e:
            problems = e.detail if isinstance(e.detail, list) else [("(body)", e.detail)]
            message = "schedule not created: " + "; ".join(f"{f}: {m}" for f, m in problems)
            context = await asyncio.to_thread(render_runs, user, message[:MAX_MESSAGE], form=form)
            return TEMPLATES.TemplateResponse(request, "runs.html", context, status_code=422)
        return back(f"created schedule {row.id} of {row.process}")

    @pages.post("/runs/schedules/{schedule_id}/enabled")
    async def pause_schedule(request: Request, schedule_id: str):
        """Pause (``enabled=false``) or resume (``enabled=true``) one of your schedules."""
        user, form = await posted(request, "enabled")
        if form["enabled"] not in ("true", "false"):
            raise Invalid([("enabled", "must be 'true' or 'false'")])
        enabled = form["enabled"] == "true"
        await asyncio.to_thread(schedules.update, user, schedule_id, {"enabled": enabled})
        return back(f"schedule {schedule_id} {'resumed' if enabled else 'paused'}")

    @pages.post("/runs/schedules/{schedule_id}/delete")
    async def delete_schedule(request: Request, schedule_id: str):
        user, _ = await posted(request)
        await asyncio.to_thread(schedules.delete, user, schedule_id)
        return back(f"deleted schedule {schedule_id}")

    return pages


RUNS_SHOWN = 200
"""Runs of each list the Runs page shows at once (older ones on the next page)."""
RunsPage = Annotated[int, Query(ge=0, le=10_000, description="page of the Runs page")]
"""Bounded: the offset it makes stays one SQL engines take (beyond 64 bits they raise)."""
MAX_MESSAGE = 2000
"""Longest note the page shows (the ``message`` query carries it after a form post)."""
SCHEDULE_FORM = (
    "process", "parameters", "cron", "timezone", "missed", "on_data_change",
    "condition_output", "condition_op", "condition_threshold", "webhook",
)  # fmt: skip
MAX_PARAMETERS_CHARS = 20_000


def schedule_document(form: dict[str, str]) -> dict[str, Any]:
    """The ``POST /api/schedules`` body the Runs page's form stands for; the fields are then
    checked as the API checks them (:class:`.schedules.Schedules`). 422 naming the field for
    what only the form has: the parameters as JSON text, the threshold as a number."""
    document: dict[str, Any] = {
        "process": form["process"],
        "cron": form["cron"].strip(),
        "timezone": form["timezone"].strip() or "UTC",
        "missed": form["missed"] or "skip",
        "on_data_change": form["on_data_change"] == "on",
    }
    text = form["parameters"].strip()
    if len(text) > MAX_PARAMETERS_CHARS:
        raise Invalid([("parameters", f"longer than {MAX_PARAMETERS_CHARS} characters")])
    if text:
        try:
            document["parameters"] = json.loads(text)
        except ValueError as e:
            raise Invalid([("parameters", f"not JSON: {str(e)[:200]}")]) from None
    if form["condition_output"].strip():
        try:
            threshold = float(form["condition_threshold"][:60])
        except ValueError:
            raise Invalid([("condition.threshold", "must be a number")]) from None
        document["condition"] = {
            "output": form["condition_output"].strip(),
            "op": form["condition_op"] or ">",
            "threshold": threshold,
        }
    if form["webhook"].strip():
        document["webhook"] = form["webhook"].strip()
    return document


def dashboard_link(process: str, run_id: str, inputs: dict[str, Any] | None) -> str:
    """The twin's dashboard showing the run: its inputs as the widget state (a widget's query
    key is its label as a slug, which for the shipped dashboards is the parameter's name;
    keys no widget has are ignored) and ``run=<id>``, which the page answers with the run's
    status and PROV link (``extensions/dashboards``)."""
    query = {
        key: _query_value(value)
        for key, value in sorted((inputs or {}).items())
        if isinstance(value, str | int | float | bool) and key != "run"
    }
    query["run"] = run_id
    path = f"{hub_base_url()}{DASHBOARDS_PREFIX.lstrip('/')}/{quote(process)}"
    return f"{path}?{urlencode(query)}"


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _hub_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)
    except ValueError:
        return f"the hub answered {response.status_code}"
