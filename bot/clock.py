"""Clocks: the system one, and a fake one that tests move by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        """Wait on the wall clock until ``when`` (returns at once if it is past)."""
        delay = (when - self.now()).total_seconds()
        await asyncio.sleep(max(0.0, delay))


_SETTLE_STEPS = 4
"""Turns of the event loop a fake sleep gives what is already runnable before moving time."""


class FakeClock:
    """A clock that only moves when told to.

    ``advance`` also wakes whoever waits on ``changed`` so that loops driven by the clock
    (the dispatcher, a test's fake scheduler) can react without sleeping.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 3, 17, 8, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._listeners: list[asyncio.Event] = []

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = when.astimezone(UTC)
        for event in self._listeners:
            event.set()

    def advance(self, delta: timedelta | float) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        self.set(self._now + delta)
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        """Simulated waiting: whoever waits on a fake clock moves it, so paced work (the
        reminder dispatcher honouring rate limits) runs in fake time without sleeping.

        Before moving it, what is ready to run at this instant runs, as it would on a real
        clock: a send handed to a worker at its slot goes at that slot, not at the next one
        (else sends pile up behind the clock and leave in a burst the platform refuses).
        """
        if when > self._now:
            for _ in range(_SETTLE_STEPS):
                await asyncio.sleep(0)
            if when > self._now:
                self.set(when)
        await asyncio.sleep(0)

    def listen(self) -> asyncio.Event:
        event = asyncio.Event()
        self._listeners.append(event)
        return event
