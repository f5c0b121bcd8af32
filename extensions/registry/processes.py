"""OGC API - Processes 1.0 (Part 1: Core) over the registry's twins and jobs.

Each twin the caller may see is a process, described from its manifest (inputs: the parameter
JSON schema's properties); executing it submits a job (:mod:`.jobs`) that the run executor
runs as the caller. Served at ``<registry prefix>/ogcapi/`` (landing page, ``/conformance``,
``/processes``, ``/processes/{id}``, ``/processes/{id}/execution``, ``/jobs``, ``/jobs/{id}``,
``/jobs/{id}/results``, ``DELETE /jobs/{id}``), with the registry's authentication: a job is
its owner's; others (without ``custom:twinhub:runs:read``) get 404 for it, as for a missing one.
"""

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from twinhub.contracts.names import SCOPE_RUNS_READ

from ..executor.runner import PROVENANCE, RESULT
from . import jobs
from .api import ERRORS
from .auth import User
from .bodies import documented, json_body
from .db import Job
from .errors import BadRequest, NotFound
from .snapshot import Item
from .store import Store

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss",
]
OGC_STATUS = {jobs.QUEUED: "accepted"}
"""Our states are OGC's, except that a queued job is 'accepted' there."""
OUTPUT_FILES = {
    "result": (RESULT, "application/x-netcdf"),
    "provenance": (PROVENANCE, "application/json"),
}
JSON = "application/json"
POLL_SECONDS = 0.2


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def status_info(job: Job, base: str) -> dict[str, Any]:
    links = [{"href": f"{base}/jobs/{job.id}", "rel": "self", "type": JSON, "title": "status"}]
    if job.status == jobs.SUCCESSFUL:
        links.append(
            {
                "href": f"{base}/jobs/{job.id}/results",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/results",
                "type": JSON,
                "title": "results",
            }
        )
    return {
        "jobID": job.id,
        "processID": job.process,
        "type": "process",
        "status": OGC_STATUS.get(job.status, job.status),
        "message": job.reason or "",
        "created": _iso(job.created_at),
        "started": _iso(job.started_at),
        "finished": _iso(job.finished_at),
        "updated": _iso(job.updated_at),
        "links": links,
    }


def results_document(job: Job, base: str) -> dict[str, Any]:
    return {
        name: {"href": f"{base}/jobs/{job.id}/outputs/{name}", "type": media}
        for name, (_, media) in OUTPUT_FILES.items()
    }


def process_summary(twin: Item, base: str) -> dict[str, Any]:
    m = twin.document
    return {
        "id": m["name"],
        "title": m["title"],
        "description": m["summary"],
        "version": m["version"],
        "keywords": [m.get("domain", "pipeline")],
        "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
        "outputTransmission": ["reference"],
        "links": [
            {"href": f"{base}/processes/{m['name']}", "rel": "self", "type": JSON},
            {
                "href": f"{base}/processes/{m['name']}/execution",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/execute",
                "type": JSON,
            },
        ],
    }


def process_description(twin: Item, base: str) -> dict[str, Any]:
    """The summary with inputs and outputs: each parameter of the manifest's schema is an
    input (its own JSON schema, optional when it has a default)."""
    if twin.document.get("kind") == "pipeline":
        return {**process_summary(twin, base), **pipeline_io(twin.document)}
    schema = twin.document.get("parameters") or {}
    required = set(schema.get("required") or ())
    inputs = {
        name: {
            "title": name,
            "description": str(prop.get("description", "")),
            "schema": prop,
            "minOccurs": 1 if name in required and "default" not in prop else 0,
            "maxOccurs": 1,
        }
        for name, prop in (schema.get("properties") or {}).items()
    }
    outputs = {
        "result": {
            "title": "the twin's output",
            "description": "the model's output dataset (netCDF)",
            "schema": {"type": "string", "contentMediaType": "application/x-netcdf"},
        },
        "provenance": {
            "title": "W3C PROV-JSON of the run",
            "description": "inputs and their checksums, parameters, code version, agent, times",
            "schema": {"type": "object", "contentMediaType": JSON},
        },
    }
    return {**process_summary(twin, base), "inputs": inputs, "outputs": outputs}


def pipeline_io(document: dict[str, Any]) -> dict[str, Any]:
    """A pipeline's inputs are its steps (each an object overriding the step's literal inputs);
    its result holds the declared outputs, its PROV the derivation chain across the twins."""
    inputs = {
        step["id"]: {
            "title": f"step {step['id']} ({step['twin']})",
            "description": "overrides of the step's literal inputs (bound inputs cannot be set)",
            "schema": {"type": "object"},
            "minOccurs": 0,
            "maxOccurs": 1,
        }
        for step in document["steps"]
    }
    outputs = {
        "result": {
            "title": "the pipeline's outputs",
            "description": f"netCDF with {', '.join(document.get('outputs', {})) or 'no'} outputs",
            "schema": {"type": "string", "contentMediaType": "application/x-netcdf"},
        },
        "provenance": {
            "title": "W3C PROV-JSON of the run",
            "description": "one document: every step, and each bound value derived across twins",
            "schema": {"type": "object", "contentMediaType": JSON},
        },
    }
    return {"inputs": inputs, "outputs": outputs}


def execute_request(body: Any) -> dict[str, Any]:
    """The inputs of an execute request (``{"inputs": {...}, "outputs"?, "response"?}``)."""
    if not isinstance(body, dict):
        raise BadRequest("the execute request must be a JSON object with 'inputs'")
    unknown = sorted(set(body) - {"inputs", "outputs", "response", "subscriber"})
    if unknown:
        raise BadRequest(f"unknown member(s) of the execute request: {', '.join(unknown)[:200]}")
    inputs = body.get("inputs", {})
    if not isinstance(inputs, dict):
        raise BadRequest("'inputs' must be an object of input names to values")
    # the qualified form {"value": v} of OGC is the value itself
    return {
        k: v["value"] if isinstance(v, dict) and set(v) == {"value"} else v
        for k, v in inputs.items()
    }


@dataclass(frozen=True)
class _PipelineItem:
    """A pipeline as a process: what :func:`process_summary` reads of a snapshot's twin."""

    document: dict[str, Any]
    retired: bool = False


EXECUTE_BODY = documented(
    {"type": "object", "examples": [{"inputs": {"ensemble_size": 20}}]},
    "an execute request: the process's inputs (empty: the defaults)",
)
EXECUTE_BODY["requestBody"]["required"] = False


def build_processes(
    store: Store, current_user, prefix: str, state_dir: Path, sync_seconds: float
) -> APIRouter:
    router = APIRouter(prefix="/ogcapi", tags=["OGC API - Processes"], responses=ERRORS)
    Caller = Annotated[User, Depends(current_user)]
    root = f"{prefix.rstrip('/')}/ogcapi"

    def base(request: Request) -> str:
        return f"{str(request.base_url).rstrip('/')}{root}"

    def visible_twins(user: User) -> list[Item]:
        twins = [
            t for t in store.snapshot().twins if not t.retired and user.can_see_twin(t.document)
        ]
        pipelines, _ = store.list_pipelines(user, limit=500)
        return twins + [_PipelineItem(p.document) for p in pipelines]

    def visible_twin(user: User, name: str) -> Item:
        """The twin or pipeline (one namespace) named ``name`` that the user may run."""
        twin = store.snapshot().twin_by_name.get(name)
        if twin is None:
            try:
                row = store.get_pipeline(user, name)
            except NotFound:
                raise NotFound(f"no process {name!r}") from None
            if row.retired_at is None:
                return _PipelineItem(row.document)
        if twin is None or twin.retired or not user.can_see_twin(twin.document):
            raise NotFound(f"no process {name!r}")
        return twin

    def get_job(user: User, job_id: str) -> Job:
        with store.sessions() as s:
            return jobs.visible_job(s, user.name, job_id, read_all=user.has(SCOPE_RUNS_READ))

    @router.get("/", include_in_schema=False)
    @router.get("", summary="Landing page")
    def landing(request: Request) -> dict:
        b = base(request)
        return {
            "title": "twinhub: digital twins as OGC API - Processes",
            "description": "Each twin is a process; each run a job, run as its user.",
            "links": [
                {"href": f"{b}/", "rel": "self", "type": JSON},
                {
                    "href": f"{b}/conformance",
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/conformance",
                    "type": JSON,
                },  # noqa: E501
                {
                    "href": f"{b}/processes",
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/processes",
                    "type": JSON,
                },  # noqa: E501
                {
                    "href": f"{b}/jobs",
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/job-list",
                    "type": JSON,
                },  # noqa: E501
                {
                    "href": f"{prefix.rstrip('/')}/api/openapi.json",
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.0",
                },  # noqa: E501
            ],
        }

    @router.get("/conformance", summary="Conformance classes this server declares")
    def conformance() -> dict:
        return {"conformsTo": CONFORMANCE}

    @router.get("/processes", summary="The twins you may run, as processes")
    def list_processes(user: Caller, request: Request) -> dict:
        b = base(request)
        return {
            "processes": [process_summary(t, b) for t in visible_twins(user)],
            "links": [{"href": f"{b}/processes", "rel": "self", "type": JSON}],
        }

    @router.get("/processes/{process_id}", summary="A process: inputs and outputs")
    def describe_process(user: Caller, request: Request, process_id: str) -> dict:
        return process_description(visible_twin(user, process_id), base(request))

    @router.post(
        "/processes/{process_id}/execution",
        summary="Run a twin: with 'Prefer: respond-async' 201 and the job's Location at once; "
        "else the results when the job ends within the bounded wait, or 201 as async",
        openapi_extra=EXECUTE_BODY,
    )
    async def execute(
        user: Caller,
        request: Request,
        process_id: str,
        body: Annotated[Any, json_body(current_user, optional=True)],
        prefer: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        visible_twin(user, process_id)
        inputs = execute_request({} if body is None else body)
        job_id = await asyncio.to_thread(submit, user, process_id, inputs)
        b = base(request)
        location = {"Location": f"{b}/jobs/{job_id}"}
        if not (prefer and "respond-async" in prefer.lower()):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + sync_seconds
            while loop.time() < deadline:
                job = await asyncio.to_thread(get_job, user, job_id)
                if job.status == jobs.SUCCESSFUL:
                    return JSONResponse(results_document(job, b), headers=location)
                if job.status in jobs.FINISHED:
                    break
                await asyncio.sleep(POLL_SECONDS)
        job = await asyncio.to_thread(get_job, user, job_id)
        headers = {**location, "Preference-Applied": "respond-async"}
        return JSONResponse(status_info(job, b), status_code=201, headers=headers)

    def submit(user: User, process_id: str, inputs: dict[str, Any]) -> str:
        with store.transaction() as s:
            return jobs.submit(s, owner=user.name, process=process_id, inputs=inputs)

    @router.get("/jobs", summary="Your jobs, newest first")
    def list_jobs(
        user: Caller,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        status: Annotated[str | None, Query(max_length=20)] = None,
        process: Annotated[str | None, Query(max_length=40)] = None,
    ) -> dict:
        ours = {v: k for k, v in OGC_STATUS.items()}.get(status, status)
        if ours is not None and ours not in jobs.STATES:
            raise BadRequest(f"status: one of accepted, {', '.join(jobs.STATES[1:])}")
        b = base(request)
        with store.sessions() as s:
            rows = jobs.list_jobs(
                s, user.name, read_all=user.has(SCOPE_RUNS_READ),
                process=process, status=ours, limit=limit, offset=offset,
            )  # fmt: skip
        return {
            "jobs": [status_info(j, b) for j in rows],
            "links": [{"href": f"{b}/jobs", "rel": "self", "type": JSON}],
        }

    @router.get("/jobs/{job_id}", summary="A job's status")
    def job_status(user: Caller, request: Request, job_id: str) -> dict:
        return status_info(get_job(user, job_id), base(request))

    @router.delete("/jobs/{job_id}", summary="Dismiss a job (a running one is stopped)")
    def dismiss(user: Caller, request: Request, job_id: str) -> dict:
        with store.transaction() as s:
            job = jobs.dismiss(s, user.name, job_id)
        return status_info(job, base(request))

    @router.get("/jobs/{job_id}/results", summary="Where a successful job's outputs are")
    def results(user: Caller, request: Request, job_id: str) -> dict:
        job = get_job(user, job_id)
        if job.status != jobs.SUCCESSFUL:
            why = f": {job.reason}" if job.reason else ""
            raise NotFound(f"job {job_id!r} has no results: it is {job.status}{why}")
        return results_document(job, base(request))

    @router.get("/jobs/{job_id}/outputs/{name}", summary="Download one output of a job")
    def output(user: Caller, job_id: str, name: str) -> StreamingResponse:
        job = get_job(user, job_id)
        if job.status != jobs.SUCCESSFUL or name not in OUTPUT_FILES:
            raise NotFound(f"job {job_id!r} has no output {name!r}")
        filename, media = OUTPUT_FILES[name]
        try:
            fd = jobs.open_user_file(state_dir / "jobs" / job.id / filename)
        except OSError:
            raise NotFound(f"the output {name!r} of job {job_id!r} is gone") from None
        disposition = f'attachment; filename="{job.process}-{job.id}-{filename}"'
        return StreamingResponse(
            _chunks(fd), media_type=media, headers={"Content-Disposition": disposition}
        )

    return router


def _chunks(fd: int, size: int = 1 << 20) -> Iterator[bytes]:
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(size):
            yield chunk
