"""What a simulated user does, asynchronously: log in, get a token, spawn, stop (hubtraf-like).

The hub answers 429 with ``Retry-After`` when ``concurrent_spawn_limit`` or
``active_server_limit`` is reached: that is the hub queueing, so the client waits and retries
(as the spawn page does); any other non-success answer is a failure.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import httpx

from tests.support.waiting import WaitTimeout, async_wait_for


class StepFailed(RuntimeError):
    """A step got an answer a user would see as an error."""


@dataclass
class User:
    name: str
    client: httpx.AsyncClient
    token: str = ""
    retries: int = 0
    """429 answers waited out (queueing, not failures)."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


async def login(base_url: str, name: str, password: str) -> User:
    """The login form (with its XSRF cookie), then an API token made with the login cookie."""
    client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(300, connect=30))
    page = await client.get("/hub/login")
    if page.status_code != 200:
        raise StepFailed(f"login page: {page.status_code}")
    xsrf = client.cookies.get("_xsrf") or ""
    r = await client.post(
        "/hub/login", data={"username": name, "password": password, "_xsrf": xsrf}
    )
    if r.status_code != 302:
        raise StepFailed(f"login: {r.status_code}")
    r = await client.post(
        f"/hub/api/users/{name}/tokens",
        json={"note": "bench", "expires_in": 3600},
        headers={"X-XSRFToken": client.cookies.get("_xsrf") or xsrf},
    )
    if r.status_code != 201:
        raise StepFailed(f"token: {r.status_code} {r.text[:200]}")
    return User(name=name, client=client, token=r.json()["token"])


async def _retry_429(user: User, method: str, path: str, deadline: float) -> httpx.Response:
    while True:
        r = await user.client.request(method, path, headers=user.headers, json={})
        if r.status_code != 429 or time.monotonic() > deadline:
            return r
        user.retries += 1
        await asyncio.sleep(min(float(r.headers.get("Retry-After") or 1), 5))


async def spawn(user: User, timeout: float = 300) -> float:
    """Start the default server and wait for the hub's "ready" event; seconds from request."""
    start = time.monotonic()
    deadline = start + timeout
    r = await _retry_429(user, "POST", f"/hub/api/users/{user.name}/server", deadline)
    if r.status_code not in (201, 202):
        raise StepFailed(f"spawn: {r.status_code} {r.text[:200]}")
    if r.status_code == 202:
        await _wait_ready(user, deadline)
    await _wait_answering(user, deadline)
    return time.monotonic() - start


async def _wait_answering(user: User, deadline: float) -> None:
    """The user's server answers its own API through the proxy (what a browser waits for)."""

    async def status() -> int:
        r = await user.client.get(f"/user/{user.name}/api/status", headers=user.headers)
        return r.status_code

    try:
        await async_wait_for(
            status,
            until=lambda code: code == 200,
            timeout=max(deadline - time.monotonic(), 1),
            interval=0.05,
            message="the server answering through the proxy",
        )
    except WaitTimeout as e:
        raise StepFailed(f"spawn: {e}") from None


async def _wait_ready(user: User, deadline: float) -> None:
    """Follow the hub's progress event stream (no polling) until the server is ready."""
    url = f"/hub/api/users/{user.name}/server/progress"
    async with user.client.stream("GET", url, headers=user.headers) as stream:
        if stream.status_code != 200:
            raise StepFailed(f"progress: {stream.status_code}")
        async for line in stream.aiter_lines():
            if time.monotonic() > deadline:
                raise StepFailed("spawn: not ready before the deadline")
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            if event.get("ready"):
                return
            if event.get("failed"):
                raise StepFailed(f"spawn failed: {event.get('message')}")
    # the stream ends without "ready" when the server was already up: check
    model = (await user.client.get(f"/hub/api/users/{user.name}", headers=user.headers)).json()
    if not (model["servers"].get("") or {}).get("ready"):
        raise StepFailed("spawn: progress ended without a ready server")


async def stop(user: User, timeout: float = 120) -> float:
    """Stop the default server and wait until the hub no longer lists it."""
    start = time.monotonic()
    r = await user.client.delete(f"/hub/api/users/{user.name}/server", headers=user.headers)
    if r.status_code not in (202, 204):
        raise StepFailed(f"stop: {r.status_code} {r.text[:200]}")

    async def servers() -> dict:
        r = await user.client.get(f"/hub/api/users/{user.name}", headers=user.headers)
        return r.json()["servers"]

    try:
        await async_wait_for(
            servers,
            until=lambda listed: "" not in listed,
            timeout=timeout,
            interval=0.2,
            message="the server no longer listed",
        )
    except WaitTimeout as e:
        raise StepFailed(f"stop: {e}") from None
    return time.monotonic() - start
