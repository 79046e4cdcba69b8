"""The fake clock that tests and benchmarks move: waiting on it moves it, but only once what is
ready at this instant has run, as on a real clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.clock import FakeClock

T0 = datetime(2025, 3, 17, 9, 0, tzinfo=UTC)


async def test_work_handed_over_before_a_wait_happens_before_the_clock_moves() -> None:
    # The dispatcher's pattern: hand a send to a worker at its slot, then wait for the next slot.
    # The send must carry its own slot's time, not the next one's.
    clock = FakeClock(T0)
    queue: asyncio.Queue[int] = asyncio.Queue()
    stamped: list[tuple[int, datetime]] = []

    async def worker() -> None:
        while True:
            item = await queue.get()
            await asyncio.sleep(0)  # a send yields to the loop before it reaches the platform
            stamped.append((item, clock.now()))

    task = asyncio.create_task(worker())
    try:
        for i in range(5):
            queue.put_nowait(i)
            await clock.sleep_until(T0 + timedelta(seconds=i + 1))
        assert stamped == [(i, T0 + timedelta(seconds=i)) for i in range(5)]
    finally:
        task.cancel()


async def test_a_wait_for_the_past_returns_without_moving_the_clock() -> None:
    clock = FakeClock(T0)
    await clock.sleep_until(T0 - timedelta(seconds=5))
    assert clock.now() == T0
    await clock.sleep_until(T0 + timedelta(seconds=5))
    assert clock.now() == T0 + timedelta(seconds=5)
