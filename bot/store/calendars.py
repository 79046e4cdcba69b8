"""Calendars, series and occurrences in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import EventStatus, Occurrence, SubscriptionScope
from bot.ports import CalendarInfo, HeldRefresh, PlannedNotice, SeriesRecord
from bot.store.notices import insert_notices
from bot.store.schema import calendars, occurrences, series, subscriptions

_CHUNK = 500


def ts(dt: datetime) -> int:
    return int(dt.timestamp())


def from_ts(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def occurrence_row(o: Occurrence) -> dict[str, Any]:
    return {
        "id": o.id, "calendar": o.calendar, "uid": o.uid, "recurrence_id": o.recurrence_id,
        "series_id": o.series_id, "title": o.title, "start_ts": ts(o.start), "end_ts": ts(o.end),
        "all_day": o.all_day, "start_date": o.start_date.isoformat() if o.start_date else None,
        "end_date": o.end_date.isoformat() if o.end_date else None, "timezone": o.timezone,
        "status": o.status.value, "description": o.description, "location": o.location,
        "url": o.url, "facilitator": o.facilitator, "cpd_hours": o.cpd_hours,
    }


def occurrence_from_row(r: Any) -> Occurrence:
    return Occurrence(
        id=r.id, calendar=r.calendar, uid=r.uid, recurrence_id=r.recurrence_id,
        series_id=r.series_id, title=r.title,
        start=datetime.fromtimestamp(r.start_ts, UTC), end=datetime.fromtimestamp(r.end_ts, UTC),
        all_day=bool(r.all_day),
        start_date=date.fromisoformat(r.start_date) if r.start_date else None,
        end_date=date.fromisoformat(r.end_date) if r.end_date else None,
        timezone=r.timezone, status=EventStatus(r.status), description=r.description,
        location=r.location, url=r.url, facilitator=r.facilitator, cpd_hours=r.cpd_hours,
    )


def _series_row(s: SeriesRecord) -> dict[str, Any]:
    return {"series_id": s.series_id, "calendar": s.calendar, "uid": s.uid, "title": s.title,
            "ical": s.ical, "timezone": s.timezone, "recurring": s.recurring,
            "content_hash": s.content_hash}


def _series_from_row(r: Any) -> SeriesRecord:
    return SeriesRecord(calendar=r.calendar, uid=r.uid, series_id=r.series_id, title=r.title,
                        ical=r.ical, timezone=r.timezone, recurring=bool(r.recurring),
                        content_hash=r.content_hash)


def _held_from_row(r: Any) -> HeldRefresh | None:
    since = from_ts(r.held_since)
    if since is None:
        return None
    return HeldRefresh(since=since, cancels=r.held_cancels, upcoming=r.held_upcoming, content_hash=r.held_hash)


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]


class SqlCalendarRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get_calendar(self, name: str) -> CalendarInfo | None:
        found = [c for c in await self._calendars(name) if c.name == name]
        return found[0] if found else None

    async def list_calendars(self) -> list[CalendarInfo]:
        return await self._calendars(None)

    async def _calendars(self, name: str | None) -> list[CalendarInfo]:
        occ_count = (sa.select(occurrences.c.calendar, sa.func.count().label("n"))
                     .group_by(occurrences.c.calendar).subquery())
        ser_count = (sa.select(series.c.calendar, sa.func.count().label("n"))
                     .group_by(series.c.calendar).subquery())
        query = (sa.select(calendars, sa.func.coalesce(occ_count.c.n, 0).label("occ"),
                           sa.func.coalesce(ser_count.c.n, 0).label("ser"))
                 .select_from(calendars.outerjoin(occ_count, occ_count.c.calendar == calendars.c.name)
                              .outerjoin(ser_count, ser_count.c.calendar == calendars.c.name))
                 .order_by(calendars.c.name))
        if name is not None:
            query = query.where(calendars.c.name == name)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [CalendarInfo(
            name=r.name, source=r.source, timezone=r.timezone, etag=r.etag,
            last_modified=r.last_modified, content_hash=r.content_hash,
            last_sync=from_ts(r.last_sync), last_error=r.last_error, events=r.ser,
            occurrences=r.occ, refresh_minutes=r.refresh_minutes, held=_held_from_row(r)) for r in rows]

    async def save_calendar(self, info: CalendarInfo, notices: Sequence[PlannedNotice] = ()) -> None:
        async with self._engine.begin() as conn:
            await self._save_calendar(conn, info)
            await insert_notices(conn, notices)

    @staticmethod
    async def _save_calendar(conn: Any, info: CalendarInfo) -> None:
        values = {"source": info.source, "timezone": info.timezone, "etag": info.etag,
                  "last_modified": info.last_modified, "content_hash": info.content_hash,
                  "last_sync": ts(info.last_sync) if info.last_sync else None,
                  "last_error": info.last_error, "refresh_minutes": info.refresh_minutes,
                  "held_since": ts(info.held.since) if info.held else None,
                  "held_cancels": info.held.cancels if info.held else 0,
                  "held_upcoming": info.held.upcoming if info.held else 0,
                  "held_hash": info.held.content_hash if info.held else ""}
        updated = await conn.execute(calendars.update().where(calendars.c.name == info.name).values(**values))
        if updated.rowcount == 0:
            await conn.execute(calendars.insert().values(name=info.name, **values))

    async def list_series(self, calendar: str) -> list[SeriesRecord]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(series).where(series.c.calendar == calendar))
            return [_series_from_row(r) for r in rows]

    async def find_series(self, series_id: str) -> SeriesRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(series).where(series.c.series_id == series_id))).first()
        return _series_from_row(row) if row else None

    async def apply_sync(self, calendar: str, *, upsert_series: Sequence[SeriesRecord],
                         delete_series: Sequence[str], upsert_occurrences: Sequence[Occurrence],
                         delete_occurrences: Sequence[str], info: CalendarInfo,
                         notices: Sequence[PlannedNotice] = ()) -> None:
        async with self._engine.begin() as conn:
            await self._save_calendar(conn, info)
            for chunk in _chunks(list(delete_series)):
                await conn.execute(series.delete().where(series.c.series_id.in_(chunk)))
            for chunk in _chunks([s.series_id for s in upsert_series]):
                await conn.execute(series.delete().where(series.c.series_id.in_(chunk)))
            if upsert_series:
                await conn.execute(series.insert(), [_series_row(s) for s in upsert_series])
            for chunk in _chunks(list(delete_occurrences)):
                await conn.execute(occurrences.delete().where(occurrences.c.id.in_(chunk)))
            for chunk in _chunks([o.id for o in upsert_occurrences]):
                await conn.execute(occurrences.delete().where(occurrences.c.id.in_(chunk)))
            if upsert_occurrences:
                await conn.execute(occurrences.insert(), [occurrence_row(o) for o in upsert_occurrences])
            await insert_notices(conn, notices)

    async def remove_calendar(self, name: str) -> bool:
        async with self._engine.begin() as conn:
            series_ids = sa.select(series.c.series_id).where(series.c.calendar == name)
            occurrence_ids = sa.select(occurrences.c.id).where(occurrences.c.calendar == name)
            c = subscriptions.c
            await conn.execute(subscriptions.delete().where(sa.or_(
                sa.and_(c.scope == SubscriptionScope.ALL.value, c.calendar == name),
                sa.and_(c.scope == SubscriptionScope.SERIES.value, c.target.in_(series_ids)),
                sa.and_(c.scope == SubscriptionScope.OCCURRENCE.value, c.target.in_(occurrence_ids)))))
            await conn.execute(occurrences.delete().where(occurrences.c.calendar == name))
            await conn.execute(series.delete().where(series.c.calendar == name))
            removed = await conn.execute(calendars.delete().where(calendars.c.name == name))
        return bool(removed.rowcount)

    async def occurrences_between(self, start: datetime, end: datetime, *, calendar: str | None = None,
                                  include_cancelled: bool = False) -> list[Occurrence]:
        query = (sa.select(occurrences)
                 .where(occurrences.c.start_ts < ts(end), occurrences.c.end_ts > ts(start))
                 .order_by(occurrences.c.start_ts, occurrences.c.title))
        if calendar is not None:
            query = query.where(occurrences.c.calendar == calendar)
        if not include_cancelled:
            query = query.where(occurrences.c.status != EventStatus.CANCELLED.value)
        return await self._occurrences(query)

    async def occurrences_of_calendar(self, calendar: str) -> list[Occurrence]:
        return await self._occurrences(sa.select(occurrences).where(occurrences.c.calendar == calendar)
                                       .order_by(occurrences.c.start_ts))

    async def count_upcoming(self, calendar: str, after: datetime) -> int:
        query = (sa.select(sa.func.count()).select_from(occurrences)
                 .where(occurrences.c.calendar == calendar, occurrences.c.end_ts > ts(after),
                        occurrences.c.status != EventStatus.CANCELLED.value))
        async with self._engine.connect() as conn:
            return int(await conn.scalar(query) or 0)

    async def get_occurrence(self, occurrence_id: str) -> Occurrence | None:
        found = await self._occurrences(sa.select(occurrences).where(occurrences.c.id == occurrence_id))
        return found[0] if found else None

    async def occurrences_of_series(self, series_id: str) -> list[Occurrence]:
        return await self._occurrences(sa.select(occurrences).where(occurrences.c.series_id == series_id)
                                       .order_by(occurrences.c.start_ts))

    async def search_occurrences(self, words: str, after: datetime, limit: int = 20) -> list[Occurrence]:
        query = (sa.select(occurrences)
                 .where(occurrences.c.end_ts > ts(after),
                        occurrences.c.status != EventStatus.CANCELLED.value)
                 .order_by(occurrences.c.start_ts).limit(limit))
        for word in words.split():
            escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(sa.func.lower(occurrences.c.title).like(f"%{escaped}%", escape="\\"))
        return await self._occurrences(query)

    async def _occurrences(self, query: sa.Select[Any]) -> list[Occurrence]:
        async with self._engine.connect() as conn:
            return [occurrence_from_row(r) for r in await conn.execute(query)]
