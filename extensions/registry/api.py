"""REST routes of the registry (``/services/twinhub/api/...``), documented by OpenAPI.

Routes stay thin: they authenticate, call one :class:`store.Store` operation and shape the
answer. Bodies of twins and profiles are taken as raw JSON and validated by our own models, so
that a 422 names each wrong field the way ``twinhub validate`` does. No route declares a body
parameter: each reads its body only after authenticating the caller, off the event loop
(``bodies.py``).
"""

from typing import Annotated, Any

import prov.model
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from twinhub.contracts.jsonvalues import DOCUMENT, json_problems
from twinhub.contracts.manifest import TwinManifest
from twinhub.contracts.profile import InfraProfile
from twinhub.contracts.runs import RunRecord, RunRequest, RunUpdate
from twinhub.twins.pipeline import Pipeline

from . import metrics
from .auth import User
from .bodies import component, documented, json_body
from .db import History, PipelineRow, Run
from .errors import BadRequest, Forbidden, Invalid, NotFound
from .models import ErrorBody, HistoryEntry, Page, PipelineRecord, ProfileRecord, TwinRecord
from .publishing import Publisher, chunks, media_type
from .snapshot import etag, not_modified, page_body, profile_record, select_items, twin_record
from .store import Store

ERRORS = {
    401: {"model": ErrorBody, "description": "no credentials"},
    403: {"model": ErrorBody, "description": "token without the needed scope"},
    404: {"model": ErrorBody, "description": "missing, or not visible to the caller"},
    409: {"model": ErrorBody, "description": "already exists / already in that state"},
    422: {"model": ErrorBody, "description": "invalid document: one entry per wrong field"},
}
TWIN_BODY = documented(component("TwinManifest"), "a twin manifest (the fields of twin.yaml)")
PIPELINE_BODY = documented({"type": "object"}, "a pipeline (the fields of pipeline.yaml)")
PROFILE_BODY = documented(component("InfraProfile"), "an infrastructure profile")
RUN_BODY = documented(component("RunRequest"), "the run's parameters (and status)")
RUN_UPDATE_BODY = documented(component("RunUpdate"), "the run's new status")
PROV_BODY = documented({"type": "object"}, "a W3C PROV-JSON document with the run's activity")
CHOICE_BODY = documented(
    {"type": "object", "examples": [{"profile": "small"}]}, "a {profile, twin, server} choice"
)
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]
"""Bounded: SQL engines refuse offsets beyond 64 bits, which was a 500 (found by fuzzing)."""
IfNoneMatch = Annotated[
    str | None,
    Header(description="an ETag of an earlier answer: 304 without a body if it is unchanged"),
]
NOT_MODIFIED = {304: {"description": "unchanged since the ETag sent in If-None-Match"}}


def cached_json(body: bytes, if_none_match: str | None) -> Response:
    """A JSON answer with its ETag, or 304 when the client already holds it.

    ``private, no-cache``: the answer depends on who asks (visibility), so shared caches keep
    none, and clients revalidate each time (a 304 costs the registry almost nothing).
    """
    tag = etag(body)
    headers = {"ETag": tag, "Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}
    if not_modified(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def run_record(r: Run) -> RunRecord:
    return RunRecord(
        id=r.id,
        twin=r.twin_name,
        twin_version=r.twin_version,
        user=r.user,
        parameters=r.parameters,
        status=r.status,
        error=r.error,
        has_provenance=r.provenance is not None,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def pipeline_record(p: PipelineRow) -> PipelineRecord:
    return PipelineRecord(
        name=p.name,
        title=p.title,
        version=p.version,
        pipeline=p.document,
        retired=p.retired_at is not None,
        source=p.source,
        created_at=p.created_at,
        updated_at=p.updated_at,
        updated_by=p.updated_by,
    )


def history_entry(h: History) -> HistoryEntry:
    return HistoryEntry(
        action=h.action, version=h.version, document=h.document, actor=h.actor, at=h.at
    )


def check_prov(document: Any) -> dict:
    """Accept only a W3C PROV-JSON document (parsed by the `prov` package) with an activity.

    What is stored is what ``GET /runs/{id}/provenance`` answers, unchanged: so every PROV
    answer of the registry is a document ``prov.read(..., format="json")`` reads back.
    """
    if not isinstance(document, dict) or not document:
        raise Invalid([("(body)", "must be a PROV-JSON object (entity, activity, agent, ...)")])
    problems = json_problems(document, "(body)", DOCUMENT)
    if problems:
        raise Invalid(problems)
    try:
        parsed = prov.model.ProvDocument.deserialize(content=_json(document), format="json")
    except Exception as e:  # prov raises many kinds of errors for malformed documents
        raise Invalid([("(body)", f"not a W3C PROV-JSON document: {e}")]) from None
    if not list(parsed.get_records()):
        raise Invalid([("(body)", "the PROV document has no records")])
    if not list(parsed.get_records(prov.model.ProvActivity)):
        # a run's provenance describes the run: PROV's activity, what it used and generated
        raise Invalid([("(body)", "the PROV document has no activity (the run)")])
    return document


def _json(document: dict) -> str:
    import json

    return json.dumps(document)


def build_router(store: Store, current_user, publisher: Publisher | None = None) -> APIRouter:
    """All API routes; ``current_user`` is the authenticating dependency."""
    api = APIRouter(prefix="/api", responses=ERRORS)
    Caller = Annotated[User, Depends(current_user)]
    Document = Annotated[Any, json_body(current_user)]
    """A JSON body, read once the caller is authenticated (``bodies.json_body``)."""

    @api.get("/health", tags=["service"], summary="Liveness and database check (no auth)")
    def health() -> dict:
        counts = store.counts()
        metrics.refresh(counts)
        return {"status": "ok", **counts}

    @api.get("/whoami", tags=["service"], summary="Who the registry thinks you are")
    def whoami(user: Caller) -> dict:
        return {"name": user.name, "groups": sorted(user.groups), "scopes": sorted(user.scopes)}

    @api.get("/schema/twin", tags=["twins"], summary="JSON schema of the twin manifest")
    def twin_schema() -> dict:
        return TwinManifest.model_json_schema()

    @api.get("/schema/profile", tags=["profiles"], summary="JSON schema of a profile")
    def profile_schema() -> dict:
        return InfraProfile.model_json_schema()

    # --- twins ---------------------------------------------------------------------------------
    # the reads below are served from the store's snapshot (no database session, no thread)
    @api.get(
        "/twins",
        tags=["twins"],
        summary="Twins visible to the caller",
        response_model=Page[TwinRecord],
        responses=NOT_MODIFIED,
    )
    async def list_twins(
        user: Caller,
        domain: str | None = None,
        q: Annotated[str | None, Query(description="text in name, title or summary")] = None,
        retired: Annotated[bool, Query(description="include retired twins")] = False,
        limit: Limit = 50,
        offset: Offset = 0,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        items = select_items(
            store.snapshot().twins, user.can_see_twin, retired=retired, domain=domain, q=q
        )
        return cached_json(page_body(items, limit, offset), if_none_match)

    @api.post(
        "/twins",
        tags=["twins"],
        status_code=201,
        summary="Register a twin",
        openapi_extra=TWIN_BODY,
    )
    def create_twin(user: Caller, manifest: Document) -> TwinRecord:
        return twin_record(store.create_twin(user, manifest))

    @api.get("/twins/{name}", tags=["twins"], response_model=TwinRecord, responses=NOT_MODIFIED)
    async def get_twin(user: Caller, name: str, if_none_match: IfNoneMatch = None) -> Response:
        twin = store.snapshot().twin_by_name.get(name)
        if twin is None or not user.can_see_twin(twin.document):
            raise NotFound(f"no twin named {name!r}")
        return cached_json(twin.body, if_none_match)

    @api.put(
        "/twins/{name}",
        tags=["twins"],
        summary="Replace a twin's manifest (new version)",
        openapi_extra=TWIN_BODY,
    )
    def update_twin(user: Caller, name: str, manifest: Document) -> TwinRecord:
        return twin_record(store.update_twin(user, name, manifest))

    @api.delete("/twins/{name}", tags=["twins"], summary="Retire (hide from launch, keep history)")
    def retire_twin(user: Caller, name: str) -> TwinRecord:
        return twin_record(store.set_twin_retired(user, name, True))

    @api.post("/twins/{name}/restore", tags=["twins"], summary="Bring a retired twin back")
    def restore_twin(user: Caller, name: str) -> TwinRecord:
        return twin_record(store.set_twin_retired(user, name, False))

    @api.get("/twins/{name}/history", tags=["twins"])
    def twin_history(user: Caller, name: str) -> list[HistoryEntry]:
        return [history_entry(h) for h in store.history(user, "twin", name)]

    # --- published twins (twinhub publish) -----------------------------------------------------
    if publisher is not None:
        _publishing_routes(api, publisher, Caller)

    # --- pipelines -----------------------------------------------------------------------------
    @api.get("/schema/pipeline", tags=["pipelines"], summary="JSON schema of a pipeline")
    def pipeline_schema() -> dict:
        return Pipeline.model_json_schema(by_alias=True)

    @api.get("/pipelines", tags=["pipelines"], summary="Pipelines visible to the caller")
    def list_pipelines(
        user: Caller, retired: bool = False, limit: Limit = 50, offset: Offset = 0
    ) -> Page[PipelineRecord]:
        rows, total = store.list_pipelines(user, retired=retired, limit=limit, offset=offset)
        items = [pipeline_record(p) for p in rows]
        return Page(items=items, total=total, limit=limit, offset=offset)

    @api.post(
        "/pipelines",
        tags=["pipelines"],
        status_code=201,
        summary="Register a pipeline",
        openapi_extra=PIPELINE_BODY,
    )
    def create_pipeline(user: Caller, document: Document) -> PipelineRecord:
        return pipeline_record(store.create_pipeline(user, document))

    @api.get("/pipelines/{name}", tags=["pipelines"])
    def get_pipeline(user: Caller, name: str) -> PipelineRecord:
        return pipeline_record(store.get_pipeline(user, name))

    # --- profiles ------------------------------------------------------------------------------
    @api.get(
        "/profiles",
        tags=["profiles"],
        summary="Profiles the caller may use",
        response_model=Page[ProfileRecord],
        responses=NOT_MODIFIED,
    )
    async def list_profiles(
        user: Caller,
        retired: bool = False,
        limit: Limit = 50,
        offset: Offset = 0,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        items = select_items(store.snapshot().profiles, user.can_use_profile, retired=retired)
        return cached_json(page_body(items, limit, offset), if_none_match)

    @api.post("/profiles", tags=["profiles"], status_code=201, openapi_extra=PROFILE_BODY)
    def create_profile(user: Caller, profile: Document) -> ProfileRecord:
        return profile_record(store.create_profile(user, profile))

    @api.get(
        "/profiles/{slug}", tags=["profiles"], response_model=ProfileRecord, responses=NOT_MODIFIED
    )
    async def get_profile(user: Caller, slug: str, if_none_match: IfNoneMatch = None) -> Response:
        profile = store.snapshot().profile_by_slug.get(slug)
        if profile is None or not user.can_use_profile(profile.document):
            raise NotFound(f"no infrastructure profile {slug!r}")
        return cached_json(profile.body, if_none_match)

    @api.put("/profiles/{slug}", tags=["profiles"], openapi_extra=PROFILE_BODY)
    def update_profile(user: Caller, slug: str, profile: Document) -> ProfileRecord:
        return profile_record(store.update_profile(user, slug, profile))

    @api.delete("/profiles/{slug}", tags=["profiles"], summary="Retire a profile")
    def retire_profile(user: Caller, slug: str) -> ProfileRecord:
        return profile_record(store.set_profile_retired(user, slug, True))

    @api.post("/profiles/{slug}/restore", tags=["profiles"])
    def restore_profile(user: Caller, slug: str) -> ProfileRecord:
        return profile_record(store.set_profile_retired(user, slug, False))

    @api.get("/profiles/{slug}/history", tags=["profiles"])
    def profile_history(user: Caller, slug: str) -> list[HistoryEntry]:
        return [history_entry(h) for h in store.history(user, "profile", slug)]

    # --- runs ----------------------------------------------------------------------------------
    @api.post(
        "/twins/{name}/runs",
        tags=["runs"],
        status_code=201,
        summary="Record a run",
        openapi_extra=RUN_BODY,
    )
    def create_run(
        user: Caller,
        name: str,
        request: Annotated[RunRequest, json_body(current_user, RunRequest)],
    ) -> RunRecord:
        return run_record(store.create_run(user, name, request))

    @api.get("/runs", tags=["runs"], summary="Your runs (every run with runs:read)")
    def list_runs(
        user: Caller, twin: str | None = None, limit: Limit = 50, offset: Offset = 0
    ) -> Page[RunRecord]:
        rows, total = store.list_runs(user, twin, limit, offset)
        return Page(items=[run_record(r) for r in rows], total=total, limit=limit, offset=offset)

    @api.get("/runs/{run_id}", tags=["runs"])
    def get_run(user: Caller, run_id: str) -> RunRecord:
        return run_record(store.get_run(user, run_id))

    @api.patch(
        "/runs/{run_id}",
        tags=["runs"],
        summary="Report a run's status (its user only)",
        openapi_extra=RUN_UPDATE_BODY,
    )
    def update_run(
        user: Caller,
        run_id: str,
        update: Annotated[RunUpdate, json_body(current_user, RunUpdate)],
    ) -> RunRecord:
        return run_record(store.update_run(user, run_id, status=update.status, error=update.error))

    @api.put(
        "/runs/{run_id}/provenance",
        tags=["runs"],
        summary="Store the run's PROV-JSON",
        openapi_extra=PROV_BODY,
    )
    def put_provenance(user: Caller, run_id: str, document: Document) -> RunRecord:
        return run_record(store.update_run(user, run_id, provenance=check_prov(document)))

    @api.get("/runs/{run_id}/provenance", tags=["runs"], summary="The run's W3C PROV-JSON")
    def get_provenance(user: Caller, run_id: str) -> Response:
        run = store.get_run(user, run_id)
        if run.provenance is None:
            raise NotFound(f"run {run_id!r} has no provenance record yet")
        return Response(_json(run.provenance), media_type="application/json")

    # --- spawn support (the hub's spawn hooks, with the user's token) --------------------------
    @api.get("/spawn/options", tags=["spawn"], summary="Profiles and twins the caller may launch")
    def spawn_options(user: Caller) -> dict:
        profiles, _ = store.list_profiles(user, limit=500)
        twins, _ = store.list_twins(user, limit=500)
        return {
            "profiles": [p.profile for p in profiles],
            "twins": [t.manifest for t in twins],
        }

    @api.post(
        "/spawn/resolve",
        tags=["spawn"],
        summary="Check a {profile, twin} choice",
        openapi_extra=CHOICE_BODY,
    )
    def spawn_resolve(user: Caller, choice: Document) -> dict:
        if not isinstance(choice, dict):
            raise Invalid([("(body)", "must be a JSON object")])
        problems = json_problems(choice, "(body)")
        if problems:
            raise Invalid(problems)
        twin = None
        if not choice.get("twin") and choice.get("server"):
            # a named server called after a twin the user may see launches that twin
            try:
                twin = store.twin_manifest(user, str(choice["server"]))
            except NotFound:
                twin = None
        if choice.get("twin"):
            try:
                twin = store.twin_manifest(user, str(choice["twin"]))
            except NotFound:
                raise Forbidden(
                    f"twin {choice['twin']!r} does not exist or is not available to {user.name}"
                ) from None
        slug = choice.get("profile") or (twin.profile if twin else None)
        if not slug:
            profiles, _ = store.list_profiles(user, limit=500)
            defaults = [p.slug for p in profiles if p.profile.get("default")] or [
                p.slug for p in profiles
            ]
            if not defaults:
                raise BadRequest("no infrastructure profile is available to you")
            slug = defaults[0]
        try:
            profile = store.get_profile(user, str(slug))
        except NotFound:
            raise Forbidden(
                f"profile {slug!r} does not exist or is not available to {user.name}"
            ) from None
        if profile.retired_at is not None:
            raise Forbidden(f"profile {slug!r} is retired")
        metrics.LAUNCHES.labels(twin.name if twin else "", profile.slug).inc()
        return {
            "profile": profile.profile,
            "twin": twin.model_dump(mode="json") if twin else None,
        }

    return api


ARCHIVE_BODY = {
    "requestBody": {
        "required": True,
        "description": "the twin folder as a .tar.gz (what `twinhub publish` sends)",
        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
    }
}
Version = Annotated[int, Path(ge=1, le=1_000_000, description="version number")]


def _publishing_routes(api: APIRouter, publisher: Publisher, Caller) -> None:  # noqa: N803
    @api.post(
        "/twins/{name}/versions",
        tags=["publish"],
        status_code=202,
        summary="Publish a version of your twin (a .tar.gz of its folder): built, tested, served",
        openapi_extra=ARCHIVE_BODY,
    )
    async def publish_version(user: Caller, name: str, request: Request) -> dict:
        data = await request.body()  # bounded by the body limit (TWINHUB_PUBLISH_MAX_BYTES)
        return await run_in_threadpool(publisher.upload, user, name, data)

    @api.get("/twins/{name}/versions", tags=["publish"], summary="Published versions of a twin")
    def list_versions(user: Caller, name: str) -> list[dict]:
        return publisher.list_versions(user, name)

    @api.get(
        "/twins/{name}/versions/{number}",
        tags=["publish"],
        summary="A version's state (building, testing, served, ready, failed) and its log tail",
    )
    def get_version(user: Caller, name: str, number: Version) -> dict:
        return publisher.get_version(user, name, number)

    @api.post(
        "/twins/{name}/versions/{number}/serve",
        tags=["publish"],
        summary="Serve this version (rollback to one that built and passed)",
    )
    def serve_version(user: Caller, name: str, number: Version) -> dict:
        return publisher.serve(user, name, number)

    @api.get(
        "/twins/{name}/data",
        tags=["publish"],
        summary="A published twin's data files as a STAC Item (visible as the twin is)",
    )
    def twin_data(user: Caller, name: str, request: Request) -> dict:
        base = str(request.url).split("?")[0].rstrip("/")
        return publisher.data_item(user, name, base)

    @api.get("/twins/{name}/data/{path:path}", tags=["publish"], summary="One data file")
    def twin_data_file(user: Caller, name: str, path: str) -> StreamingResponse:
        fd = publisher.data_file(user, name, path)
        return StreamingResponse(chunks(fd), media_type=media_type(path))
