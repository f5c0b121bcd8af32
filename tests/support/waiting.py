"""Wait on a condition, never on a time: the one polling loop of the test suite.

A loaded 2-core machine runs everything several times slower than an idle one, so a test
that sleeps a fixed time, or reads a page once it has "loaded", reads too early there. Tests
wait for the state they need instead; the timeout is only a bound on a hang, and when it is
reached the failure says what was awaited and what was last seen.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


class WaitTimeout(TimeoutError, AssertionError):
    """The awaited condition did not hold in time (a test failure, not an error of the test)."""


@dataclass
class _Wait:
    """One wait: what it awaits, its bound, and the last value seen."""

    message: str
    timeout: float
    interval: float = 0.5
    until: Callable[[Any], object] = bool
    ignore: tuple[type[BaseException], ...] = ()
    last: object = None

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    def met(self, value: object) -> bool:
        self.last = value
        return bool(self.until(value))

    def check_time(self) -> None:
        if time.monotonic() >= self.deadline:
            raise WaitTimeout(
                f"{self.message}: not within {self.timeout:.0f} s; last seen: {self.last!r}"
            )


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.5,
    message: str,
    until: Callable[[T], object] = bool,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``condition`` until its value satisfies ``until`` (is true, by default); return it.

    ``message`` says what is awaited; a timeout reports it with the last value seen (give
    ``condition`` the observation and ``until`` the test on it, so that value says why).
    Exceptions of the types in ``ignore`` (raised by ``condition`` or ``until``) count as
    "not yet", e.g. a service that does not answer yet, and are reported as the last value
    seen; any other exception ends the wait.
    """
    wait = _Wait(message, timeout, interval, until, ignore)
    while True:
        try:
            if wait.met(value := condition()):
                return value
        except wait.ignore as error:
            wait.last = error
        wait.check_time()
        time.sleep(wait.interval)


async def async_wait_for(condition: Callable[[], Awaitable[T] | T], **options: Any) -> T:
    """:func:`wait_for` (same options) for an event loop: ``condition`` may be a coroutine
    function, and the loop is never blocked between tries."""
    wait = _Wait(**options)
    while True:
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
            if wait.met(value):
                return value
        except wait.ignore as error:
            wait.last = error
        wait.check_time()
        await asyncio.sleep(wait.interval)


def wait_until_answers(
    url: str,
    *,
    timeout: float,
    message: str,
    interval: float = 0.5,
    timeout_each: float = 5,
    process: subprocess.Popen | None = None,
) -> None:
    """Until ``GET url`` answers 200: a service started or restarted (refused or failing
    connections mean "not yet"); fails at once if ``process`` (the service's) has ended."""

    def status() -> int:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{message}: the process ended ({process.returncode})")
        return httpx.get(url, timeout=timeout_each).status_code

    wait_for(
        status,
        until=lambda code: code == 200,
        timeout=timeout,
        interval=interval,
        ignore=(httpx.HTTPError,),
        message=message,
    )
