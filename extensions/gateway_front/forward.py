"""Pass HTTP requests and websockets on to Dask Gateway's HTTP proxy, unchanged.

The front sits between the hub's proxy and the gateway's: what it forwards must reach the
gateway as if the hub's proxy had sent it (same path, method, body, headers), and the answer
must come back as the gateway gave it (status, headers, body, redirects not followed).
Websockets (the Bokeh dashboards') are relayed message by message, subprotocols included.
"""

from __future__ import annotations

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.web import RequestHandler
from tornado.websocket import WebSocketClosedError, WebSocketHandler, websocket_connect

NO_BODY = frozenset({204, 304})
"""Answers that carry no body (a 304: the browser's cached copy is current)."""
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
        "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length",
    )
)  # fmt: skip
"""Headers that describe one connection, not the message (RFC 9110 7.6.1)."""
PRIVATE = frozenset(("cookie", "authorization"))
"""What a dashboard (a process of the cluster's owner) never needs: the hub session's cookies
and tokens stay with the front."""
BODY_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
MAX_BODY = 64 * 2**20
"""Largest answer relayed (a dashboard page, a log); the gateway's own API answers are small."""
MAX_MESSAGE = 64 * 2**20
"""Largest websocket message relayed (Bokeh sends whole documents as one message)."""


def request_headers(
    handler: RequestHandler, *, private: bool, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The request's end-to-end headers; without cookies and tokens unless ``private``; with
    ``extra`` (the front's own, in place of any the client sent of the same names)."""
    headers = {
        name: value
        for name, value in handler.request.headers.get_all()
        if name.lower() not in HOP_BY_HOP and (private or name.lower() not in PRIVATE)
    }
    return {**headers, **(extra or {})}


async def forward_http(
    handler: RequestHandler,
    url: str,
    *,
    private: bool,
    extra_headers: dict[str, str] | None = None,
    drop_response_headers: frozenset[str] = frozenset(),
    timeout: float = 300,
    upstream_name: str = "Dask Gateway",
) -> bool:
    """Send the handler's request to ``url`` and answer with what comes back.

    ``extra_headers`` are added to the request (the dashboard router names the user to a twin's
    process this way); ``drop_response_headers`` (lower case) never reach the browser (a twin's
    process may not set cookies on the gateway's origin). False when the upstream did not
    answer (refused, closed, or nothing within ``timeout`` seconds): the browser got a 502.
    """
    method = handler.request.method or "GET"
    request = HTTPRequest(
        url,
        method=method,
        headers=request_headers(handler, private=private, extra=extra_headers),
        body=handler.request.body if method in BODY_METHODS else None,
        follow_redirects=False,
        decompress_response=False,
        allow_nonstandard_methods=True,
        request_timeout=timeout,
    )
    try:
        response = await AsyncHTTPClient(max_body_size=MAX_BODY).fetch(request, raise_error=False)
    except (OSError, HTTPClientError) as e:
        handler.set_status(502)
        handler.finish(f"{upstream_name} is not answering: {e}")
        return False
    if response.code == 599:  # no answer (connection refused, timeout)
        handler.set_status(502)
        handler.finish(f"{upstream_name} is not answering: {response.error}")
        return False
    handler.set_status(response.code, response.reason)
    handler.clear_header("Content-Type")
    for name, value in response.headers.get_all():
        if name.lower() not in HOP_BY_HOP and name.lower() not in drop_response_headers:
            handler.add_header(name, value)
    if response.body and response.code not in NO_BODY:
        handler.finish(response.body)
    else:  # a 304 (the browser's cached copy is current) or 204 must go without a body
        handler.finish()
    return True


class WebSocketRelay(WebSocketHandler):
    """A websocket relayed to the same path on the gateway (``upstream_url`` says where).

    The upstream connection opens before the browser's is accepted, with the browser's
    subprotocols (Bokeh passes its session token that way); messages the upstream sends
    before the browser's side is open wait in ``_early``.
    """

    _upstream = None
    _early: list[str | bytes] | None = None

    def upstream_url(self) -> str:
        raise NotImplementedError

    def upstream_headers(self) -> dict[str, str]:
        """Headers added to the upstream handshake (none here; the dashboard router's name
        the user to a twin's process)."""
        return {}

    async def relay(self, *args: str) -> None:
        """Connect upstream, then accept the browser's websocket (call from ``get``)."""
        protocols = self.request.headers.get("Sec-WebSocket-Protocol", "")
        self._early = []
        request = HTTPRequest(
            self.upstream_url(),
            headers=request_headers(self, private=False, extra=self.upstream_headers()),
            connect_timeout=30,
            request_timeout=60,
        )  # the upstream's own handshake headers are made by the client
        for name in ("Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions"):
            request.headers.pop(name, None)
        request.headers.pop("Sec-Websocket-Protocol", None)
        try:
            self._upstream = await websocket_connect(
                request,
                on_message_callback=self._from_upstream,
                subprotocols=[p.strip() for p in protocols.split(",") if p.strip()] or None,
                max_message_size=MAX_MESSAGE,
            )
        except (OSError, HTTPClientError) as e:
            self.set_status(502)
            self.finish(f"the dashboard is not answering: {e}")
            return
        await WebSocketHandler.get(self, *args)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        chosen = self._upstream.selected_subprotocol if self._upstream else None
        return chosen if chosen in subprotocols else None

    def open(self, *_args: str) -> None:
        early, self._early = self._early or [], None
        for message in early:
            self.write_message(message, binary=isinstance(message, bytes))

    def on_message(self, message: str | bytes) -> None:
        if self._upstream is not None:
            self._upstream.write_message(message, binary=isinstance(message, bytes))

    def _from_upstream(self, message: str | bytes | None) -> None:
        if message is None:  # the dashboard closed its side
            self.close()
        elif self._early is not None:
            self._early.append(message)
        else:
            try:
                self.write_message(message, binary=isinstance(message, bytes))
            except WebSocketClosedError:
                self.on_close()

    def on_close(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None
