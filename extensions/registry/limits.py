"""Refuse hostile request bodies before anything parses them.

* bodies over ``MAX_BODY_BYTES`` (a twin manifest is a few KiB; 1 MiB leaves ample room for
  PROV documents) get 413, whether announced by ``Content-Length`` or streamed in chunks;
* a URL whose path or query holds a NUL or another control character gets 422: no name of ours
  contains one, and PostgreSQL refuses NUL in a query (a 500).

A body sent without any credentials (no ``Authorization``, no cookie) is answered 401 once
read. These checks run before authentication, for anyone: each is one linear pass over at most
``MAX_BODY_BYTES``, so no request can hold the event loop. Nothing else looks into a body before
the caller is authenticated: the routes read their bodies themselves (``bodies.py``) and only
then measure the JSON's depth (:func:`json_depth`: nested deeper than ``MAX_JSON_DEPTH`` is 422,
since Python's parser would recurse until ``RecursionError``), parse and validate it, in a
worker thread. ``make bench`` ("hostile body") measures the largest allowed body.

YAML never reaches the API (it takes JSON only); the CLI and discovery read YAML
through `twinhub.twins.manifest.safe_yaml`, which refuses alias bombs and deep nesting.
"""

from __future__ import annotations

import json
import re

import numpy as np

from .auth import LOGIN_HINT

MAX_BODY_BYTES = 1024 * 1024
UPLOAD_PATH = re.compile(r"/api/twins/[^/]+/versions$")
MAX_JSON_DEPTH = 64
DRAIN_BYTES = 8 * MAX_BODY_BYTES
"""Oversized bodies up to this size are read and dropped before the 413 (clean for clients)."""


class BodyLimitMiddleware:
    """A pure ASGI middleware (it must see the body before FastAPI reads it)."""

    def __init__(
        self,
        app,
        max_bytes: int = MAX_BODY_BYTES,
        upload_bytes: int = MAX_BODY_BYTES,
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes
        """Limit of a twin archive (``POST .../twins/{name}/versions``): not JSON, so its
        nesting is not measured."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if _has_control(scope["path"], scope.get("query_string", b"")):
            detail = [{"field": "(url)", "message": "contains a NUL or control character"}]
            return await _refuse(send, 422, detail)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or ())
        upload = scope["method"] == "POST" and UPLOAD_PATH.search(scope["path"]) is not None
        max_bytes = self.upload_bytes if upload else self.max_bytes
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > max_bytes):
            # read (and drop) a moderately large body first, so that the client reads our
            # answer instead of a connection reset; a huge one is cut off
            if length.isdigit() and int(length) <= DRAIN_BYTES:
                await _drain(receive)
            return await _refuse(send, 413, self._too_large(max_bytes))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > max_bytes:
                return await _refuse(send, 413, self._too_large(max_bytes))
            chunks.append(body)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if b"authorization" not in headers and b"cookie" not in headers:
            # no credentials at all: only a 401 can follow, so nothing reads the body further
            return await _refuse(send, 401, LOGIN_HINT)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    def _too_large(self, max_bytes: int) -> str:
        return f"the request body exceeds {max_bytes // 1024} KiB"


_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.S)
"""A JSON string, or an unterminated one to the end of the body. Possessive, and it always
matches once it starts: the scan never backtracks nor restarts inside a string (the earlier
form retried from every escaped quote of an unterminated string: quadratic)."""
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
"""``[``/``{`` count +1, ``]``/``}`` count -1 (as signed bytes)."""


def json_depth(body: bytes) -> int:
    """Deepest nesting of ``[``/``{`` outside JSON strings, without parsing (no recursion).

    Linear: strings are cut out by one regular-expression pass, the brackets left are turned
    into +1/-1 and their running sum taken by numpy.
    """
    brackets = _STRING.sub(b"", body).translate(_STEP, _NOT_BRACKET)
    if not brackets:
        return 0
    return max(int(np.cumsum(np.frombuffer(brackets, dtype=np.int8), dtype=np.int64).max()), 0)


_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]|%(?:[01][0-9a-fA-F]|7[fF])")


def _has_control(path: str, query: bytes) -> bool:
    """A NUL or control character in the (decoded) path, or raw or %-encoded in the query."""
    return bool(_CONTROL_BYTES.search(path.encode("utf-8", "surrogatepass"))) or bool(
        _CONTROL_BYTES.search(query)
    )


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
