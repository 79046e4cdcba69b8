"""Drive the whole bot as a user would: a fake adapter in, messages out, a fake clock.

    async with Harness.open(tmp_path) as h:
        await h.say("alice", "/subscribe all")
        await h.advance(timedelta(hours=1))
        assert h.adapter.to("alice")
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.fake import FakeAdapter
from bot.alarms import ManualAlarms
from bot.app import App, open_app
from bot.clock import FakeClock
from bot.config import Config
from bot.models import EventStatus, Occurrence
from bot.ports import CalendarInfo, SeriesRecord
from tests.databases import database_for

START = datetime(2025, 3, 17, 8, 0, tzinfo=UTC)


def make_occurrence(title: str, start: datetime, minutes: int = 90, *, calendar: str = "sww",
                    uid: str | None = None, recurrence_id: str = "", series_id: str | None = None,
                    status: EventStatus = EventStatus.CONFIRMED, **extra: Any) -> Occurrence:
    uid = uid or f"{title.lower().replace(' ', '-')}@test"
    sid = series_id or ("s" + str(abs(hash((calendar, uid))) % 10**5)).zfill(6)
    oid = extra.pop("id", None) or ("o" + str(abs(hash((calendar, uid, recurrence_id))) % 10**5)).zfill(6)
    return Occurrence(id=oid, calendar=calendar, uid=uid, recurrence_id=recurrence_id, series_id=sid,
                      title=title, start=start, end=start + timedelta(minutes=minutes), status=status,
                      timezone="Europe/London", **extra)


async def store_occurrences(app: App, occurrences: Sequence[Occurrence], calendar: str = "sww") -> None:
    """Put occurrences straight into the store, as an import would."""
    series = {o.series_id: SeriesRecord(calendar=o.calendar, uid=o.uid, series_id=o.series_id, title=o.title,
                                        ical="", timezone=o.timezone, recurring=False, content_hash="")
              for o in occurrences}
    await app.store.calendars.apply_sync(
        calendar, upsert_series=list(series.values()), delete_series=[],
        upsert_occurrences=list(occurrences), delete_occurrences=[],
        info=CalendarInfo(name=calendar, source="test", last_sync=app.services.clock.now()))


@dataclass
class Harness:
    app: App
    adapter: FakeAdapter
    clock: FakeClock
    alarms: ManualAlarms
    config: Config
    others: tuple[FakeAdapter, ...] = ()
    """More platforms beside ``adapter`` (a fake named ``console``, say), on the same clock."""
    _stack: contextlib.AsyncExitStack = field(repr=False, default_factory=contextlib.AsyncExitStack)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, tmp_path: Path, *, start: datetime = START, adapter: FakeAdapter | None = None,
                   others: Sequence[FakeAdapter] = (), **settings: Any) -> AsyncIterator[Harness]:
        # Looking in the outbox every minute would stop a fake clock moved through days at
        # every minute of them: only the tests about other processes' work ask for it.
        settings.setdefault("outbox_check_seconds", 0)
        settings.setdefault("db", database_for(tmp_path))
        config = replace(Config(), organisers=("fake:org",), **settings)
        clock = FakeClock(start)
        adapter = adapter or FakeAdapter(clock=clock)
        if adapter.clock is None:
            adapter.clock = clock
        for other in others:
            other.clock = other.clock or clock
        harness = cls(app=None, adapter=adapter, clock=clock, alarms=ManualAlarms(clock), config=config,  # type: ignore[arg-type]
                      others=tuple(others))
        await harness._open()
        try:
            yield harness
        finally:
            await harness._stack.aclose()

    async def _open(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self.alarms = ManualAlarms(self.clock)
        self.app = await self._stack.enter_async_context(
            open_app(self.config, adapters=[self.adapter, *self.others], clock=self.clock, alarms=self.alarms))

    async def restart(self) -> None:
        """Close everything and open again on the same database (a clean restart)."""
        await self._stack.aclose()
        await self._open()

    async def say(self, user: str, text: str, **kwargs: Any) -> list[str]:
        return await self.adapter.say(user, text, **kwargs)

    async def press(self, user: str, action: str, **kwargs: Any) -> list[str]:
        return await self.adapter.press(user, action, **kwargs)

    async def advance(self, delta: timedelta | float) -> None:
        """Move time forward, running every alarm that falls due on the way."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        await self.alarms.advance(delta)

    async def add_occurrences(self, *occurrences: Occurrence, calendar: str = "sww") -> None:
        await store_occurrences(self.app, occurrences, calendar)

    @property
    def reminders(self) -> Any:
        """The running ``ReminderService`` (planning, ``occurrences_changed``, the dispatcher)."""
        return self.app.services.reminders

    def reminders_to(self, user: str) -> list[Any]:
        """Reminder messages delivered to ``user`` privately or in a chat, with when they arrived."""
        uid = user if ":" in user else f"{self.adapter.name}:{user}"
        return [r for r in self.adapter.records if r.message.kind == "reminder"
                and ((r.message.user is not None and r.message.user.id == uid)
                     or (r.message.chat is not None and r.message.text.startswith(uid.partition(":")[2] + ":")))]
