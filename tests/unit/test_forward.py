"""Forwarding to an upstream (the dashboard router to a twin's process, the gateway's front).

A browser that opens a second dashboard asks for the shared Bokeh/Panel files it has cached with
``If-None-Match``; the twin's process answers 304, which must reach the browser as a 304 (it
was a 500, and the page stayed blank without its scripts).
"""

from __future__ import annotations

import asyncio

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler
from twinhub.extensions.gateway_front.forward import forward_http

from tests.support.gateway import free_ports

SCRIPT = b"console.log('bokeh');" * 100
ETAG = '"v1"'


class Upstream(RequestHandler):
    """A static file with an ETag, as Bokeh's and Panel's static handlers serve them."""

    def compute_etag(self) -> str:
        return ETAG

    def get(self) -> None:
        self.set_header("Content-Type", "application/javascript")
        self.write(SCRIPT)


def front(upstream: int) -> type[RequestHandler]:
    class Front(RequestHandler):
        async def get(self) -> None:
            url = f"http://127.0.0.1:{upstream}{self.request.uri}"
            await forward_http(self, url, private=False, upstream_name="a twin")

    return Front


@pytest.mark.parametrize("cached", [False, True])
def test_a_cached_file_is_a_304_and_a_new_one_its_body(cached: bool) -> None:
    async def main():
        up_port, front_port = free_ports(2)
        servers = [
            HTTPServer(Application([(r"/.*", Upstream)])),
            HTTPServer(Application([(r"/.*", front(up_port))])),
        ]
        servers[0].listen(up_port, "127.0.0.1")
        servers[1].listen(front_port, "127.0.0.1")
        try:
            headers = {"If-None-Match": ETAG} if cached else {}
            return await AsyncHTTPClient().fetch(
                f"http://127.0.0.1:{front_port}/static/js/bokeh.min.js",
                headers=headers,
                raise_error=False,
            )
        finally:
            for server in servers:
                server.stop()

    response = asyncio.run(main())
    if cached:
        assert (response.code, response.body) == (304, b"")
    else:
        assert (response.code, response.body) == (200, SCRIPT)
        assert response.headers["Etag"] == ETAG
