"""A local server's start() waits for its first answer while watching its process (issue 19
section 3): a process that exits fails the spawn at once; a slow one is waited for."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest
from twinhub.extensions.spawners.local import ServerExited, wait_answering


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_exits_fails_at_once_with_its_status() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])

    async def exited():
        return proc.poll()

    url = f"http://127.0.0.1:{free_port()}/user/ada/api"
    # an hour of timeout: only the process's end can stop this wait
    with pytest.raises(ServerExited, match="status 3"):
        asyncio.run(wait_answering(url, exited, timeout=3600))


def test_a_server_that_answers_late_is_waited_for() -> None:
    port = free_port()
    # the server's interpreter starts (and binds) only after the wait has begun
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        async def exited():
            return proc.poll()

        # any answer counts (http.server says 404 to /user/ada/api): the server is up
        asyncio.run(wait_answering(f"http://127.0.0.1:{port}/user/ada/api", exited, timeout=3600))
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait()
