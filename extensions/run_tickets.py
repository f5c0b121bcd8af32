"""Run tickets: what a twin's dashboard process holds instead of its visitors' hub tokens.

A twin's dashboard runs code its author wrote (anyone's, once published) in a process that
every visitor's requests reach. Handing it a visitor's OAuth token would hand the author that
visitor's identity: their private runs and twins, publishing in their name. So the dashboard
router (which holds the token) gives the process a *run ticket* instead: signed by the platform
(HMAC-SHA256 under a secret only the router and the registry have), naming the visitor, the
one twin the process serves and an expiry. The registry accepts a ticket for exactly what the
twin's own runs need: record a run of that twin (``POST /api/twins/<twin>/runs``), store that
run's provenance (``PUT /api/runs/<id>/provenance``) and read one run (``GET /api/runs/<id>``,
a dashboard link that names its run), always a run of that twin by that user. Anything else
answers 403.

A ticket is ``twinhub-run~<base64url JSON>~<base64url HMAC>``, at most :data:`MAX_LENGTH`
characters; checking one is linear in its length and needs no call to the hub. Not dots: a
token of three dot-separated parts reads as a JWT to Panel's ``pn.state.access_token``, which
then fails on a JWT claim the ticket does not have.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass

PREFIX = "twinhub-run~"
SEPARATOR = "~"
SECRET_ENV = "TWINHUB_RUN_TICKET_SECRET"
"""The platform's secret, in the environment of the dashboard router and the registry only."""
MAX_LENGTH = 4096
LIFETIME = 6 * 3600
"""Seconds a ticket is good for: a page's session and the runs started from it. Every request
through the router hands the process a fresh one."""
MAX_GROUPS = 64


@dataclass(frozen=True)
class Ticket:
    user: str
    twin: str
    groups: frozenset[str]
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue(
    secret: str, user: str, twin: str, groups: frozenset[str] | list[str] = (), now=None
) -> str:
    """A ticket for ``user``'s runs of ``twin`` (their hub groups kept: a group twin's
    visitors may record runs of it)."""
    body = {
        "u": user,
        "t": twin,
        "g": sorted(groups)[:MAX_GROUPS],
        "e": int((now or time.time()) + LIFETIME),
    }
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{PREFIX}{payload}{SEPARATOR}{_mac(secret, payload)}"


def is_ticket(token: str) -> bool:
    return token.startswith(PREFIX)


def verify(secret: str, token: str, now=None) -> Ticket | None:
    """The ticket's content if the platform signed it and it has not expired; else None."""
    if not secret or len(token) > MAX_LENGTH or not is_ticket(token):
        return None
    payload, _, mac = token[len(PREFIX) :].partition(SEPARATOR)
    if not hmac.compare_digest(mac.encode(), _mac(secret, payload).encode()):
        return None
    try:
        body = json.loads(_unb64(payload))
        ticket = Ticket(
            user=str(body["u"]),
            twin=str(body["t"]),
            groups=frozenset(str(g) for g in body["g"]),
            expires=float(body["e"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return ticket if ticket.expires > (now or time.time()) else None


def secret_from_env() -> str:
    return os.environ.get(SECRET_ENV, "")
