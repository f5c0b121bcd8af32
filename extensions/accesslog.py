"""Access logs without secrets: OAuth ``code`` and ``state`` (and tokens) never reach a log.

The hub scrubs the query parameters of its own access log whose name contains one of
JupyterHub's ``SCRUB_PARAM_KEYS`` (``code``, ``state``, ``token``, ...); our services log the
same way, with the same keys: the registry's uvicorn access log and the dashboard service's
tornado access log install :class:`RedactSecrets`. The redaction is a single regular-expression
pass without backtracking (linear in the line's length), whatever a client sends.
"""

from __future__ import annotations

import logging
import re

from jupyterhub.log import SCRUB_PARAM_KEYS

REDACTED = "[secret]"
_PARAM = re.compile(r"([?&])([^=&\s#?]*)=([^&\s#]*)")


def _scrub(match: re.Match[str]) -> str:
    sep, key, value = match.groups()
    if any(secret in key.lower() for secret in SCRUB_PARAM_KEYS):
        value = REDACTED
    return f"{sep}{key}={value}"


def redact(text: str) -> str:
    """``text`` (a URL, or a log line holding URLs) with every secret query value replaced."""
    return _PARAM.sub(_scrub, text)


class RedactSecrets(logging.Filter):
    """A logging filter for access loggers: redacts the message and its string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True
