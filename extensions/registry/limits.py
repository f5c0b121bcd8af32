"""Refuse hostile request bodies before anything parses them.

* bodies over ``MAX_BODY_BYTES`` (a twin manifest is a few KiB; 1 MiB leaves ample room for
  PROV documents) get 413, whether announced by ``Content-Length`` or streamed in chunks;
* JSON nested deeper than ``MAX_JSON_DEPTH`` gets 422: Python's parser would recurse until it
  raises ``RecursionError`` (a 500), and no manifest or PROV record is nested that deep.

YAML never reaches the API (it takes JSON only); the CLI and discovery read YAML
through `twinhub.twins.manifest.safe_yaml`, which refuses alias bombs and deep nesting.
"""

from __future__ import annotations

import json
import re

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64
DRAIN_BYTES = 8 * MAX_BODY_BYTES
"""Oversized bodies up to this size are read and dropped before the 413 (clean for clients)."""


class BodyLimitMiddleware:
    """A pure ASGI middleware (it must see the body before FastAPI reads it)."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH):
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            # read (and drop) a moderately large body first, so that the client reads our
            # answer instead of a connection reset; a huge one is cut off
            if length.isdigit() and int(length) <= DRAIN_BYTES:
                await _drain(receive)
            return await _refuse(send, 413, self._too_large())
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                return await _refuse(send, 413, self._too_large())
            chunks.append(body)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if json_depth(body) > self.max_depth:
            detail = [{"field": "(body)", "message": f"nested deeper than {self.max_depth}"}]
            return await _refuse(send, 422, detail)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"the request body exceeds {self.max_bytes // 1024} KiB"


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """Deepest nesting of ``[``/``{`` outside JSON strings, without parsing (no recursion)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", body)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


async def _drain(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body"):
            return


async def _refuse(send, status: int, detail) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
