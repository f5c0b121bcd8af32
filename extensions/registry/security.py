"""Security headers on every answer of the registry: the gateway's one policy
(:mod:`twinhub.extensions.websecurity`) as an ASGI middleware.

The API docs page (``/api/docs``, Swagger UI with an inline start-up script) keeps only the
framing rule; every other answer gets the strict page policy.
"""

from __future__ import annotations

from twinhub.extensions.websecurity import DOCS_CSP, HEADERS, PAGE_CSP

COMMON = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]


class SecurityHeadersMiddleware:
    """A pure ASGI middleware: adds the headers to every response start."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp = DOCS_CSP if scope["path"].endswith("/api/docs") else PAGE_CSP

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"content-security-policy"
                ]
                headers += [*COMMON, (b"content-security-policy", csp.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
