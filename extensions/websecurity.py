"""The HTTP security policy of the gateway's own services, defined once for all of them.

The hub sends ``Content-Security-Policy: frame-ancestors 'none'`` (no framing, against
clickjacking); the registry (``extensions/registry/security.py``, ASGI) and the dashboard
service (``extensions/dashboards/server.py``, tornado) send the same framing rule, ``nosniff``,
``X-Frame-Options`` and a same-origin referrer policy on every answer, error pages included,
and set their cookies ``HttpOnly`` and ``SameSite=Lax``. Their content policies differ only
where the pages differ: the registry's pages use no inline script or style; Panel/Bokeh pages
are made of inline scripts and styles, so those are allowed there, and nothing else: every
source is still the gateway's own origin.
"""

from __future__ import annotations

FRAME_ANCESTORS = "frame-ancestors 'none'"
"""The hub's own rule: no page of the gateway may be framed by another site."""
_SAME_ORIGIN = "form-action 'self'; base-uri 'self'; object-src 'none'; " + FRAME_ANCESTORS

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " + _SAME_ORIGIN
)
"""The registry's pages (Twins, Runs): no inline code at all."""
DOCS_CSP = FRAME_ANCESTORS
"""Swagger UI (``/api/docs``) starts with an inline script: only the framing rule applies."""
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; " + _SAME_ORIGIN
)
"""Panel/Bokeh pages: their inline scripts and styles, every resource from our origin."""

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
"""Sent with every answer, whatever its status, beside the content policy."""

COOKIE_OPTIONS = {"httponly": True, "samesite": "Lax"}
"""Every cookie of our services: not readable by scripts, not sent by other sites' posts."""
