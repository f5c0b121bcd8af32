"""Errors the registry's operations raise; ``api.py`` turns each into its HTTP status."""

from __future__ import annotations

import json
import logging

from fastapi.responses import JSONResponse

log = logging.getLogger("twinhub.registry")


class RegistryError(Exception):
    status = 400

    def __init__(self, detail: str | list[tuple[str, str]]):
        self.detail = detail
        super().__init__(detail if isinstance(detail, str) else "; ".join(map(str, detail)))

    def body(self) -> dict:
        if isinstance(self.detail, str):
            return {"detail": self.detail}
        return {"detail": [{"field": f, "message": m} for f, m in self.detail]}


def validation_problems(errors: list[dict]) -> list[tuple[str, str]]:
    """Pydantic's (or FastAPI's) errors as ``(field, message)`` pairs: the field is the dotted
    location without the part of the request it came from."""
    problems = []
    for e in errors:
        loc = [str(p) for p in e["loc"] if p not in ("body", "query", "path")]
        problems.append((".".join(loc) or "(body)", e["msg"]))
    return problems


class Invalid(RegistryError):
    """The document is wrong; ``detail`` lists ``(field, message)`` pairs."""

    status = 422


class BadRequest(RegistryError):
    status = 400


class NotFound(RegistryError):
    status = 404


class Conflict(RegistryError):
    status = 409


class Forbidden(RegistryError):
    status = 403


class ContainedFailureMiddleware:
    """A pure ASGI middleware: an unexpected error becomes one complete 500, nothing more.

    Starlette answers 500 and re-raises, and uvicorn then closes the connection it has just
    answered on with keep-alive. The hub's proxy pools connections, so it sent the *next*
    request, often another user's, on that closed socket and answered it 503. Here the error is
    logged and answered completely, and the connection stays usable; only when the answer had
    already begun (nothing whole can be sent any more) is the error passed on to close it.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watch(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:
                raise
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            body = json.dumps({"detail": "internal error of the registry (logged)"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


def database_refused(request, exc) -> JSONResponse:
    """A value the database engine refuses (PostgreSQL: NUL in text, numbers out of range).

    The models refuse these first, naming the field; this is the net under them, so that SQLite
    and PostgreSQL answer alike (422) instead of one of them failing with a 500.
    """
    message = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
    return JSONResponse(
        {"detail": [{"field": "(body)", "message": f"the database refused a value: {message}"}]},
        status_code=422,
    )
