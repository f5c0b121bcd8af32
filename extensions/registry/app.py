"""Assembly of the registry service: database, discovery, auth, routes, metrics, uvicorn.

``python -m twinhub.extensions.registry`` is what the hub runs (service ``twinhub``); everything
is served under the prefix the hub's proxy forwards (``/services/twinhub/``), including the
OpenAPI document at ``.../api/openapi.json`` and its docs page at ``.../api/docs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import DataError
from swagger_ui_bundle import swagger_ui_path
from twinhub.contracts.manifest import TwinManifest
from twinhub.contracts.profile import InfraProfile
from twinhub.contracts.runs import RunRequest, RunUpdate
from twinhub.extensions import runtimes
from twinhub.extensions.accesslog import RedactSecrets

from . import metrics
from .api import build_router
from .auth import Authenticator
from .config import RegistryConfig, default_database
from .db import open_database
from .discovery import discover_all
from .errors import (
    ContainedFailureMiddleware,
    Invalid,
    RegistryError,
    database_refused,
    validation_problems,
)
from .limits import BodyLimitMiddleware
from .pages import build_pages
from .processes import build_processes
from .publishing import Publisher
from .schedule_api import build_schedule_router
from .scheduler import Scheduler, utc_now
from .schedules import Schedules
from .security import SecurityHeadersMiddleware
from .store import Store

log = logging.getLogger("twinhub.registry")
KEEP_ALIVE_SECONDS = 75
"""Idle keep-alive connections are kept longer than the hub's proxy keeps them (Node's agent:
a few seconds), so the proxy never sends a request on a connection we are closing."""


def _version() -> str:
    try:
        return version("twinhub")
    except PackageNotFoundError:
        return "0+unknown"


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own 422s (query and path parameters) in our shape: one ``{field, message}``
    per problem, as the bodies' own (``bodies.parse_json``)."""
    return JSONResponse(Invalid(validation_problems(exc.errors())).body(), status_code=422)


BODY_MODELS = [TwinManifest, InfraProfile, RunRequest, RunUpdate]
"""The models of the bodies the write routes read themselves (``bodies.json_body``)."""


def _documented_bodies(app: FastAPI) -> None:
    """Publish the schemas of the write routes' bodies in the OpenAPI ``components``.

    The routes read their bodies themselves, after authentication (``bodies.py``), and refer to
    these schemas in their ``openapi_extra``; FastAPI knows nothing of them, so they are added
    here, as the models validate.
    """
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        spec = build()
        _, defs = models_json_schema(
            [(model, "validation") for model in BODY_MODELS],
            ref_template="#/components/schemas/{model}",
        )
        spec.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        app.openapi_schema = spec
        return spec

    app.openapi = openapi


def create_app(
    config: RegistryConfig | None = None, clock: Callable[[], datetime] = utc_now
) -> FastAPI:
    """The registry; ``clock`` is the scheduler's time (tests pass their own)."""
    config = config or RegistryConfig.from_env()
    if config.database_url == f"sqlite:///{default_database(config.state_dir)}":
        # made private to the platform's account by the launcher; here for a registry run alone
        default_database(config.state_dir).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = Store(
        open_database(config.database_url),
        check_entry_points=functools.partial(runtimes.entry_point_errors, settings=config),
    )
    discover_all(store, config.profiles_file, config.twins_dir)
    publisher = Publisher(store, config.state_dir)
    auth = Authenticator(config.auth_cache_seconds)
    prefix = config.prefix.rstrip("/")
    schedules = Schedules(store, config.webhook_allowed_hosts, clock)
    scheduler = Scheduler(store, webhook_hosts=config.webhook_allowed_hosts)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.create_task(scheduler.run_forever(clock, config.scheduler_interval))
        try:
            yield
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    app = FastAPI(
        title="twinhub registry",
        summary="Digital twins and infrastructure profiles of a twinhub gateway",
        description=(
            "Authenticate with `Authorization: token <hub API token>` (create one at /hub/token)"
            " or a logged-in browser. Writes need the custom scopes "
            "`custom:twinhub:twins:write` / `custom:twinhub:profiles:write`."
        ),
        version=_version(),
        openapi_url=f"{prefix}/api/openapi.json",
        docs_url=None,  # served below from local files: the gateway may have no internet
        redoc_url=None,
        lifespan=lifespan,
    )
    # innermost: an unexpected error is one complete 500 on a connection that stays usable
    app.add_middleware(ContainedFailureMiddleware)
    app.add_middleware(metrics.MetricsMiddleware)
    # outermost: oversized or absurdly nested bodies are refused before anything reads them
    app.add_middleware(BodyLimitMiddleware, upload_bytes=publisher.limits.max_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_exception_handler(
        RegistryError, lambda request, e: JSONResponse(e.body(), status_code=e.status)
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DataError, database_refused)
    app.include_router(build_router(store, auth.require_api_user, publisher), prefix=prefix)
    app.include_router(build_schedule_router(schedules, auth.require_api_user), prefix=prefix)
    app.include_router(
        build_pages(store, auth, config.prefix, config.twins_dir, schedules), prefix=prefix
    )
    app.include_router(
        build_processes(
            store,
            auth.require_api_user,
            config.prefix,
            config.state_dir,
            config.sync_execute_seconds,
        ),
        prefix=prefix,
    )
    _swagger_ui(app, prefix)

    @app.get(f"{prefix}/metrics", include_in_schema=False)
    def prometheus() -> Response:
        metrics.refresh(store.counts())
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    _documented_bodies(app)
    app.state.store = store
    app.state.auth = auth
    app.state.scheduler = scheduler
    app.state.publisher = publisher
    return app


def _swagger_ui(app: FastAPI, prefix: str) -> None:
    """The API docs page with Swagger UI's files from the swagger-ui-bundle package, not a CDN."""
    assets = f"{prefix}/api/static/swagger-ui"
    app.mount(assets, StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get(f"{prefix}/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url="/hub/static/favicon.ico",
        )


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"
    )
    config = RegistryConfig.from_env()
    app = create_app(config)
    if config.modules_file:  # tests only: what this process imported, read from outside
        Path(config.modules_file).write_text("\n".join(sorted(sys.modules)) + "\n")
    log.info("twinhub registry at http://%s:%s%s", config.host, config.port, config.prefix)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level="info",
        proxy_headers=True,
        # the C event loop and HTTP parser: about half the time of a read was the pure-Python
        # asyncio loop and h11 parser (profiled under load, README "Performance")
        loop="uvloop",
        http="httptools",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        log_config=access_log_config(),
    )


def access_log_config() -> dict:
    """uvicorn's own logging, its access log filtered by the gateway's redaction (no OAuth
    ``code``/``state`` or token in a log line, as in the hub's)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": RedactSecrets}
    config["handlers"]["access"].setdefault("filters", []).append("redact")
    return config
