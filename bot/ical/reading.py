"""Reading and repair: the bytes of a feed into one ``SeriesRecord`` per UID.

Real feeds are messy, so the feed is split into components by hand first and each UID is
checked on its own: one broken event (a bad RRULE, a missing or impossible DTSTART, an
unknown zone) is skipped or repaired and reported, and the rest imports. Only content that
is not iCalendar at all raises ``FeedError``.

Time zones are rewritten to IANA names while splitting (Windows names such as
``GMT Standard Time`` and Outlook display names such as
``(UTC-05:00) Eastern Time (US & Canada)`` included), so the stored text no longer depends
on the feed's VTIMEZONE blocks except for truly custom zones.
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import icalendar
import recurring_ical_events
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from bot.errors import FeedError
from bot.i18n import N_
from bot.ical.expansion import load_calendar, plain_fields, plain_props, recurrence_query
from bot.ical.ids import series_id, short_hash
from bot.ical.lines import Component, Line, property_name, split_components, split_line, unescape
from bot.ical.problems import (
    BAD_DATES,
    BAD_RULE,
    BAD_VALUE,
    BROKEN_VTIMEZONE,
    DAMAGED_UTF8,
    DROPPED_PROPERTY,
    GUESSED_ZONE,
    NO_START,
    NO_VERSION,
    NOT_AN_EVENT,
    NOT_UTF8,
    OFFSET_ZONE,
    OLD_VERSION,
    ONLY_FIRST,
    RULE_LEFT_OUT,
    RULE_REPAIRED,
    TWO_STARTS,
    TWO_VALUES,
    UNKNOWN_CALENDAR_ZONE,
    UNKNOWN_ZONE,
    UNREADABLE,
    UNTIL_MISMATCH,
    FeedProblem,
    ProblemKind,
    SeriesRejected,
)
from bot.ical.writing import assemble, block_order, join_line, series_hash
from bot.ical.zones import iana_names, iana_zone, offset_zone, zone_info
from bot.ports import SeriesRecord

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ParsedFeed:
    """What ``parse_feed`` found.

    Attributes:
        calendar: Calendar name the series belong to.
        series: One record per UID that can be imported.
        problems: Everything skipped or repaired.
        encoding: The character encoding the bytes were read with.
        name: The feed's own name (X-WR-CALNAME), if any.
        timezone: The zone used for floating times (X-WR-TIMEZONE, else the default).
        content_hash: Hash of the raw bytes, so an unchanged feed can be recognised cheaply.
    """

    calendar: str
    series: list[SeriesRecord]
    problems: list[FeedProblem]
    encoding: str = "utf-8"
    name: str = ""
    timezone: str = "UTC"
    content_hash: str = ""


def feed_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- decoding


def _decode(data: bytes) -> tuple[str, str, FeedProblem | None]:
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace"), codec, None
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError:
        pass
    # Damaged UTF-8 (a few bad bytes among many good multi-byte characters) stays UTF-8;
    # a legacy single-byte encoding has no valid multi-byte sequences at all.
    replaced = data.decode("utf-8", errors="replace")
    damaged = replaced.count("\ufffd")
    good = sum(1 for ch in replaced if ord(ch) > 0x7F and ch != "\ufffd")
    if good > damaged:
        return replaced, "utf-8", FeedProblem(DAMAGED_UTF8, kind=ProblemKind.NOTE, params={"count": damaged})
    try:
        text, codec = data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        text, codec = data.decode("latin-1"), "latin-1"
    return text, codec, FeedProblem(NOT_UTF8, kind=ProblemKind.NOTE, params={"encoding": codec})


def _vtimezone_usable(component: Component) -> bool:
    """Whether icalendar can build a time zone from a VTIMEZONE block."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tz = icalendar.Timezone.from_ical(component.text())
            tz.to_tz()  # type: ignore[attr-defined]
    except Exception:  # any failure at all means the definition is unusable
        return False
    return True


# --------------------------------------------------------------------------- parsing

_SINGLE_VALUED = ("DTEND", "DURATION", "RECURRENCE-ID")
_REWRITTEN = {"UID", "RECURRENCE-ID", "RRULE", "RDATE"}
_ESSENTIAL_PROPS = {"DTSTART", "DTEND", "DURATION", "RRULE", "RECURRENCE-ID", "EXDATE", "UID"}
_EXPANDABLE = ("VEVENT",)
_PROBE_WINDOW = timedelta(days=1)


@dataclass(slots=True)
class _Context:
    """Per-VCALENDAR settings that shape how a series is read."""

    floating_zone: str
    x_wr_timezone: str | None


def parse_feed(
    data: bytes,
    *,
    calendar: str,
    default_timezone: str = "UTC",
    known: Mapping[str, SeriesRecord] | None = None,
) -> ParsedFeed:
    """Read a feed into series records.

    ``known`` maps UIDs to the records stored by the previous import; a series whose text
    is unchanged is taken from there instead of being checked again, which keeps a refresh
    of a large feed with a few edits cheap.

    Raises:
        FeedError: The content is not iCalendar at all (empty, HTML, cut off, ...), or not
            a single event in it could be read. The message is one line.
    """
    if not data.strip():
        raise FeedError(N_("The feed is empty."))
    if default_timezone not in iana_names():
        default_timezone = "UTC"
    text, encoding, encoding_problem = _decode(data)
    split = split_components(text)
    problems: list[FeedProblem] = [encoding_problem] if encoding_problem else []

    name = ""
    for props in split.calendars:
        version = props.get("VERSION", "").strip()
        if not version:
            problems.append(FeedProblem(NO_VERSION, kind=ProblemKind.NOTE))
        elif version != "2.0":
            problems.append(FeedProblem(OLD_VERSION, kind=ProblemKind.NOTE, params={"version": version}))
        name = name or props.get("X-WR-CALNAME", "").strip()
    contexts: dict[int, _Context] = {}

    def context_of(props: dict[str, str]) -> _Context:
        key = id(props)
        if key not in contexts:
            wr = props.get("X-WR-TIMEZONE", "").strip()
            zone = iana_zone(wr) if wr else None
            if wr and zone is None:
                problems.append(FeedProblem(UNKNOWN_CALENDAR_ZONE, kind=ProblemKind.NOTE,
                                            params={"tzid": wr, "zone": default_timezone}))
            contexts[key] = _Context(zone or default_timezone, zone)
        return contexts[key]

    vtimezones: dict[str, Component] = {}
    broken_zones: set[str] = set()
    by_uid: dict[str, list[Component]] = {}
    for component in split.components:
        if component.kind == "VTIMEZONE":
            tzids = component.values("TZID")
            if tzids:
                tzid = tzids[0].strip().strip('"')
                if not _vtimezone_usable(component):
                    broken_zones.add(tzid)
                    if iana_zone(tzid) is not None:
                        problems.append(FeedProblem(BROKEN_VTIMEZONE, kind=ProblemKind.NOTE,
                                                    params={"tzid": tzid}))
                else:
                    vtimezones.setdefault(tzid, component)
            continue
        uid = (component.values("UID") or [""])[0].strip()
        if component.kind not in _EXPANDABLE:
            problems.append(FeedProblem(NOT_AN_EVENT, uid=uid, title=_title_of([component]),
                                        line=component.number, params={"kind": component.kind}))
            continue
        if not uid:
            uid = "no-uid-" + short_hash(*(line.text for line in component.top_level()
                                            if line.name not in {"DTSTAMP", "SEQUENCE", "LAST-MODIFIED"}),
                                          length=12)
        by_uid.setdefault(uid, []).append(component)

    series: list[SeriesRecord] = []
    reduced: list[FeedProblem] = []  # one per series kept only as far as its start allows
    for uid, components in by_uid.items():
        context = context_of(components[0].calendar_props)
        title = _title_of(components)
        try:
            record, notes = _build_series(calendar, uid, title, components, context, vtimezones, broken_zones,
                                          known)
        except SeriesRejected as rejected:
            problems.append(FeedProblem(rejected.reason, uid=uid, title=title, line=components[0].number,
                                        params=rejected.params))
            continue
        except Exception:
            # A bug or a library failure on strange input costs this series only.
            log.exception("calendar %s: could not read series %r", calendar, uid)
            problems.append(FeedProblem(UNREADABLE, uid=uid, title=title, line=components[0].number))
            continue
        if notes:
            notes = [replace(note, title=title, line=components[0].number) if note.uid and not note.title
                     else note for note in notes]
        problems.extend(notes)
        series.append(record)
        fallback = next((note for note in notes if note.reason in (RULE_LEFT_OUT, ONLY_FIRST)), None)
        if fallback is not None:
            reduced.append(fallback)

    # A feed in which not one event stands as written is refused whole, as a damaged
    # download is, so that it never replaces a programme with its first sessions.
    broken = [p for p in problems if p.kind == ProblemKind.SKIPPED and p.reason != NOT_AN_EVENT]
    if len(reduced) == len(series) and (broken or reduced):
        first = min(broken + reduced, key=lambda p: p.line or 0)
        raise FeedError(N_("Nothing in this feed could be imported: every event is broken "
                           "(the first, at line {line}, is {uid})."), uid=first.uid, line=first.line)
    calendar_zone = next((c.floating_zone for c in contexts.values()), default_timezone)
    return ParsedFeed(calendar=calendar, series=series, problems=problems, encoding=encoding,
                      name=name, timezone=calendar_zone, content_hash=feed_hash(data))


def _title_of(components: list[Component]) -> str:
    """The series' title as the organiser sees it: the master's SUMMARY, else the first."""
    masters = [c for c in components if not c.values("RECURRENCE-ID")]
    return unescape(((masters or components)[0].values("SUMMARY") or [""])[0]).strip()


def _build_series(
    calendar: str,
    uid: str,
    title: str,
    components: list[Component],
    context: _Context,
    vtimezones: Mapping[str, Component],
    broken_zones: set[str],
    known: Mapping[str, SeriesRecord] | None,
) -> tuple[SeriesRecord, list[FeedProblem]]:
    notes: list[FeedProblem] = []
    needed_vtimezones: dict[str, Component] = {}
    event_blocks: list[list[str]] = []
    recurring = False
    series_all_day: bool | None = None
    masters = [c for c in components if not c.values("RECURRENCE-ID")]
    if masters:
        first_start = (masters[0].values("DTSTART") or [""])[0].strip()
        series_all_day = len(first_start) == 8
    left_out: list[str] = []
    for component in components:
        starts = component.lines_named("DTSTART")
        if not starts:
            raise SeriesRejected(NO_START)
        if len(starts) > 1:
            raise SeriesRejected(TWO_STARTS)
        for prop in _SINGLE_VALUED:
            if len(component.values(prop)) > 1:
                raise SeriesRejected(TWO_VALUES, prop=prop)
        start_value = starts[0].parts[2].strip()
        if not start_value:
            raise SeriesRejected(BAD_VALUE, prop="DTSTART", value=starts[0].text.partition(":")[2])
        start_is_date = len(start_value) == 8
        if not component.values("RECURRENCE-ID"):
            series_all_day = start_is_date
        lines: list[str] = []
        depth = 0
        for line in component.lines:
            if line.name in ("BEGIN", "END"):
                depth += 1 if line.name == "BEGIN" else -1
                lines.append(line.text)
                continue
            if depth != 1 or (line.name not in _REWRITTEN and "TZID=" not in line.text.upper()):
                lines.append(line.text)  # most lines pass through untouched, unsplit
                continue
            name, params, value = line.parts
            if depth == 1 and name == "UID" and not value.strip():
                continue
            if depth == 1 and any(key == "TZID" for key, _ in params):
                params = _rewrite_tzid(uid, params, context, vtimezones, broken_zones, needed_vtimezones, notes)
                line = Line(line.number, join_line(name, params, value))
            if depth == 1 and name == "RECURRENCE-ID" and series_all_day and len(value.strip()) > 8:
                # Exchange names the changed day of an all-day series by its local
                # midnight; the day is unambiguous, so this is repaired without a note.
                fixed = _recurrence_day(value.strip())
                line = Line(line.number, f"RECURRENCE-ID;VALUE=DATE:{fixed}")
            if depth == 1 and name == "RRULE":
                recurring = True
                repaired = _repaired_rule(value)
                try:
                    _check_rule(value if repaired is None else repaired)
                except SeriesRejected:
                    left_out.append(value)  # the series stands on its start; see below
                    continue
                if repaired is not None:
                    notes.append(FeedProblem(RULE_REPAIRED, uid=uid, kind=ProblemKind.REPAIRED,
                                             params={"rule": value, "fixed": repaired}))
                    value = repaired
                value = _fix_until(uid, value, start_is_date, start_value, params, starts[0], notes)
                line = Line(line.number, join_line(name, params, value))
            lines.append(line.text)
            if depth == 1 and name in ("RRULE", "RDATE", "RECURRENCE-ID"):
                recurring = True
        if not component.values("UID") or not component.values("UID")[0].strip():
            lines.insert(1, f"UID:{uid}")
        event_blocks.append(lines)
    # The master first, then overrides by RECURRENCE-ID: a feed that lists them in
    # another order next time has not changed.
    event_blocks.sort(key=block_order)
    has_master = bool(masters)
    if left_out:
        # Kept without the rule rather than dropped whole: the session at its start is
        # certain, and it keeps its id (recurring) for when the organiser fixes the rule.
        if not has_master:
            raise SeriesRejected(BAD_RULE, rule=left_out[0])
        notes.append(FeedProblem(RULE_LEFT_OUT, uid=uid, kind=ProblemKind.REPAIRED,
                                 params={"rule": left_out[0], "start": _start_text(event_blocks[0])}))
    if has_master and series_all_day is False and len(event_blocks) > 1:
        _match_midnight_overrides(event_blocks, context, needed_vtimezones)

    zone = context.floating_zone
    body = assemble(context.x_wr_timezone, needed_vtimezones, event_blocks)
    previous = known.get(uid) if known else None
    if previous is not None and previous.content_hash == series_hash(zone, body):
        return previous, notes  # unchanged since the last import: already checked
    if len(event_blocks) == 1 and not recurring and not needed_vtimezones:
        dropped = _check_simple(uid, event_blocks[0])
        if dropped:
            body = assemble(context.x_wr_timezone, needed_vtimezones, event_blocks)
        if plain_fields(body, zone) is None:  # pragma: no cover - a plain event stays plain
            raise SeriesRejected(UNREADABLE)
    else:
        try:
            body, dropped = _check_series(uid, body, event_blocks, context, needed_vtimezones)
        except SeriesRejected as rejected:
            if not has_master:
                raise
            body, dropped = _keep_first_session(uid, rejected, event_blocks, context, needed_vtimezones)
            if any(note.reason == ONLY_FIRST for note in dropped):
                notes = [note for note in notes if note.reason != RULE_LEFT_OUT]
    notes.extend(dropped)
    record = SeriesRecord(
        calendar=calendar,
        uid=uid,
        series_id=series_id(calendar, uid),
        title=title,
        ical=body,
        timezone=zone,
        recurring=recurring,
        content_hash=series_hash(zone, body),
    )
    return record, notes


# --------------------------------------------------------------------------- repair


def _rewrite_tzid(
    uid: str,
    params: list[tuple[str, str]],
    context: _Context,
    vtimezones: Mapping[str, Component],
    broken_zones: set[str],
    needed: dict[str, Component],
    notes: list[FeedProblem],
) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    for key, value in params:
        if key != "TZID":
            result.append((key, value))
            continue
        tzid = value.strip()
        zone = iana_zone(tzid)
        if zone is not None:
            result.append((key, zone))
            guessed = tzid not in iana_names() and tzid not in WINDOWS_TO_OLSON
            if guessed and tzid not in vtimezones and tzid not in broken_zones and not any(
                n.reason == GUESSED_ZONE and n.params.get("tzid") == tzid for n in notes
            ):
                notes.append(FeedProblem(GUESSED_ZONE, uid=uid, kind=ProblemKind.REPAIRED,
                                         params={"tzid": tzid, "zone": zone}))
            continue
        if tzid in vtimezones:
            # icalendar caches custom zones by TZID for the whole process, and every
            # Outlook feed has its own "Customized Time Zone": name each definition apart.
            unique = f"{tzid} ~{short_hash(vtimezones[tzid].text())}"
            needed[unique] = vtimezones[tzid]
            result.append((key, unique))
            continue
        offset = offset_zone(tzid)
        problem_key = (UNKNOWN_ZONE if offset is None else OFFSET_ZONE)
        if not any(n.reason == problem_key and n.params.get("tzid") == tzid for n in notes):
            notes.append(FeedProblem(problem_key, uid=uid, kind=ProblemKind.REPAIRED,
                                     params={"tzid": tzid, "zone": offset or context.floating_zone}))
        if offset is not None:
            result.append((key, offset))
        # else: drop the parameter, so the time is floating and read in the calendar's zone
    return result


_RULE_PARTS = {
    "FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY",
    "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST", "RSCALE", "SKIP",
}
_FREQUENCIES = {"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}


_RULE_PREFIX = re.compile(r"^\s*(?:RRULE\s*:\s*)+", re.IGNORECASE)


def _repaired_rule(rule: str) -> str | None:
    """Some tools write the property name twice, with a stray word after it
    (``RRULE:RRULE:AnythingRandom;FREQ=WEEKLY;BYDAY=MO``): strip the prefix and keep the
    ``NAME=value`` parts. None if the rule has no such prefix."""
    match = _RULE_PREFIX.match(rule)
    if match is None:
        return None
    return ";".join(part for part in rule[match.end():].split(";") if "=" in part)


def _check_rule(rule: str) -> None:
    """icalendar silently drops parts it does not understand, which would turn a rule such
    as ``FREQ=WEEKLY;UNTL=...`` into one that never ends. Refuse such rules instead."""
    parts: dict[str, str] = {}
    for part in rule.strip().strip(";").split(";"):
        key, eq, value = part.partition("=")
        key = key.strip().upper()
        if not eq or not value.strip() or (key not in _RULE_PARTS and not key.startswith("X-")):
            raise SeriesRejected(BAD_RULE, rule=rule)
        parts[key] = value.strip().upper()
    if parts.get("FREQ") not in _FREQUENCIES or ("UNTIL" in parts and "COUNT" in parts):
        raise SeriesRejected(BAD_RULE, rule=rule)
    # dateutil never returns from a rule whose interval is zero.
    if "INTERVAL" in parts and not (parts["INTERVAL"].isdecimal() and int(parts["INTERVAL"]) > 0):
        raise SeriesRejected(BAD_RULE, rule=rule)


def _start_text(block: list[str]) -> str:
    """The start of a block as the organiser reads it: ``2025-03-03 09:30``."""
    value = next((split_line(text)[2].strip() for text in block if property_name(text) == "DTSTART"), "")
    match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})\d{2}(Z?))?", value.upper())
    if match is None:
        return value
    year, month, day, hour, minute, utc = match.groups()
    text = f"{year}-{month}-{day}"
    if hour is not None:
        text += f" {hour}:{minute}" + (" UTC" if utc else "")
    return text


_RECURRENCE_LINES = {"RRULE", "RDATE", "EXDATE", "EXRULE"}


def _keep_first_session(
    uid: str, rejected: SeriesRejected, event_blocks: list[list[str]], context: _Context,
    vtimezones: dict[str, Component],
) -> tuple[str, list[FeedProblem]]:
    """A series that cannot be expanded as written, kept as far as its start allows:
    without its rule if the rule is what fails, else its first session alone.

    Raises:
        SeriesRejected: ``rejected``, if not even the first session can be read.
    """
    master = event_blocks[0]
    start = _start_text(master)
    rules = [split_line(text)[2] for text in master if property_name(text) == "RRULE"]
    rule_failed = rejected.reason == BAD_RULE or rejected.params.get("prop") == "RRULE"
    if rules and rule_failed:
        blocks = [[text for text in master if property_name(text) != "RRULE"], *event_blocks[1:]]
        try:
            body, dropped = _check_series(uid, assemble(context.x_wr_timezone, vtimezones, blocks), blocks,
                                          context, vtimezones)
        except SeriesRejected:
            pass
        else:
            return body, [FeedProblem(RULE_LEFT_OUT, uid=uid, kind=ProblemKind.REPAIRED,
                                      params={"rule": rules[0], "start": start}), *dropped]
    alone = [[text for text in master if property_name(text) not in _RECURRENCE_LINES]]
    try:
        body, dropped = _check_series(uid, assemble(context.x_wr_timezone, vtimezones, alone), alone,
                                      context, vtimezones)
    except SeriesRejected:
        raise rejected from None
    return body, [FeedProblem(ONLY_FIRST, uid=uid, kind=ProblemKind.REPAIRED, params={"start": start}),
                  *dropped]


_DAY = re.compile(r"^\d{8}$")
_LOCAL_MIDNIGHT = re.compile(r"^\d{8}T000000$")
_UTC_TIME = re.compile(r"^\d{8}T\d{6}Z$")


def _match_midnight_overrides(
    event_blocks: list[list[str]], context: _Context, vtimezones: Mapping[str, Component],
) -> None:
    """Exchange names the instance an override replaces by the midnight that starts its day
    (in the series' zone, or that instant in UTC), wherever the series' time is. Outlook
    matches such an override to that day's session; so does this, when the day has exactly
    one session and none at midnight. Rewrites the RECURRENCE-ID lines in place."""
    master = event_blocks[0]
    zone: tzinfo | None = None
    for block in event_blocks[1:]:
        index = next((i for i, text in enumerate(block) if property_name(text) == "RECURRENCE-ID"), None)
        if index is None:
            continue
        value = split_line(block[index])[2].strip().upper()
        if not (_DAY.match(value) or _LOCAL_MIDNIGHT.match(value) or _UTC_TIME.match(value)):
            continue
        try:
            zone = zone or _series_zone(master, context, vtimezones)
            day = _day_named(value, zone)
            session = _only_session_on(day, zone, master, context, vtimezones) if day else None
        except Exception:
            # The libraries raise many kinds on odd input; the override is left as written,
            # and checking the series reports whatever is really wrong with it.
            continue
        if session is not None:
            block[index] = _recurrence_id_for(session, master)


def _day_named(value: str, zone: tzinfo) -> date | None:
    """The day a RECURRENCE-ID names by its midnight, or None if it is not a midnight."""
    if _DAY.match(value) or _LOCAL_MIDNIGHT.match(value):
        return _day_of(value)
    instant = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).astimezone(zone)
    if instant.time() == time():
        return instant.date()
    return _day_of(value) if value.endswith("T000000Z") else None


def _day_of(value: str) -> date | None:
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None  # an unreadable RECURRENCE-ID is reported when the series is checked


def _series_zone(master: list[str], context: _Context, vtimezones: Mapping[str, Component]) -> tzinfo:
    """The zone the master's start is written in (the calendar's for floating times)."""
    _name, params, value = split_line(next(t for t in master if property_name(t) == "DTSTART"))
    tzid = dict(params).get("TZID")
    if value.strip().upper().endswith("Z"):
        return UTC
    if tzid is None:
        return zone_info(context.floating_zone)
    if tzid in iana_names():
        return zone_info(tzid)
    start: Any = load_calendar(assemble(None, vtimezones, [master])).walk("VEVENT")[0]["DTSTART"].dt
    return start.tzinfo if isinstance(start, datetime) and start.tzinfo else zone_info(context.floating_zone)


def _only_session_on(
    day: date, zone: tzinfo, master: list[str], context: _Context, vtimezones: Mapping[str, Component],
) -> datetime | None:
    """The start of the master's one session on ``day``, or None if it has none there,
    several, or one at midnight (which the override already names)."""
    begin = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    query = recurrence_query(assemble(context.x_wr_timezone, vtimezones, [master]), context.floating_zone)
    starts: list[datetime] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for component in query.between(begin, end):
            start = component["DTSTART"].dt
            if isinstance(start, datetime):
                start = start if start.tzinfo else start.replace(tzinfo=zone)
                if start.astimezone(zone).date() == day:
                    starts.append(start)
    if len(starts) != 1 or starts[0].astimezone(zone).time() == time():
        return None
    return starts[0]


def _recurrence_id_for(session: datetime, master: list[str]) -> str:
    """A RECURRENCE-ID naming ``session`` the way the master's DTSTART is written."""
    _name, params, value = split_line(next(t for t in master if property_name(t) == "DTSTART"))
    if value.strip().upper().endswith("Z"):
        return "RECURRENCE-ID:" + session.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    tzid = [(key, param) for key, param in params if key == "TZID"]
    return join_line("RECURRENCE-ID", tzid, session.strftime("%Y%m%dT%H%M%S"))


def _recurrence_day(value: str) -> str:
    """The day an all-day instance was on, from a RECURRENCE-ID written with a time."""
    if value.upper().endswith("Z"):
        moment = datetime.strptime(value[:15] + "+0000", "%Y%m%dT%H%M%S%z") + timedelta(hours=12)
        return moment.strftime("%Y%m%d")
    return value[:8]


def _fix_until(
    uid: str, rule: str, start_is_date: bool, start_value: str, params: list[tuple[str, str]],
    start_line: Line, notes: list[FeedProblem],
) -> str:
    """Google writes UNTIL as a DATE under a DATE-TIME start, Exchange the other way round;
    RFC 5545 requires them to match. Make them match, keeping the last day included."""
    match = re.search(r"(?i)(?<![A-Z-])UNTIL=([0-9TZ]+)", rule)
    if match is None:
        return rule
    until = match.group(1).upper()
    until_is_date = len(until) == 8
    if until_is_date == start_is_date:
        return rule
    start_params = dict(split_line(start_line.text)[1])
    try:
        if start_is_date:
            # Exchange writes the local midnight of the last day in UTC; the nearest
            # midnight to that instant is the last day in any zone within ±12 h.
            moment = datetime.strptime(until.rstrip("Z") + "+0000", "%Y%m%dT%H%M%S%z")
            if until.endswith("Z"):
                moment += timedelta(hours=12)
            fixed = moment.strftime("%Y%m%d")
            # Unambiguous and routine in Exchange feeds: repaired without a note.
            return rule[: match.start(1)] + fixed + rule[match.end(1):]
        else:
            day = date.fromisoformat(f"{until[:4]}-{until[4:6]}-{until[6:8]}")
            end_of_day = datetime.combine(day, time(23, 59, 59))
            tzid = start_params.get("TZID")
            zone_name = iana_zone(tzid) if tzid else None
            if start_value.endswith("Z") or zone_name:
                local = end_of_day.replace(tzinfo=zoneinfo.ZoneInfo(zone_name or "UTC"))
                fixed = local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            else:
                fixed = end_of_day.strftime("%Y%m%dT%H%M%S")
    except ValueError:
        return rule  # an unreadable UNTIL is reported when the rule is checked
    notes.append(FeedProblem(UNTIL_MISMATCH, uid=uid, kind=ProblemKind.REPAIRED,
                             params={"until": until, "fixed": fixed}))
    return rule[: match.start(1)] + fixed + rule[match.end(1):]


def _check_series(
    uid: str, body: str, event_blocks: list[list[str]], context: _Context,
    vtimezones: dict[str, Component],
) -> tuple[str, list[FeedProblem]]:
    """Parse the series as icalendar will later, drop unreadable optional properties, and
    make sure it expands. Raises ``SeriesRejected`` if it cannot be used."""
    notes: list[FeedProblem] = []
    cal = load_calendar(body)
    for event, block in zip(cal.walk("VEVENT"), event_blocks, strict=False):
        bad: set[str] = set()
        for prop, _message in event.errors:
            prop = (prop or "").upper()
            if prop in _ESSENTIAL_PROPS:
                value = next((split_line(t)[2] for t in block if property_name(t) == prop), "")
                raise SeriesRejected(BAD_VALUE, prop=prop, value=value)
            bad.add(prop)
        for prop in sorted(bad):
            for text in [t for t in block if property_name(t) == prop]:
                notes.append(FeedProblem(DROPPED_PROPERTY, uid=uid, kind=ProblemKind.REPAIRED,
                                         params={"prop": prop, "value": split_line(text)[2]}))
                block.remove(text)
    if notes:
        body = assemble(context.x_wr_timezone, vtimezones, event_blocks)
        cal = load_calendar(body)
    for event in cal.walk("VEVENT"):
        if "DTSTART" not in event:
            raise SeriesRejected(NO_START)
    try:
        first: Any = cal.walk("VEVENT")[0]["DTSTART"].dt
        probe = first if isinstance(first, datetime) else datetime.combine(first, time())
        if probe.tzinfo is None:
            probe = probe.replace(tzinfo=zoneinfo.ZoneInfo(context.floating_zone))
        list(recurrence_query(body, context.floating_zone).between(probe - _PROBE_WINDOW, probe + _PROBE_WINDOW))
    except recurring_ical_events.InvalidCalendar as error:
        rule = next((split_line(t)[2] for b in event_blocks for t in b if property_name(t) == "RRULE"), "")
        if rule:
            raise SeriesRejected(BAD_RULE, rule=rule) from error
        raise SeriesRejected(BAD_DATES) from error
    except Exception as error:  # the libraries raise many kinds on odd input: all mean "unusable"
        raise SeriesRejected(BAD_DATES) from error
    return body, notes


_GEO_VALUE = re.compile(r"^\s*[+-]?\d+(?:\.\d+)?\s*[;,]\s*[+-]?\d+(?:\.\d+)?\s*$")


def _check_simple(uid: str, block: list[str]) -> list[FeedProblem]:
    """Drop an unreadable GEO from a plain single event, as icalendar would report it."""
    if not any(text[:3].upper() == "GEO" for text in block):
        return []
    props = plain_props(block) or {}
    notes: list[FeedProblem] = []
    for params, value in props.get("GEO", []):
        del params
        if not _GEO_VALUE.match(value):
            notes.append(FeedProblem(DROPPED_PROPERTY, uid=uid, kind=ProblemKind.REPAIRED,
                                     params={"prop": "GEO", "value": value}))
            for text in [t for t in block if property_name(t) == "GEO" and split_line(t)[2] == value]:
                block.remove(text)
    return notes
