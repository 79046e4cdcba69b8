"""Expansion: stored series into dated ``Occurrence``s for a window.

Recurring series go through recurring-ical-events; plain single events are read directly
(see "plain events" below), which is many times faster on large feeds.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import icalendar
import recurring_ical_events
import x_wr_timezone

from bot.ical.ids import occurrence_id, recurrence_key
from bot.ical.lines import property_name, split_line, unescape
from bot.ical.problems import BAD_DATES, BAD_VALUE, NO_START, FeedProblem, SeriesRejected
from bot.ical.zones import iana_names, zone_info
from bot.models import EventStatus, Occurrence
from bot.ports import SeriesRecord

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Expansion:
    """Occurrences of a window, ordered by start, and the series that could not be expanded."""

    occurrences: list[Occurrence]
    problems: list[FeedProblem]


@functools.lru_cache(maxsize=4096)
def load_calendar(body: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return icalendar.Calendar.from_ical(body)  # type: ignore[return-value]


@functools.lru_cache(maxsize=4096)
def recurrence_query(body: str, floating_zone: str) -> Any:
    cal = load_calendar(body)
    if "X-WR-TIMEZONE" in cal:
        cal = x_wr_timezone.to_standard(cal)
    return recurring_ical_events.of(cal, skip_bad_series=False)


def expand(series: Iterable[SeriesRecord], start: datetime, end: datetime, *,
           progress: Callable[[int, int], None] | None = None) -> Expansion:
    """Occurrences of every series overlapping ``[start, end)``, ordered by start.

    ``progress(done, total)`` is called every hundred series and at the end, for long imports.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("expand needs aware datetimes")
    occurrences: dict[str, Occurrence] = {}
    problems: list[FeedProblem] = []
    records = list(series)
    for done, record in enumerate(records):
        if progress is not None and done % 100 == 0:
            progress(done, len(records))
        try:
            for occurrence in _expand_one(record, start, end):
                occurrences.setdefault(occurrence.id, occurrence)
        except (SeriesRejected, recurring_ical_events.InvalidCalendar, ValueError, TypeError,
                OverflowError, KeyError):
            problems.append(FeedProblem(BAD_DATES, uid=record.uid, title=record.title))
        except Exception:
            log.exception("calendar %s: could not expand series %r", record.calendar, record.uid)
            problems.append(FeedProblem(BAD_DATES, uid=record.uid, title=record.title))
    if progress is not None:
        progress(len(records), len(records))
    ordered = sorted(occurrences.values(), key=lambda o: (o.start, o.end, o.title, o.id))
    return Expansion(ordered, problems)


def _expand_one(record: SeriesRecord, start: datetime, end: datetime) -> Iterable[Occurrence]:
    if not record.recurring:
        fields = plain_fields(record.ical, record.timezone)
        if fields is not None:
            single = _make_occurrence(record, fields, zone_info(record.timezone))
            return [single] if _overlaps(single, start, end) else []
    return _expand_with_icalendar(record, start, end)


def _expand_with_icalendar(record: SeriesRecord, start: datetime, end: datetime) -> Iterable[Occurrence]:
    """Expand with recurring-ical-events, reading each source component's fields once.

    The public ``between()`` copies the whole icalendar component for every occurrence,
    which costs more than everything else in an import. Its ``_occurrences_between``
    gives the same occurrences (start, end, source component) without the copies; if a
    later version drops it, the public road is taken.
    """
    zone = zone_info(record.timezone)
    query = recurrence_query(record.ical, record.timezone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = _raw_occurrences(query, start.astimezone(UTC), end.astimezone(UTC))
    if raw is None:
        yield from _expand_with_components(record, start, end)
        return
    per_component: dict[int, _Fields] = {}
    for item, component in raw:
        base = per_component.get(id(component))
        if base is None:
            base = per_component[id(component)] = _fields_of_component(component)
        fields = replace(base, start=item.start, end=item.end,
                         original=base.original if base.original is not None else item.start)
        occurrence = _make_occurrence(record, fields, zone)
        if _overlaps(occurrence, start, end):
            yield occurrence


def _raw_occurrences(query: Any, start: datetime, end: datetime) -> list[tuple[Any, Any]] | None:
    try:
        found = query._occurrences_between(query.to_datetime(start), query.to_datetime(end))
        return [(item, item._adapter._component) for item in found]
    except AttributeError:
        return None


def _expand_with_components(record: SeriesRecord, start: datetime, end: datetime) -> Iterable[Occurrence]:
    """The public road: one copied component per occurrence."""
    zone = zone_info(record.timezone)
    query = recurrence_query(record.ical, record.timezone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        components = list(query.between(start.astimezone(UTC), end.astimezone(UTC)))
    for component in components:
        occurrence = _make_occurrence(record, _fields_of_component(component), zone)
        if _overlaps(occurrence, start, end):
            yield occurrence


def _overlaps(occurrence: Occurrence, start: datetime, end: datetime) -> bool:
    if occurrence.start == occurrence.end:
        return start <= occurrence.start < end
    return occurrence.end > start and occurrence.start < end



def _aware(value: datetime, zone: tzinfo) -> datetime:
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


@dataclass(slots=True)
class _Fields:
    """What an occurrence is built from, read either by icalendar or by the plain reader."""

    start: date | datetime
    end: date | datetime | None
    original: date | datetime | None
    status: str
    summary: str
    description: str
    location: str
    url: str
    facilitator: str
    organizer_name: str
    organizer_address: str
    cpd_hours: str


def _fields_of_component(component: Any) -> _Fields:
    raw_start = component["DTSTART"].dt
    raw_end = component["DTEND"].dt if "DTEND" in component else None
    if raw_end is None and "DURATION" in component:
        raw_end = raw_start + component["DURATION"].dt
    organizer = component.get("ORGANIZER")
    if isinstance(organizer, list):
        organizer = organizer[0] if organizer else None
    return _Fields(
        start=raw_start,
        end=raw_end,
        original=component["RECURRENCE-ID"].dt if "RECURRENCE-ID" in component else None,
        status=_text(component.get("STATUS")),
        summary=_text(component.get("SUMMARY")),
        description=_text(component.get("DESCRIPTION")),
        location=_text(component.get("LOCATION")),
        url=_text(component.get("URL")),
        facilitator=_text(component.get("X-FACILITATOR")),
        organizer_name=str(getattr(organizer, "params", {}).get("CN", "")) if organizer is not None else "",
        organizer_address=str(organizer) if organizer is not None else "",
        cpd_hours=_text(component.get("X-CPD-HOURS")),
    )


def _make_occurrence(record: SeriesRecord, fields: _Fields, zone: tzinfo) -> Occurrence:
    raw_start, raw_end = fields.start, fields.end
    all_day = not isinstance(raw_start, datetime)
    start_date = end_date = None
    if not isinstance(raw_start, datetime):
        start_date = raw_start
        end_date = raw_end if isinstance(raw_end, date) and not isinstance(raw_end, datetime) else None
        if end_date is None or end_date <= start_date:
            end_date = start_date + timedelta(days=1)
        start = datetime.combine(start_date, time(), tzinfo=UTC)
        end = datetime.combine(end_date, time(), tzinfo=UTC)
        event_zone = record.timezone
    else:
        start_local = _aware(raw_start, zone)
        start = start_local.astimezone(UTC)
        if isinstance(raw_end, datetime):
            end = _aware(raw_end, zone).astimezone(UTC)
        elif isinstance(raw_end, date):
            end = datetime.combine(raw_end, time(), tzinfo=zone).astimezone(UTC)
        else:
            end = start
        end = max(end, start)
        key = getattr(start_local.tzinfo, "key", None)
        event_zone = key if key and key != "UTC" else record.timezone

    if record.recurring:
        original = fields.original if fields.original is not None else raw_start
        if isinstance(original, datetime):
            original = _aware(original, zone)
        recurrence_id = recurrence_key(original)
    else:
        recurrence_id = ""

    status = {"CANCELLED": EventStatus.CANCELLED, "TENTATIVE": EventStatus.TENTATIVE}.get(
        fields.status.upper(), EventStatus.CONFIRMED)
    return Occurrence(
        id=occurrence_id(record.calendar, record.uid, recurrence_id),
        calendar=record.calendar,
        uid=record.uid,
        recurrence_id=recurrence_id,
        series_id=record.series_id,
        title=fields.summary or record.title,
        start=start,
        end=end,
        all_day=all_day,
        start_date=start_date,
        end_date=end_date,
        timezone=event_zone,
        status=status,
        description=fields.description,
        location=fields.location,
        url=_join_link(fields),
        facilitator=_facilitator(fields),
        cpd_hours=_cpd_hours(fields.cpd_hours, start, end, all_day),
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


_LINK = re.compile(r"https?://[^\s<>\"'\\]+", re.IGNORECASE)


def _join_link(fields: _Fields) -> str:
    if fields.url:
        return fields.url
    for text in (fields.location, fields.description):
        match = _LINK.search(text)
        if match:
            return match.group(0).rstrip(".,;)")
    return ""


def _facilitator(fields: _Fields) -> str:
    if fields.facilitator:
        return fields.facilitator
    if fields.organizer_name:
        return fields.organizer_name.strip().strip('"')
    address = fields.organizer_address
    return address.split(":", 1)[1] if address.lower().startswith("mailto:") else address


def _cpd_hours(declared: str, start: datetime, end: datetime, all_day: bool) -> float | None:
    if declared:
        try:
            return round(float(declared.replace(",", ".")), 2)
        except ValueError:
            pass
    if all_day:
        return None
    return round((end - start).total_seconds() / 3600, 2)


# --------------------------------------------------------------------------- plain events
#
# Most events in a feed are single sessions: no recurrence, no custom zone. icalendar reads
# about ten thousand lines a second, too slow for a feed of twenty thousand events, so such
# events are read here directly; a test holds both readers to the same results.

_RECURRENCE_PROPS = {"RRULE", "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID"}
_PLAIN_WANTED = _RECURRENCE_PROPS | {
    "BEGIN", "END", "DTSTART", "DTEND", "DURATION", "STATUS", "SUMMARY", "DESCRIPTION", "LOCATION", "URL",
    "X-FACILITATOR", "ORGANIZER", "X-CPD-HOURS", "GEO",
}
_DATE_VALUE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATE_TIME_VALUE = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$")
_DURATION_VALUE = re.compile(
    r"^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")

_Props = dict[str, list[tuple[dict[str, str], str]]]


def plain_props(lines: Iterable[str]) -> _Props | None:
    """Top-level properties of the one VEVENT in ``lines``, or None if it is not plain."""
    props: _Props = {}
    stack: list[str] = []
    events = 0
    for text in lines:
        if not text:
            continue
        name = property_name(text)
        if name not in _PLAIN_WANTED:
            continue
        name, params, value = split_line(text)
        if name == "BEGIN":
            kind = value.strip().upper()
            if kind == "VTIMEZONE":
                return None
            events += kind == "VEVENT"
            stack.append(kind)
        elif name == "END":
            if stack:
                stack.pop()
        elif stack and stack[-1] == "VEVENT":
            if name in _RECURRENCE_PROPS:
                return None
            props.setdefault(name, []).append((dict(params), value))
    return props if events == 1 else None


def _parse_date_value(value: str, params: Mapping[str, str], zone: tzinfo) -> date | datetime:
    value = value.strip()
    if params.get("VALUE", "").upper() == "DATE" or _DATE_VALUE.match(value):
        match = _DATE_VALUE.match(value)
        if match is None:
            raise ValueError(value)
        return date(int(match[1]), int(match[2]), int(match[3]))
    match = _DATE_TIME_VALUE.match(value)
    if match is None:
        raise ValueError(value)
    moment = datetime(int(match[1]), int(match[2]), int(match[3]),  # noqa: DTZ001 - zone is set below
                      int(match[4]), int(match[5]), int(match[6]))
    if match[7]:
        return moment.replace(tzinfo=UTC)
    tzid = params.get("TZID")
    if tzid:
        if tzid not in iana_names():
            raise ValueError(tzid)
        return moment.replace(tzinfo=zone_info(tzid))
    return moment  # floating; the series zone is applied when the occurrence is built


def _parse_duration(value: str) -> timedelta:
    match = _DURATION_VALUE.match(value.strip().upper())
    if match is None or value.strip().upper() in {"P", "PT", "+P", "-P"}:
        raise ValueError(value)
    sign, weeks, days, hours, minutes, seconds = match.groups()
    delta = timedelta(weeks=int(weeks or 0), days=int(days or 0), hours=int(hours or 0),
                      minutes=int(minutes or 0), seconds=int(seconds or 0))
    return -delta if sign == "-" else delta


def _first(props: _Props, name: str) -> tuple[dict[str, str], str] | None:
    values = props.get(name)
    return values[0] if values else None


def _plain_text(props: _Props, name: str) -> str:
    found = _first(props, name)
    return unescape(found[1]).strip() if found else ""


def _fields_of_plain(props: _Props, zone: tzinfo) -> _Fields:
    """Raises ``SeriesRejected`` for a missing or unreadable start, end or duration."""
    start_prop = _first(props, "DTSTART")
    if start_prop is None:
        raise SeriesRejected(NO_START)
    try:
        raw_start = _parse_date_value(start_prop[1], start_prop[0], zone)
    except ValueError:
        raise SeriesRejected(BAD_VALUE, prop="DTSTART", value=start_prop[1]) from None
    raw_end: date | datetime | None = None
    end_prop = _first(props, "DTEND")
    duration_prop = _first(props, "DURATION")
    try:
        if end_prop is not None:
            raw_end = _parse_date_value(end_prop[1], end_prop[0], zone)
        elif duration_prop is not None:
            raw_end = raw_start + _parse_duration(duration_prop[1])
    except ValueError:
        prop = "DTEND" if end_prop is not None else "DURATION"
        value = (end_prop or duration_prop or ({}, ""))[1]
        raise SeriesRejected(BAD_VALUE, prop=prop, value=value) from None
    organizer = _first(props, "ORGANIZER")
    return _Fields(
        start=raw_start,
        end=raw_end,
        original=None,
        status=_plain_text(props, "STATUS"),
        summary=_plain_text(props, "SUMMARY"),
        description=_plain_text(props, "DESCRIPTION"),
        location=_plain_text(props, "LOCATION"),
        url=(_first(props, "URL") or ({}, ""))[1].strip(),
        facilitator=_plain_text(props, "X-FACILITATOR"),
        organizer_name=organizer[0].get("CN", "") if organizer else "",
        organizer_address=organizer[1].strip() if organizer else "",
        cpd_hours=_plain_text(props, "X-CPD-HOURS"),
    )


@functools.lru_cache(maxsize=32768)
def plain_fields(body: str, zone_name: str) -> _Fields | None:
    """The fields of a plain single event (None if the body is not one), read once per
    body: the check during parsing and the expansion right after share it.

    Raises:
        SeriesRejected: Its start, end or duration cannot be read.
    """
    props = plain_props(body.split("\r\n"))
    return None if props is None else _fields_of_plain(props, zone_info(zone_name))
