"""Reminders follow the feed: a refresh that moves, cancels or adds a session replans the
outbox through the real calendar service (the wiring between the two features)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.harness import Harness

FEED = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
{events}END:VCALENDAR\r
"""
EVENT = """BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20250301T000000Z\r
DTSTART:{start:%Y%m%dT%H%M%S}Z\r
DTEND:{end:%Y%m%dT%H%M%S}Z\r
SUMMARY:{title}\r
{extra}END:VEVENT\r
"""

START = datetime(2025, 3, 17, 8, 0, tzinfo=UTC)


def feed(*events: tuple[str, str, datetime, str]) -> str:
    return FEED.format(events="".join(
        EVENT.format(uid=uid, title=title, start=start, end=start + timedelta(hours=1), extra=extra)
        for uid, title, start, extra in events))


async def test_moved_cancelled_and_added_sessions_replan_reminders(tmp_path: Path) -> None:
    path = tmp_path / "programme.ics"
    ten = START.replace(hour=10)
    path.write_text(feed(("a@x", "Identity", ten, ""), ("b@x", "Boundaries", ten + timedelta(hours=3), "")),
                    encoding="utf-8")
    async with Harness.open(tmp_path, offsets=(timedelta(minutes=15),)) as h:
        service = h.app.services.calendars
        assert service is not None
        await service.sync("sww", str(path))  # type: ignore[attr-defined]
        await h.say("alice", "/subscribe all")

        # The first session moves an hour later, the second is cancelled, a third appears.
        path.write_text(feed(("a@x", "Identity", ten + timedelta(hours=1), ""),
                             ("b@x", "Boundaries", ten + timedelta(hours=3), "STATUS:CANCELLED\r\n"),
                             ("c@x", "Well-being", ten + timedelta(hours=5), "")), encoding="utf-8")
        await service.sync("sww", str(path))  # type: ignore[attr-defined]
        h.adapter.clear()

        await h.advance(timedelta(hours=10))
        reminders = [(r.at, r.message.text) for r in h.adapter.records if r.message.kind == "reminder"]
        assert [(at, text.split("”")[0]) for at, text in reminders] == [
            (ten + timedelta(minutes=45), "⏰ “Identity"),
            (ten + timedelta(hours=4, minutes=45), "⏰ “Well-being"),
        ]
