"""Security headers on every answer of the registry, in line with the hub's own.

The hub sends ``Content-Security-Policy: frame-ancestors 'none'`` (no framing, against
clickjacking); our pages say the same and, since they use no inline script or style, also allow
scripts, styles and form posts from the gateway's own origin only. The API docs page
(``/api/docs``, Swagger UI with an inline start-up script) keeps only the framing rule.
"""

from __future__ import annotations

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'"
)
DOCS_CSP = "frame-ancestors 'none'"
COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


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
