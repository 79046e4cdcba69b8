"""Programme-change notices in the reminder outbox: how they are written and read back.

A notice is written in the transaction that stores the refresh calling for it
(``insert_notices``, from ``apply_sync``), so a refresh is never stored without its notices
or the other way round. What it tells is kept as a snapshot of each session before and after
(``detail``, JSON), and rendered only when it is sent, in the reader's language and zone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from bot.models import (
    EventStatus,
    HeldNotice,
    Notice,
    NoticeItem,
    NoticeKind,
    Occurrence,
    ReminderStatus,
    platform_of,
)
from bot.ports import PlannedNotice
from bot.store.schema import reminder_meta, reminders

NOTICE = "notice"
REMINDER = "reminder"
"""The two kinds of row in the outbox (``reminders.kind``)."""

_SEQUENCE = "notice_seq"
"""The ``reminder_meta`` key holding the number of the last refresh that planned notices."""


def _snapshot(o: Occurrence) -> dict[str, Any]:
    # Everything a notice line can show; the description stays out (it can be long).
    return {"id": o.id, "calendar": o.calendar, "uid": o.uid, "recurrence_id": o.recurrence_id,
            "series_id": o.series_id, "title": o.title, "start": int(o.start.timestamp()),
            "end": int(o.end.timestamp()), "all_day": o.all_day,
            "start_date": o.start_date.isoformat() if o.start_date else None,
            "end_date": o.end_date.isoformat() if o.end_date else None, "timezone": o.timezone,
            "status": o.status.value, "location": o.location, "url": o.url}


def _occurrence(d: dict[str, Any]) -> Occurrence:
    return Occurrence(
        id=d["id"], calendar=d["calendar"], uid=d["uid"], recurrence_id=d["recurrence_id"],
        series_id=d["series_id"], title=d["title"], start=datetime.fromtimestamp(d["start"], UTC),
        end=datetime.fromtimestamp(d["end"], UTC), all_day=bool(d["all_day"]),
        start_date=date.fromisoformat(d["start_date"]) if d["start_date"] else None,
        end_date=date.fromisoformat(d["end_date"]) if d["end_date"] else None, timezone=d["timezone"],
        status=EventStatus(d["status"]), location=d["location"], url=d["url"])


def notice_json(notice: Notice) -> str:
    data: dict[str, Any] = {
        "calendar": notice.calendar, "more": notice.more,
        "items": [{"kind": i.kind.value, "fields": list(i.fields), "after": _snapshot(i.after),
                   "before": _snapshot(i.before) if i.before is not None else None} for i in notice.items],
    }
    if notice.held is not None:
        held = notice.held
        data["held"] = {"source": held.source, "cancels": held.cancels, "upcoming": held.upcoming,
                        "share": held.share}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def notice_from_json(text: str) -> Notice:
    data = json.loads(text)
    held = data.get("held")
    return Notice(calendar=data["calendar"], more=int(data.get("more", 0)), items=tuple(
        NoticeItem(kind=NoticeKind(i["kind"]), after=_occurrence(i["after"]),
                   before=_occurrence(i["before"]) if i.get("before") else None, fields=tuple(i["fields"]))
        for i in data["items"]),
        held=HeldNotice(source=held["source"], cancels=int(held["cancels"]), upcoming=int(held["upcoming"]),
                        share=float(held["share"])) if held else None)


async def insert_notices(conn: Any, notices: Sequence[PlannedNotice]) -> None:
    """Put one refresh's notices in the outbox, inside the caller's transaction.

    They carry the refresh's number, negated, as their offset: one person's notices from two
    refreshes about the same first session stay apart, and reminders (offsets ≥ 0) never clash.
    A held refresh's notice is about no session (its occurrence is ``""``).
    """
    notices = [n for n in notices if n.notice.items or n.notice.held]
    if not notices:
        return
    m = reminder_meta.c
    last = await conn.scalar(sa.select(m.value).where(m.key == _SEQUENCE).with_for_update())
    number = int(last or 0) + 1
    if last is None:
        await conn.execute(reminder_meta.insert().values(key=_SEQUENCE, value=str(number)))
    else:
        await conn.execute(reminder_meta.update().where(m.key == _SEQUENCE).values(value=str(number)))
    await conn.execute(reminders.insert(), [
        {"user_id": n.user_id, "occurrence_id": n.notice.items[0].after.id if n.notice.items else "", "offset_s": -number,
         "platform": platform_of(n.user_id), "start_ts": n.until_ts, "due_ts": n.ready_ts,
         "ready_ts": n.ready_ts, "status": ReminderStatus.PENDING.value, "attempts": 0, "last_error": "",
         "updated_ts": n.ready_ts,
         "kind": NOTICE, "detail": notice_json(n.notice)} for n in notices])
