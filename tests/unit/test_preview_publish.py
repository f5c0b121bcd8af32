"""The preview's Publish button, in-process: its routes on a real tornado server, no hub.

Only the twin folders of the server's root are offered and accepted (hostile names, links,
folders without a manifest get 404 naming the field); a POST without the page's XSRF value, or
one the browser marks cross-site, is refused before anything is read or sent; a folder whose
manifest is broken is refused with the manifest's message, nothing uploaded. (Publishing for
real, through the hub, in Chromium: tests/ui/test_publish_from_preview.py.) A folder whose build
failed is published again from the button and from ``twinhub publish``, against the real
registry app served in a thread (only the hub's word on whose token it is supplied).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from pathlib import Path

import pytest
import uvicorn
from fastapi import Request
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.web import Application
from twinhub.extensions.executor.builds import claim_build, fail_interrupted_builds
from twinhub.extensions.registry import cli
from twinhub.extensions.registry.app import create_app
from twinhub.extensions.registry.auth import User
from twinhub.extensions.registry.config import PACKAGE_ROOT, RegistryConfig
from twinhub.extensions.registry.scaffold import new_twin
from twinhub.extensions.server.preview import index_handler
from twinhub.extensions.server.publish_button import COOKIE, publish_handlers

from tests.support.gateway import free_ports
from tests.support.waiting import wait_for

PREFIX = "/user/alice/panel"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # no registry anywhere: a request that got as far as uploading would fail with 502
    (port,) = free_ports(1)
    monkeypatch.setenv("TWINHUB_API_URL", f"http://127.0.0.1:{port}/services/twinhub/api")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "not-a-token")
    monkeypatch.delenv("TWINHUB_URL", raising=False)
    new_twin("good-twin", tmp_path, user="alice")
    new_twin("broken-twin", tmp_path, user="alice")
    (tmp_path / "broken-twin" / "twin.yaml").write_text("name: broken-twin\nmodel: [\n")
    (tmp_path / "not-a-twin").mkdir()
    os.symlink(tmp_path / "good-twin", tmp_path / "linked-twin")
    elsewhere = tmp_path / "elsewhere"
    new_twin("outside", elsewhere, user="alice")
    return tmp_path


def serve(root: Path, requests):
    """Run ``requests(fetch)`` against the index and the publish routes served from ``root``."""

    async def main():
        (port,) = free_ports(1)
        app = Application(
            [(rf"{PREFIX}/?", index_handler(PREFIX, root))]
            + [(PREFIX + pattern, handler) for pattern, handler in publish_handlers(root)]
        )
        server = HTTPServer(app)
        server.listen(port, "127.0.0.1")
        client = AsyncHTTPClient()

        async def fetch(path: str, method: str = "GET", headers=None) -> HTTPResponse:
            return await client.fetch(
                f"http://127.0.0.1:{port}{PREFIX}{path}",
                method=method,
                headers=headers or {},
                body=b"" if method == "POST" else None,
                raise_error=False,
                request_timeout=60,
            )

        try:
            return await requests(fetch)
        finally:
            server.stop()

    return asyncio.run(main())


async def _token(fetch) -> tuple[str, str]:
    page = await fetch("/")
    cookie = page.headers["Set-Cookie"]
    value = re.match(rf"{COOKIE}=([^;]+);", cookie).group(1)
    assert "SameSite=Strict" in cookie and f"Path={PREFIX}/" in cookie
    return value, page.body.decode()


def test_index_offers_only_the_roots_twin_folders(root: Path) -> None:
    async def requests(fetch):
        return await _token(fetch)

    token, page = serve(root, requests)
    offered = re.findall(r'<button class="publish" data-folder="([^"]+)"', page)
    assert offered == ["broken-twin", "good-twin"]
    assert f'data-xsrf="{token}"' in page


@pytest.mark.parametrize(
    "folder",
    ["linked-twin", "not-a-twin", "elsewhere", "outside", "..", "%2e%2e", "Good-Twin", "a" * 5000],
)
def test_only_listed_folders_are_published(root: Path, folder: str) -> None:
    async def requests(fetch):
        token, _ = await _token(fetch)
        headers = {"X-XSRFToken": token, "Cookie": f"{COOKIE}={token}"}
        return await fetch(f"/-/publish/{folder}", "POST", headers)

    response = serve(root, requests)
    assert response.code == 404, response.body
    error = json.loads(response.body)["error"]
    assert error.startswith("folder: no twin folder named") and len(error) < 120


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no token at all
        {"X-XSRFToken": "forged-value-0123456789abcdefghijklmnop"},
        {"Sec-Fetch-Site": "cross-site"},  # the right token, from another site
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_post_not_from_the_page_is_refused(root: Path, headers: dict) -> None:
    async def requests(fetch):
        token, _ = await _token(fetch)
        sent = {"X-XSRFToken": token, "Cookie": f"{COOKIE}={token}", **headers}
        if not headers:
            del sent["X-XSRFToken"]
        return await fetch("/-/publish/good-twin", "POST", sent)

    response = serve(root, requests)
    assert response.code == 403, response.body
    assert json.loads(response.body)["error"]


def test_a_broken_manifest_is_refused_with_its_message_and_a_good_folder_is_uploaded(
    root: Path,
) -> None:
    async def requests(fetch):
        token, _ = await _token(fetch)
        headers = {"X-XSRFToken": token, "Cookie": f"{COOKIE}={token}"}
        broken = await fetch("/-/publish/broken-twin", "POST", headers)
        good = await fetch("/-/publish/good-twin", "POST", headers)
        return broken, good

    broken, good = serve(root, requests)
    assert broken.code == 422, broken.body
    assert "twin.yaml" in json.loads(broken.body)["error"]
    # the good folder passes the checks and is sent: to a registry that is not there
    assert good.code == 502, good.body
    assert "the registry did not answer" in json.loads(good.body)["error"]


def test_version_status_refuses_hostile_names(root: Path) -> None:
    async def requests(fetch):
        return [await fetch(f"/-/versions/{name}/1") for name in ("UPPER", "a" * 300)]

    for response in serve(root, requests):
        assert response.code == 404


@pytest.fixture
def registry(root: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch):
    """The registry app on loopback for alice's server (TWINHUB_API_URL, as her spawner sets
    it); its database's sessions, where the test plays the executor."""
    state = tmp_path_factory.mktemp("registry")
    [port] = free_ports(1)
    config = RegistryConfig(
        state_dir=state,
        database_url=f"sqlite:///{state / 'registry.sqlite'}",
        twins_dir=state / "no-twins",
        profiles_file=PACKAGE_ROOT / "hub" / "profiles.yaml",
        prefix="/services/twinhub/",
        host="127.0.0.1",
        port=port,
        auth_cache_seconds=60,
    )
    app = create_app(config)

    def as_alice(request: Request) -> User:  # the hub vouches for her server's token
        return User("alice", frozenset(), frozenset(), "user", "not-a-token")

    app.dependency_overrides[app.state.auth.require_api_user] = as_alice
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, until=bool, timeout=60, message="the registry serving")
    monkeypatch.setenv("TWINHUB_API_URL", f"http://127.0.0.1:{port}/services/twinhub/api")
    try:
        yield app.state.store.sessions
    finally:
        server.should_exit = True
        thread.join(30)


def interrupted_build(sessions) -> None:
    """What the executor does with the oldest queued version when it dies mid-build and
    starts again: the version fails, 'interrupted'."""
    assert claim_build(sessions) is not None
    assert fail_interrupted_builds(sessions)


def test_a_folder_whose_build_failed_is_published_again_from_the_button_and_the_cli(
    root: Path, registry, capsys: pytest.CaptureFixture
) -> None:
    async def requests(fetch):
        token, _ = await _token(fetch)
        headers = {"X-XSRFToken": token, "Cookie": f"{COOKIE}={token}"}
        first = await fetch("/-/publish/good-twin", "POST", headers)
        interrupted_build(registry)
        failed = await fetch("/-/versions/good-twin/1")
        again = await fetch("/-/publish/good-twin", "POST", headers)
        waiting = await fetch("/-/publish/good-twin", "POST", headers)
        return first, failed, again, waiting

    first, failed, again, waiting = serve(root, requests)
    assert first.code == 202 and json.loads(first.body)["version"] == 1, first.body
    failed = json.loads(failed.body)
    assert failed["state"] == "failed" and "interrupted" in failed["log"]
    assert "publish the same folder again" in failed["hint"]
    assert again.code == 202, again.body
    again = json.loads(again.body)
    assert (again["version"], again["state"], again["rebuild_of"]) == (2, "queued", 1)
    assert waiting.code == 409, waiting.body  # the retry is queued: wait for it
    assert "version 2 of 'good-twin' already (queued): wait" in json.loads(waiting.body)["error"]

    # the same from a terminal, after the retry failed too
    interrupted_build(registry)
    assert cli.main(["publish", str(root / "good-twin"), "--no-wait"]) == 0
    said = capsys.readouterr().out
    assert "uploaded good-twin version 3" in said
    assert "the same archive as version 2, whose build failed: built again" in said
