"""SingleFlight (extensions/hub_oauth.py): concurrent calls of one key share one run of the work;
a failure reaches every waiter and is not kept; a waiter that gives up does not stop the others."""

from __future__ import annotations

import asyncio

import pytest
from twinhub.extensions.hub_oauth import SingleFlight


def test_concurrent_calls_share_one_run_and_the_next_call_runs_again() -> None:
    runs = 0

    async def work() -> int:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.01)
        return runs

    async def main() -> None:
        flights: SingleFlight[int] = SingleFlight()
        results = await asyncio.gather(*(flights.run("k", work) for _ in range(20)))
        assert results == [1] * 20 and runs == 1
        assert len(flights) == 0  # forgotten once done
        assert await flights.run("k", work) == 2

    asyncio.run(main())


def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise ConnectionError("hub unreachable")

    async def main() -> None:
        flights: SingleFlight[int] = SingleFlight()
        results = await asyncio.gather(
            *(flights.run("k", failing) for _ in range(5)), return_exceptions=True
        )
        assert calls == 1
        assert all(isinstance(r, ConnectionError) for r in results)
        with pytest.raises(ConnectionError):
            await flights.run("k", failing)
        assert calls == 2

    asyncio.run(main())


def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "answer"

    async def main() -> None:
        flights: SingleFlight[str] = SingleFlight()
        first = asyncio.ensure_future(flights.run("k", slow))
        second = asyncio.ensure_future(flights.run("k", slow))
        await asyncio.sleep(0)
        first.cancel()
        assert await second == "answer"
        with pytest.raises(asyncio.CancelledError):
            await first

    asyncio.run(main())
