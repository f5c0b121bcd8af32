"""The preview's Publish button, in-process: its routes on a real tornado server, no hub.

Only the twin folders of the server's root are offered and accepted (hostile names, links,
folders without a manifest get 404 naming the field); a POST without the page's XSRF value, or
one the browser marks cross-site, is refused before anything is read or sent; a folder whose
manifest is broken is refused with the manifest's message, nothing uploaded. (Publishing for
real, through the hub, in Chromium: tests/ui/test_publish_from_preview.py.)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.web import Application
from twinhub.extensions.registry.scaffold import new_twin
from twinhub.extensions.server.preview import index_handler
from twinhub.extensions.server.publish_button import COOKIE, publish_handlers

from tests.support.gateway import free_ports

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
