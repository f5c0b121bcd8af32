"""The suite's one wait: on a condition, with a failure that says what it waited for."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.support.waiting import WaitTimeout, async_wait_for, wait_for


def test_returns_the_first_value_that_satisfies_the_condition() -> None:
    counter = itertools.count()
    assert wait_for(lambda: next(counter), until=lambda n: n >= 3, timeout=10, interval=0,
                    message="three") == 3  # fmt: skip


def test_a_timeout_names_what_was_awaited_and_the_last_value_seen() -> None:
    with pytest.raises(WaitTimeout, match=r"the gauge at 5: not within 0 s; last seen: 4") as e:
        wait_for(lambda: 4, until=lambda v: v == 5, timeout=0, message="the gauge at 5")
    assert isinstance(e.value, TimeoutError) and isinstance(e.value, AssertionError)


def test_ignored_errors_mean_not_yet_and_others_end_the_wait() -> None:
    tries = iter([ConnectionError("refused"), ConnectionError("refused"), "up"])

    def answer() -> str:
        value = next(tries)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_for(answer, timeout=10, interval=0, ignore=(ConnectionError,), message="up") == "up"

    def refused() -> str:
        raise ConnectionError("refused")

    with pytest.raises(WaitTimeout, match=r"last seen: ConnectionError\('refused'\)"):
        wait_for(refused, timeout=0, ignore=(ConnectionError,), message="never")
    with pytest.raises(KeyError):
        wait_for(lambda: {}["x"], timeout=10, message="a key")


def test_the_async_variant_awaits_coroutine_conditions() -> None:
    counter = itertools.count()

    async def reading() -> int:
        await asyncio.sleep(0)
        return next(counter)

    got = asyncio.run(
        async_wait_for(reading, until=lambda n: n == 2, timeout=10, interval=0, message="two")
    )
    assert got == 2
    with pytest.raises(WaitTimeout, match="last seen: 0"):
        asyncio.run(async_wait_for(lambda: 0, timeout=0, message="zero is false"))
