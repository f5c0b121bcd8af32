"""``ast.parse`` one thread at a time in the test process.

CPython 3.11.7 keeps the AST constructor's recursion counter in interpreter-wide state
(gh-106905, fixed in 3.11.8). When a garbage-collection pass inside one thread's ``ast.parse``
runs a finalizer that lets another thread parse, the first parse fails with ``SystemError: AST
constructor recursion depth mismatch``. In a test process several things parse source: pytest
rewriting asserts on import, hypothesis describing the lambdas of schemathesis' strategies, and
Python 3.11's traceback module placing its ``^^^`` carets, which background threads (a Dask
client's event loop logging a lost scheduler) do. Serialising the module function removes the
race for all of them; parsing is fast, so the lock is hardly ever contended.
"""

from __future__ import annotations

import ast
import threading
from typing import Any

_unserialised = ast.parse
_lock = threading.RLock()  # re-entrant: a finalizer run inside a parse may parse again


def _serialised_parse(*args: Any, **kwargs: Any) -> Any:
    with _lock:
        return _unserialised(*args, **kwargs)


def install() -> None:
    """Replace ``ast.parse`` for every caller that looks it up on the module at call time."""
    ast.parse = _serialised_parse
