"""One user's failure is never another user's: an error answer leaves the connection usable.

Starlette answered an unexpected error with a 500 and re-raised it, and uvicorn then closed the
keep-alive connection it had just answered on; the hub's proxy, which pools connections, sent
the next request (often another user's) on that socket and answered it 503. The error here is a
real one: the registry's SQLite database is locked by another writer beyond its busy timeout.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from twinhub.extensions.registry.config import default_database

from tests.support.registry import API, Registry

pytestmark = pytest.mark.integration


@contextmanager
def database_locked(registry: Registry) -> Iterator[None]:
    """Another writer holds the registry's database: its writes fail after the busy timeout."""
    path = default_database(registry.gateway.settings.state_dir)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


def http_request(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: registry\r\nAuthorization: token {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One whole HTTP/1.1 response (with Content-Length) from a keep-alive socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed after {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed in the middle of a body")
        rest += chunk
    return status, rest[:length]


def test_connection_stays_usable_after_an_error_answer(registry: Registry) -> None:
    settings = registry.gateway.settings
    token = registry.users["alice"].token
    with socket.create_connection(("127.0.0.1", settings.registry_port), timeout=60) as sock:
        with database_locked(registry):
            sock.sendall(http_request("POST", f"{API}/twins/growth/runs", token, b"{}"))
            status, body = read_response(sock)
        assert status >= 500, body
        # the same connection answers the next request: it was not closed under the client
        sock.sendall(http_request("GET", f"{API}/health", token))
        status, _ = read_response(sock)
        assert status == 200


def test_another_user_on_the_proxy_is_not_answered_503(registry: Registry) -> None:
    with registry.client("alice") as alice, registry.client("lena") as lena:
        assert lena.get("/twins").status_code == 200  # the proxy holds a pooled connection
        for _ in range(3):
            with database_locked(registry):
                r = alice.post("/twins/growth/runs", json={})
            assert r.status_code >= 500
            statuses = [lena.get("/twins/growth").status_code for _ in range(5)]
            assert statuses == [200] * 5
