"""Writing calendars out: a clean, standard .ics of whole series (recurrence kept) and of
single sessions, for ``/ics``, ``eventbot export`` and a reminder's "add to calendar" file.

The series keep their own stored VCALENDAR; a zone they only hinted at (``X-WR-TIMEZONE``)
or left floating is written out as a real one, so other calendar tools read the same times.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import icalendar
import x_wr_timezone

from bot.models import Attachment, EventStatus, Occurrence
from bot.ports import SeriesRecord
from bot.timeutil import zone


def build_ics(series: Iterable[SeriesRecord], occurrences: Iterable[Occurrence], *, name: str,
              timezone: str = "UTC") -> bytes:
    """A standard VCALENDAR with whole series (recurrence kept) and single occurrences."""
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//eventbot//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("X-WR-CALNAME", name)
    seen: set[tuple[str, str]] = set()
    for record in series:
        source = icalendar.Calendar.from_ical(record.ical)
        if "X-WR-TIMEZONE" in source:
            source = x_wr_timezone.to_standard(source)
        else:
            source = _FloatingToZone(zone(record.timezone)).walk(source)
        for event in source.walk("VEVENT"):
            key = (str(event.get("UID", "")), str(event.get("RECURRENCE-ID", "")))
            if key in seen:
                continue
            seen.add(key)
            calendar.add_component(event)
        for vtimezone in source.walk("VTIMEZONE"):
            calendar.add_component(vtimezone)
    for occurrence in occurrences:
        calendar.add_component(occurrence_event(occurrence))
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data


def add_to_calendar(occurrence: Occurrence) -> Attachment:
    """A one-session .ics, for reminders on platforms that can carry a file."""
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//eventbot//EN")
    calendar.add("VERSION", "2.0")
    calendar.add_component(occurrence_event(occurrence))
    return Attachment(f"{occurrence.id}.ics", calendar.to_ical(), "text/calendar")


class _FloatingToZone(x_wr_timezone.CalendarWalker):  # type: ignore[misc]
    """Floating times were read in the calendar's zone; the export says so, in every
    date property (EXDATE and RDATE included) so that they still match."""

    def __init__(self, tz: Any) -> None:
        self.tz = tz

    def walk_value_datetime(self, dt: datetime) -> datetime:
        return dt.replace(tzinfo=self.tz) if dt.tzinfo is None else dt


def occurrence_event(o: Occurrence) -> icalendar.Event:
    """One occurrence as a standalone VEVENT (its own UID, so it never clashes with the series)."""
    event = icalendar.Event()
    event.add("UID", f"{o.id}@eventbot")
    event.add("SUMMARY", o.title)
    if o.all_day and o.start_date:
        event.add("DTSTART", o.start_date)
        if o.end_date:
            event.add("DTEND", o.end_date)
    else:
        event.add("DTSTART", o.start)
        event.add("DTEND", o.end)
    event.add("DTSTAMP", o.start)
    if o.location:
        event.add("LOCATION", o.location)
    if o.description:
        event.add("DESCRIPTION", o.description)
    if o.url:
        event.add("URL", o.url)
    if o.status is not EventStatus.CONFIRMED:
        event.add("STATUS", o.status.value.upper())
    if o.facilitator:
        event.add("X-FACILITATOR", o.facilitator)
    if o.cpd_hours is not None:
        event.add("X-CPD-HOURS", f"{o.cpd_hours:g}")
    return event
