"""Partial results of a long model run, for whoever is watching (a dashboard), else nothing.

A model's signature stays ``run(inputs, params) -> Dataset`` (parameters are JSON and go into
the run record), so a listener cannot be a parameter. Instead the caller wraps the run in
:func:`reporting`; the model asks :func:`listening` whether to work in visible steps and calls
:func:`report` after each. The listener is a context variable: it belongs to the thread (or
task) that runs the model, so concurrent sessions never see each other's partial results.
Models must return the same result whether or not anybody listens (replay runs unwatched).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_LISTENER: ContextVar[Callable[[Any], None] | None] = ContextVar("twinhub_progress", default=None)


@contextmanager
def reporting(listener: Callable[[Any], None]) -> Iterator[None]:
    """Send the partial results of model runs inside this block to ``listener``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def listening() -> bool:
    """Whether someone wants partial results (a model may then compute in steps)."""
    return _LISTENER.get() is not None


def report(partial: Any) -> None:
    """Hand a partial result to the listener; it may raise to stop the run (a newer one won)."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(partial)
