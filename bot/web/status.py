"""What the organiser's status page shows, gathered from the store, the alarm clock and the
messenger. Read-only; no aiohttp here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.commands.calendars import feed_job_id
from bot.feeds import display_source
from bot.models import Occurrence, ReminderStatus
from bot.ports import AdapterHealth, HeldRefresh
from bot.services import Services

UPCOMING_DAYS = 7
UPCOMING_LIMIT = 25
UNREACHABLE_LIMIT = 50


@dataclass(frozen=True, slots=True)
class CalendarRow:
    name: str
    source: str
    last_sync: datetime | None
    next_refresh: datetime | None
    last_error: str
    held: HeldRefresh | None
    occurrences: int


@dataclass(frozen=True, slots=True)
class SessionRow:
    occurrence: Occurrence
    subscribers: int


@dataclass(frozen=True, slots=True)
class FanOutView:
    """The current (or last) fan-out of reminders, from what the dispatcher records."""

    started: datetime | None
    finished: datetime | None
    sent: int
    failed: int
    expired: int
    waiting: int
    rate_per_second: float
    rate_limited: int

    @property
    def running(self) -> bool:
        return self.started is not None and self.finished is None


@dataclass(frozen=True, slots=True)
class Forecast:
    """When the waiting reminders will all be out at the current rate, against the first
    session they are for."""

    done_at: datetime
    first_start: datetime | None

    @property
    def late_by(self) -> timedelta:
        if self.first_start is None or self.done_at <= self.first_start:
            return timedelta(0)
        return self.done_at - self.first_start


@dataclass(frozen=True, slots=True)
class Status:
    now: datetime
    calendars: list[CalendarRow]
    sessions: list[SessionRow]
    counts: dict[str, int]
    unreachable: list[str]
    fanout: FanOutView | None
    forecast: Forecast | None
    adapters: list[AdapterHealth]
    timezone: str
    extra: dict[str, Any] = field(default_factory=dict)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _fanout(raw: str | None) -> FanOutView | None:
    if not raw:
        return None
    try:
        p = json.loads(raw)
        return FanOutView(started=_time(p.get("started")), finished=_time(p.get("finished")),
                          sent=int(p.get("sent", 0)), failed=int(p.get("failed", 0)),
                          expired=int(p.get("expired", 0)), waiting=int(p.get("waiting", 0)),
                          rate_per_second=float(p.get("rate_per_second", 0.0)),
                          rate_limited=int(p.get("rate_limited", 0)))
    except (ValueError, TypeError, AttributeError):
        return None


async def gather_status(services: Services) -> Status:
    store, now = services.store, services.clock.now()
    calendars = []
    for info in await store.calendars.list_calendars():
        calendars.append(CalendarRow(
            name=info.name, source=display_source(info.source) if info.source else "",
            last_sync=info.last_sync, next_refresh=services.alarms.next_run(feed_job_id(info.name)),
            last_error=info.last_error, held=info.held, occurrences=info.occurrences))
    upcoming = await store.calendars.occurrences_between(now, now + timedelta(days=UPCOMING_DAYS))
    sessions = [SessionRow(o, len(await store.people.subscribers_of(o))) for o in upcoming[:UPCOMING_LIMIT]]
    counts = await store.reminders.counts()
    unreachable_ids = sorted(await store.reminders.unreachable())[:UNREACHABLE_LIMIT]
    settings = await store.people.get_many_settings(unreachable_ids) if unreachable_ids else {}
    unreachable = [f"{settings[u].display_name} ({u})" if u in settings and settings[u].display_name else u
                   for u in unreachable_ids]
    fanout = _fanout(await store.reminders.get_meta("fanout"))
    forecast = None
    if fanout is not None and fanout.running and fanout.rate_per_second > 0:
        first = await store.reminders.find(ReminderStatus.PENDING, limit=1)
        forecast = Forecast(done_at=now + timedelta(seconds=fanout.waiting / fanout.rate_per_second),
                            first_start=first[0].start if first else None)
    return Status(now=now, calendars=calendars, sessions=sessions, counts=counts, unreachable=unreachable,
                  fanout=fanout, forecast=forecast, adapters=services.messenger.health(),
                  timezone=services.config.timezone)
