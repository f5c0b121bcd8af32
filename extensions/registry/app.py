"""Assembly of the registry service: database, discovery, auth, routes, metrics, uvicorn.

``python -m twinhub.extensions.registry`` is what the hub runs (service ``twinhub``); everything
is served under the prefix the hub's proxy forwards (``/services/twinhub/``), including the
OpenAPI document at ``.../api/openapi.json`` and its docs page at ``.../api/docs``.
"""

from __future__ import annotations

import copy
import logging
from importlib.metadata import PackageNotFoundError, version

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
from twinhub.extensions.accesslog import RedactSecrets
from twinhub.twins.manifest import TwinManifest

from . import metrics
from .api import build_router
from .auth import Authenticator
from .config import RegistryConfig
from .db import open_database
from .discovery import discover_all
from .errors import ContainedFailureMiddleware, RegistryError, database_refused
from .limits import BodyLimitMiddleware
from .models import InfraProfile
from .pages import build_pages
from .publishing import Publisher
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
    """FastAPI's own 422s in our shape: one ``{field, message}`` per problem."""
    detail = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"] if p not in ("body", "query", "path")]
        detail.append({"field": ".".join(loc) or "(body)", "message": e["msg"]})
    return JSONResponse({"detail": detail}, status_code=422)


def _documented_bodies(app: FastAPI) -> None:
    """Publish the twin manifest and profile schemas as the bodies of the write routes.

    The routes read raw JSON (so that our own validation names the fields), which OpenAPI
    would show as "any"; here the real schemas are put in ``components`` and referenced.
    """
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        spec = build()
        _, defs = models_json_schema(
            [(TwinManifest, "validation"), (InfraProfile, "validation")],
            ref_template="#/components/schemas/{model}",
        )
        spec.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        for path, item in spec["paths"].items():
            model = "TwinManifest" if "/twins" in path else "InfraProfile"
            for method in ("post", "put"):
                op = item.get(method)
                if op and (
                    path.endswith("/twins")
                    or path.endswith("/twins/{name}")
                    or path.endswith("/profiles")
                    or path.endswith("/profiles/{slug}")
                ):
                    op["requestBody"]["content"]["application/json"]["schema"] = {
                        "$ref": f"#/components/schemas/{model}"
                    }
        app.openapi_schema = spec
        return spec

    app.openapi = openapi


def create_app(config: RegistryConfig | None = None) -> FastAPI:
    config = config or RegistryConfig.from_env()
    store = Store(open_database(config.database_url))
    discover_all(store, config.profiles_file, config.twins_dir)
    publisher = Publisher(store, config.state_dir)
    auth = Authenticator(config.auth_cache_seconds)
    prefix = config.prefix.rstrip("/")

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
    app.include_router(build_pages(store, auth, config.prefix, config.twins_dir), prefix=prefix)
    _swagger_ui(app, prefix)

    @app.get(f"{prefix}/metrics", include_in_schema=False)
    def prometheus() -> Response:
        metrics.refresh(store.counts())
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    _documented_bodies(app)
    app.state.store = store
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
