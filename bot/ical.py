"""Reading iCalendar feeds: pure functions, no I/O.

``parse_feed`` turns the bytes of a feed into one ``SeriesRecord`` per UID, each holding a
small, self-contained VCALENDAR (the master, its overrides and any custom VTIMEZONE it
needs) so that any window can be expanded later without the original feed. ``expand`` turns
series into dated ``Occurrence``s for a window.

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

import enum
import functools
import hashlib
import logging
import re
import unicodedata
import warnings
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import icalendar
import recurring_ical_events
import x_wr_timezone
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from bot.errors import FeedError
from bot.i18n import N_, Translator, translator
from bot.models import EventStatus, Occurrence
from bot.ports import SeriesRecord

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- ids


_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def _short_hash(*parts: str, length: int = 8) -> str:
    """Lowercase RFC 4648 base32 of a SHA-256, cut to ``length`` (at most 12) characters."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    bits = int.from_bytes(digest[:8], "big")
    return "".join(_BASE32[(bits >> (59 - 5 * i)) & 31] for i in range(length))


def series_id(calendar: str, uid: str) -> str:
    """Short, stable id of a series: the same calendar and UID always give the same id."""
    return _short_hash("series", calendar, uid)


def occurrence_id(calendar: str, uid: str, recurrence_id: str) -> str:
    """Short, stable id of one occurrence (``recurrence_id`` is ``""`` for single events)."""
    return _short_hash("occurrence", calendar, uid, recurrence_id)


def recurrence_key(original_start: date | datetime) -> str:
    """The ``Occurrence.recurrence_id`` form of an instance's original start: the UTC
    instant (``2025-03-17T09:30:00Z``) or, for all-day events, the date (``2025-03-17``)."""
    if isinstance(original_start, datetime):
        if original_start.tzinfo is None:
            raise ValueError("recurrence_key needs an aware datetime")
        return original_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return original_start.isoformat()


# --------------------------------------------------------------------------- problems


class ProblemKind(enum.StrEnum):
    SKIPPED = "skipped"
    REPAIRED = "repaired"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """Something in a feed that was skipped or repaired.

    Attributes:
        reason: A gettext msgid (marked with ``N_``) describing what was wrong.
        uid: UID of the event concerned, or ``""`` for the feed as a whole.
        line: Line number in the feed (after decoding), where known.
        kind: ``skipped`` (the item is not imported), ``repaired`` (imported with a fix)
            or ``note`` (about the feed as a whole).
        params: Values for the placeholders in ``reason``.
    """

    reason: str
    uid: str = ""
    line: int | None = None
    kind: ProblemKind = ProblemKind.SKIPPED
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, _: Translator) -> str:
        """One line in the reader's language."""
        reason = _(self.reason, **self.params)
        if self.uid:
            if self.kind == ProblemKind.SKIPPED:
                return _("Skipped {uid}: {reason}", uid=self.uid, reason=reason)
            return _("Imported {uid} with a fix: {reason}", uid=self.uid, reason=reason)
        if self.line is not None and self.kind == ProblemKind.SKIPPED:
            return _("Skipped the item at line {line}: {reason}", line=self.line, reason=reason)
        return _("Note: {reason}", reason=reason)

    def __str__(self) -> str:
        return self.render(translator("en"))


# Reasons, marked for extraction.
NO_START = N_("it has no start time (DTSTART)")
TWO_STARTS = N_("it has more than one start time (DTSTART)")
TWO_VALUES = N_("it has more than one {prop}")
BAD_VALUE = N_("its {prop} value “{value}” cannot be read")
BAD_RULE = N_("its repeat rule “{rule}” cannot be read")
BAD_DATES = N_("its dates cannot be worked out")
UNREADABLE = N_("it cannot be read")
NOT_AN_EVENT = N_("it is a {kind}, not an event")
NO_VERSION = N_("the feed does not say which iCalendar version it is; it was read as 2.0")
GUESSED_ZONE = N_("the time zone “{tzid}” is not defined in the feed; it was read as {zone}")
UNKNOWN_ZONE = N_("the time zone “{tzid}” is unknown; its times were read in {zone}")
OFFSET_ZONE = N_("the time zone “{tzid}” is not known by name; it was read as the fixed offset {zone}")
UNTIL_MISMATCH = N_("its repeat rule ends on “{until}”, which does not match the type of its start; it was read as {fixed}")
DROPPED_PROPERTY = N_("its {prop} value “{value}” cannot be read and was ignored")
NOT_UTF8 = N_("the feed is not UTF-8; it was read as {encoding}")
DAMAGED_UTF8 = N_("the feed has {count} damaged UTF-8 characters; they were replaced with �")
BROKEN_VTIMEZONE = N_("the time-zone definition “{tzid}” is broken; the standard zone of that name was used")
OLD_VERSION = N_("the feed says it is version {version}, not iCalendar 2.0; it was read as 2.0")
UNKNOWN_CALENDAR_ZONE = N_("the calendar's time zone “{tzid}” is unknown; floating times were read in {zone}")


# --------------------------------------------------------------------------- results


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


@dataclass(slots=True)
class Expansion:
    """Occurrences of a window, ordered by start, and the series that could not be expanded."""

    occurrences: list[Occurrence]
    problems: list[FeedProblem]


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


# --------------------------------------------------------------------------- splitting


@dataclass(slots=True)
class _Line:
    number: int
    text: str
    name: str = ""
    _parts: tuple[str, list[tuple[str, str]], str] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            self.name = _property_name(self.text)

    @property
    def parts(self) -> tuple[str, list[tuple[str, str]], str]:
        """Name, parameters and value, split once."""
        if self._parts is None:
            self._parts = _split_line(self.text)
        return self._parts


@dataclass(slots=True)
class _Component:
    kind: str
    lines: list[_Line]
    calendar_props: dict[str, str]
    index: dict[str, list[_Line]] | None = None

    @property
    def number(self) -> int:
        return self.lines[0].number

    def top_level(self) -> Iterable[_Line]:
        """Lines of this component itself, not of nested ones (VALARM)."""
        depth = 0
        for line in self.lines[1:-1]:
            name = line.name
            if name == "BEGIN":
                depth += 1
            elif name == "END":
                depth -= 1
            elif depth == 0:
                yield line

    def values(self, prop: str) -> list[str]:
        return [line.parts[2] for line in self.lines_named(prop)]

    def lines_named(self, prop: str) -> list[_Line]:
        if self.index is None:
            self.index = {}
            for line in self.top_level():
                self.index.setdefault(line.name, []).append(line)
        return self.index.get(prop, [])

    def text(self) -> str:
        return "\r\n".join(line.text for line in self.lines)


_NAME_END = re.compile(r"[;:]")


def _property_name(text: str) -> str:
    colon, semi = text.find(":"), text.find(";")
    end = colon if semi < 0 else semi if colon < 0 else min(colon, semi)
    return (text if end < 0 else text[:end]).strip().upper()


def _split_line(text: str) -> tuple[str, list[tuple[str, str]], str]:
    """Split a content line into name, parameters and value, honouring quoted parameters."""
    if '"' not in text:
        head, colon, value = text.partition(":")
        if not colon:
            return _property_name(text), [], ""
        name, *raw_params = head.split(";")
        plain: list[tuple[str, str]] = []
        for raw in raw_params:
            key, sep, param = raw.partition("=")
            if not sep:
                break
            plain.append((key.strip().upper(), param))
        return name.strip().upper(), plain, value
    match = _NAME_END.search(text)
    if match is None:
        return text.strip().upper(), [], ""
    name = text[: match.start()].strip().upper()
    params: list[tuple[str, str]] = []
    i = match.start()
    while i < len(text) and text[i] == ";":
        j = i + 1
        eq = text.find("=", j)
        if eq < 0:
            break
        key = text[j:eq].strip().upper()
        k = eq + 1
        value_chars: list[str] = []
        while k < len(text) and text[k] not in ";:":
            if text[k] == '"':
                close = text.find('"', k + 1)
                close = len(text) if close < 0 else close
                value_chars.append(text[k + 1: close])
                k = close + 1
            else:
                value_chars.append(text[k])
                k += 1
        params.append((key, "".join(value_chars)))
        i = k
    value = text[i + 1:] if i < len(text) and text[i] == ":" else ""
    return name, params, value


def _join_line(name: str, params: list[tuple[str, str]], value: str) -> str:
    parts = [name]
    for key, param in params:
        quoted = any(ch in param for ch in ';:,') or param != param.strip()
        parts.append(f'{key}="{param}"' if quoted else f"{key}={param}")
    return ";".join(parts) + ":" + value


@dataclass(slots=True)
class _Split:
    calendars: list[dict[str, str]]
    components: list[_Component]


def _unfold(text: str) -> list[_Line]:
    lines: list[_Line] = []
    for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1].text += raw[1:]
        elif raw.strip():
            lines.append(_Line(number, raw))
    return lines


def _split(text: str) -> _Split:
    lines = _unfold(text)
    if not lines:
        raise FeedError(N_("The feed is empty."))
    first = lines[0].text.strip().upper()
    if first.startswith("<"):
        raise FeedError(N_("This is a web page, not an iCalendar feed (perhaps a login page)."))
    if first != "BEGIN:VCALENDAR":
        raise FeedError(N_("This is not an iCalendar feed: it does not start with BEGIN:VCALENDAR."))

    calendars: list[dict[str, str]] = []
    components: list[_Component] = []
    props: dict[str, str] | None = None
    stack: list[str] = []
    current: list[_Line] = []
    for line in lines:
        name = line.name
        value = line.text.partition(":")[2].strip().upper()
        if props is None:
            if name == "BEGIN" and value == "VCALENDAR":
                props = {}
                calendars.append(props)
            continue  # text between calendars is ignored, like blank lines
        if name == "BEGIN":
            stack.append(value)
            current.append(line)
        elif name == "END":
            if not stack:
                if value != "VCALENDAR":
                    raise FeedError(N_("The feed is damaged: END:{kind} at line {line} closes nothing."),
                                    kind=value, line=line.number)
                props = None
                continue
            if stack[-1] != value:
                raise FeedError(N_("The feed is damaged: END:{kind} at line {line} does not match BEGIN:{open}."),
                                kind=value, line=line.number, open=stack[-1])
            stack.pop()
            current.append(line)
            if not stack:
                components.append(_Component(current[0].text.partition(":")[2].strip().upper(), current, props))
                current = []
        elif stack:
            current.append(line)
        else:
            props.setdefault(name, line.text.partition(":")[2].strip())
    if props is not None or stack:
        raise FeedError(N_("The feed is cut off: END:VCALENDAR is missing (it may not have downloaded fully)."))
    return _Split(calendars, components)


# --------------------------------------------------------------------------- time zones


@functools.cache
def _iana_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _fold_name(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", " ", plain.lower()).strip()


# Outlook writes the display name of a Windows zone ("(UTC-05:00) Eastern Time (US & Canada)"),
# which icalendar's Windows table (keyed by zone ids) does not cover. The common ones:
_WINDOWS_DISPLAY_NAMES = {
    "dublin edinburgh lisbon london": "Europe/London",
    "greenwich mean time dublin edinburgh lisbon london": "Europe/London",
    "coordinated universal time": "UTC",
    "amsterdam berlin bern rome stockholm vienna": "Europe/Berlin",
    "belgrade bratislava budapest ljubljana prague": "Europe/Budapest",
    "brussels copenhagen madrid paris": "Europe/Paris",
    "sarajevo skopje warsaw zagreb": "Europe/Warsaw",
    "athens bucharest": "Europe/Bucharest",
    "athens bucharest istanbul": "Europe/Istanbul",
    "helsinki kyiv riga sofia tallinn vilnius": "Europe/Helsinki",
    "helsinki kiev riga sofia tallinn vilnius": "Europe/Helsinki",
    "jerusalem": "Asia/Jerusalem",
    "moscow st petersburg": "Europe/Moscow",
    "moscow st petersburg volgograd": "Europe/Moscow",
    "abu dhabi muscat": "Asia/Dubai",
    "chennai kolkata mumbai new delhi": "Asia/Kolkata",
    "beijing chongqing hong kong urumqi": "Asia/Shanghai",
    "kuala lumpur singapore": "Asia/Singapore",
    "osaka sapporo tokyo": "Asia/Tokyo",
    "seoul": "Asia/Seoul",
    "canberra melbourne sydney": "Australia/Sydney",
    "brisbane": "Australia/Brisbane",
    "adelaide": "Australia/Adelaide",
    "darwin": "Australia/Darwin",
    "perth": "Australia/Perth",
    "hobart": "Australia/Hobart",
    "auckland wellington": "Pacific/Auckland",
    "eastern time us canada": "America/New_York",
    "central time us canada": "America/Chicago",
    "mountain time us canada": "America/Denver",
    "pacific time us canada": "America/Los_Angeles",
    "pacific time us canada tijuana": "America/Los_Angeles",
    "arizona": "America/Phoenix",
    "alaska": "America/Anchorage",
    "hawaii": "Pacific/Honolulu",
    "atlantic time canada": "America/Halifax",
    "newfoundland": "America/St_Johns",
    "saskatchewan": "America/Regina",
    "indiana east": "America/Indiana/Indianapolis",
    "bogota lima quito": "America/Bogota",
    "bogota lima quito rio branco": "America/Bogota",
    "guadalajara mexico city monterrey": "America/Mexico_City",
    "brasilia": "America/Sao_Paulo",
    "buenos aires": "America/Argentina/Buenos_Aires",
    "city of buenos aires": "America/Argentina/Buenos_Aires",
    "santiago": "America/Santiago",
    "cairo": "Africa/Cairo",
    "harare pretoria": "Africa/Johannesburg",
    "nairobi": "Africa/Nairobi",
    "casablanca": "Africa/Casablanca",
    "west central africa": "Africa/Lagos",
    "amman": "Asia/Amman",
    "baghdad": "Asia/Baghdad",
    "kuwait riyadh": "Asia/Riyadh",
    "tehran": "Asia/Tehran",
    "islamabad karachi": "Asia/Karachi",
    "kathmandu": "Asia/Kathmandu",
    "dhaka": "Asia/Dhaka",
    "bangkok hanoi jakarta": "Asia/Bangkok",
    "taipei": "Asia/Taipei",
    "reykjavik monrovia": "Atlantic/Reykjavik",
    "monrovia reykjavik": "Atlantic/Reykjavik",
    "azores": "Atlantic/Azores",
    "cape verde is": "Atlantic/Cape_Verde",
}
_FOLDED_WINDOWS_IDS = {_fold_name(key): value for key, value in WINDOWS_TO_OLSON.items()}
_OFFSET_PREFIX = re.compile(r"^\(\s*(?:UTC|GMT)\s*(?:([+-])(\d{1,2}):?(\d{2}))?\s*\)\s*", re.IGNORECASE)


def iana_zone(tzid: str) -> str | None:
    """Map a TZID as written by any calendar tool to an IANA zone name, or None.

    Accepts IANA names, "globally unique" ids (``/freeassociation.sourceforge.net/Europe/Berlin``),
    Windows ids (``GMT Standard Time``) and Outlook display names
    (``(UTC-05:00) Eastern Time (US & Canada)``, ``Canberra, Melbourne, Sydney``).
    """
    name = tzid.strip().strip('"').strip()
    if not name:
        return None
    if name in _iana_names():
        return name
    if name.startswith("/"):
        parts = name.strip("/").split("/")
        for start in range(len(parts)):
            candidate = "/".join(parts[start:])
            if candidate in _iana_names():
                return candidate
    if name in WINDOWS_TO_OLSON:
        return WINDOWS_TO_OLSON[name]
    display = _OFFSET_PREFIX.sub("", name)
    folded = _fold_name(display)
    return _WINDOWS_DISPLAY_NAMES.get(folded) or _FOLDED_WINDOWS_IDS.get(folded)


def _offset_zone(tzid: str) -> str | None:
    """``(UTC-03:00) Somewhere`` -> ``Etc/GMT+3`` when the offset is whole hours."""
    match = _OFFSET_PREFIX.match(tzid.strip().strip('"'))
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    if sign is None or int(hours) == 0:
        return "UTC"
    if minutes != "00" or int(hours) > 12:
        return None
    # Etc/GMT signs are inverted: UTC-03:00 is Etc/GMT+3.
    return f"Etc/GMT{'+' if sign == '-' else '-'}{int(hours)}"


def _vtimezone_usable(component: _Component) -> bool:
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


class _SeriesRejected(Exception):
    def __init__(self, reason: str, **params: Any) -> None:
        self.reason = reason
        self.params = params
        super().__init__(reason)


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
    if default_timezone not in _iana_names():
        default_timezone = "UTC"
    text, encoding, encoding_problem = _decode(data)
    split = _split(text)
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

    vtimezones: dict[str, _Component] = {}
    broken_zones: set[str] = set()
    by_uid: dict[str, list[_Component]] = {}
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
            problems.append(FeedProblem(NOT_AN_EVENT, uid=uid, line=component.number,
                                        params={"kind": component.kind}))
            continue
        if not uid:
            uid = "no-uid-" + _short_hash(*(line.text for line in component.top_level()
                                            if line.name not in {"DTSTAMP", "SEQUENCE", "LAST-MODIFIED"}),
                                          length=12)
        by_uid.setdefault(uid, []).append(component)

    series: list[SeriesRecord] = []
    for uid, components in by_uid.items():
        context = context_of(components[0].calendar_props)
        try:
            record, notes = _build_series(calendar, uid, components, context, vtimezones, broken_zones, known)
        except _SeriesRejected as rejected:
            problems.append(FeedProblem(rejected.reason, uid=uid, line=components[0].number,
                                        params=rejected.params))
            continue
        except Exception:
            # A bug or a library failure on strange input costs this series only.
            log.exception("calendar %s: could not read series %r", calendar, uid)
            problems.append(FeedProblem(UNREADABLE, uid=uid, line=components[0].number))
            continue
        problems.extend(notes)
        series.append(record)

    broken = [p for p in problems if p.kind == ProblemKind.SKIPPED and p.reason != NOT_AN_EVENT]
    if not series and broken:
        first = broken[0]
        raise FeedError(N_("Nothing in this feed could be imported: every event is broken "
                           "(the first, at line {line}, is {uid})."), uid=first.uid, line=first.line)
    calendar_zone = next((c.floating_zone for c in contexts.values()), default_timezone)
    return ParsedFeed(calendar=calendar, series=series, problems=problems, encoding=encoding,
                      name=name, timezone=calendar_zone, content_hash=feed_hash(data))


def _build_series(
    calendar: str,
    uid: str,
    components: list[_Component],
    context: _Context,
    vtimezones: Mapping[str, _Component],
    broken_zones: set[str],
    known: Mapping[str, SeriesRecord] | None,
) -> tuple[SeriesRecord, list[FeedProblem]]:
    notes: list[FeedProblem] = []
    needed_vtimezones: dict[str, _Component] = {}
    event_blocks: list[list[str]] = []
    recurring = False
    series_all_day: bool | None = None
    masters = [c for c in components if not c.values("RECURRENCE-ID")]
    if masters:
        first_start = (masters[0].values("DTSTART") or [""])[0].strip()
        series_all_day = len(first_start) == 8
    title = ((masters or components)[0].values("SUMMARY") or [""])[0]
    for component in components:
        starts = component.lines_named("DTSTART")
        if not starts:
            raise _SeriesRejected(NO_START)
        if len(starts) > 1:
            raise _SeriesRejected(TWO_STARTS)
        for prop in _SINGLE_VALUED:
            if len(component.values(prop)) > 1:
                raise _SeriesRejected(TWO_VALUES, prop=prop)
        start_value = starts[0].parts[2].strip()
        if not start_value:
            raise _SeriesRejected(BAD_VALUE, prop="DTSTART", value=starts[0].text.partition(":")[2])
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
                line = _Line(line.number, _join_line(name, params, value))
            if depth == 1 and name == "RECURRENCE-ID" and series_all_day and len(value.strip()) > 8:
                # Exchange names the changed day of an all-day series by its local
                # midnight; the day is unambiguous, so this is repaired without a note.
                fixed = _recurrence_day(value.strip())
                line = _Line(line.number, f"RECURRENCE-ID;VALUE=DATE:{fixed}")
            if depth == 1 and name == "RRULE":
                _check_rule(value)
                value = _fix_until(uid, value, start_is_date, start_value, params, starts[0], notes)
                line = _Line(line.number, _join_line(name, params, value))
            lines.append(line.text)
            if depth == 1 and name in ("RRULE", "RDATE", "RECURRENCE-ID"):
                recurring = True
        if not component.values("UID") or not component.values("UID")[0].strip():
            lines.insert(1, f"UID:{uid}")
        event_blocks.append(lines)
    # The master first, then overrides by RECURRENCE-ID: a feed that lists them in
    # another order next time has not changed.
    event_blocks.sort(key=_block_order)

    zone = context.floating_zone
    body = _assemble(context, needed_vtimezones, event_blocks)
    previous = known.get(uid) if known else None
    if previous is not None and previous.content_hash == _series_hash(zone, body):
        return previous, notes  # unchanged since the last import: already checked
    if len(event_blocks) == 1 and not recurring and not needed_vtimezones:
        dropped = _check_simple(uid, event_blocks[0])
        if dropped:
            body = _assemble(context, needed_vtimezones, event_blocks)
        if _plain_fields(body, zone) is None:  # pragma: no cover - a plain event stays plain
            raise _SeriesRejected(UNREADABLE)
    else:
        body, dropped = _check_series(uid, body, event_blocks, context, needed_vtimezones)
    notes.extend(dropped)
    record = SeriesRecord(
        calendar=calendar,
        uid=uid,
        series_id=series_id(calendar, uid),
        title=_unescape(title).strip(),
        ical=body,
        timezone=zone,
        recurring=recurring,
        content_hash=_series_hash(zone, body),
    )
    return record, notes


def _series_hash(zone: str, body: str) -> str:
    # Google stamps every download with a fresh DTSTAMP; it says nothing about the
    # sessions, so it must not make every series look changed on every refresh.
    meaningful = "\n".join(line for line in body.split("\r\n") if not line.startswith("DTSTAMP"))
    return hashlib.sha256(f"{zone}\n{meaningful}".encode()).hexdigest()


def _block_order(block: list[str]) -> tuple[bool, str]:
    rid = next((text for text in block if _property_name(text) == "RECURRENCE-ID"), "")
    return bool(rid), rid.partition(":")[2]


def _assemble(context: _Context, vtimezones: Mapping[str, _Component], event_blocks: list[list[str]]) -> str:
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//eventbot//series//EN"]
    if context.x_wr_timezone:
        out.append(f"X-WR-TIMEZONE:{context.x_wr_timezone}")
    for tzid, vtimezone in vtimezones.items():
        out.extend(f"TZID:{tzid}" if line.name == "TZID" else line.text for line in vtimezone.lines)
    for block in event_blocks:
        out.extend(block)
    out.append("END:VCALENDAR")
    return "\r\n".join(out) + "\r\n"


def _rewrite_tzid(
    uid: str,
    params: list[tuple[str, str]],
    context: _Context,
    vtimezones: Mapping[str, _Component],
    broken_zones: set[str],
    needed: dict[str, _Component],
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
            guessed = tzid not in _iana_names() and tzid not in WINDOWS_TO_OLSON
            if guessed and tzid not in vtimezones and tzid not in broken_zones and not any(
                n.reason == GUESSED_ZONE and n.params.get("tzid") == tzid for n in notes
            ):
                notes.append(FeedProblem(GUESSED_ZONE, uid=uid, kind=ProblemKind.REPAIRED,
                                         params={"tzid": tzid, "zone": zone}))
            continue
        if tzid in vtimezones:
            # icalendar caches custom zones by TZID for the whole process, and every
            # Outlook feed has its own "Customized Time Zone": name each definition apart.
            unique = f"{tzid} ~{_short_hash(vtimezones[tzid].text())}"
            needed[unique] = vtimezones[tzid]
            result.append((key, unique))
            continue
        offset = _offset_zone(tzid)
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


def _check_rule(rule: str) -> None:
    """icalendar silently drops parts it does not understand, which would turn a rule such
    as ``FREQ=WEEKLY;UNTL=...`` into one that never ends. Refuse such rules instead."""
    parts: dict[str, str] = {}
    for part in rule.strip().strip(";").split(";"):
        key, eq, value = part.partition("=")
        key = key.strip().upper()
        if not eq or not value.strip() or (key not in _RULE_PARTS and not key.startswith("X-")):
            raise _SeriesRejected(BAD_RULE, rule=rule)
        parts[key] = value.strip().upper()
    if parts.get("FREQ") not in _FREQUENCIES or ("UNTIL" in parts and "COUNT" in parts):
        raise _SeriesRejected(BAD_RULE, rule=rule)


def _recurrence_day(value: str) -> str:
    """The day an all-day instance was on, from a RECURRENCE-ID written with a time."""
    if value.upper().endswith("Z"):
        moment = datetime.strptime(value[:15] + "+0000", "%Y%m%dT%H%M%S%z") + timedelta(hours=12)
        return moment.strftime("%Y%m%d")
    return value[:8]


def _fix_until(
    uid: str, rule: str, start_is_date: bool, start_value: str, params: list[tuple[str, str]],
    start_line: _Line, notes: list[FeedProblem],
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
    start_params = dict(_split_line(start_line.text)[1])
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
    vtimezones: dict[str, _Component],
) -> tuple[str, list[FeedProblem]]:
    """Parse the series as icalendar will later, drop unreadable optional properties, and
    make sure it expands. Raises ``_SeriesRejected`` if it cannot be used."""
    notes: list[FeedProblem] = []
    cal = _load(body)
    for event, block in zip(cal.walk("VEVENT"), event_blocks, strict=False):
        bad: set[str] = set()
        for prop, _message in event.errors:
            prop = (prop or "").upper()
            if prop in _ESSENTIAL_PROPS:
                value = next((_split_line(t)[2] for t in block if _property_name(t) == prop), "")
                raise _SeriesRejected(BAD_VALUE, prop=prop, value=value)
            bad.add(prop)
        for prop in sorted(bad):
            for text in [t for t in block if _property_name(t) == prop]:
                notes.append(FeedProblem(DROPPED_PROPERTY, uid=uid, kind=ProblemKind.REPAIRED,
                                         params={"prop": prop, "value": _split_line(text)[2]}))
                block.remove(text)
    if notes:
        body = _assemble(context, vtimezones, event_blocks)
        cal = _load(body)
    for event in cal.walk("VEVENT"):
        if "DTSTART" not in event:
            raise _SeriesRejected(NO_START)
    try:
        first: Any = cal.walk("VEVENT")[0]["DTSTART"].dt
        probe = first if isinstance(first, datetime) else datetime.combine(first, time())
        if probe.tzinfo is None:
            probe = probe.replace(tzinfo=zoneinfo.ZoneInfo(context.floating_zone))
        list(_query(body, context.floating_zone).between(probe - _PROBE_WINDOW, probe + _PROBE_WINDOW))
    except recurring_ical_events.InvalidCalendar as error:
        rule = next((_split_line(t)[2] for b in event_blocks for t in b if _property_name(t) == "RRULE"), "")
        if rule:
            raise _SeriesRejected(BAD_RULE, rule=rule) from error
        raise _SeriesRejected(BAD_DATES) from error
    except Exception as error:  # the libraries raise many kinds on odd input: all mean "unusable"
        raise _SeriesRejected(BAD_DATES) from error
    return body, notes


@functools.lru_cache(maxsize=4096)
def _load(body: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return icalendar.Calendar.from_ical(body)  # type: ignore[return-value]


@functools.lru_cache(maxsize=4096)
def _query(body: str, floating_zone: str) -> Any:
    cal = _load(body)
    if "X-WR-TIMEZONE" in cal:
        cal = x_wr_timezone.to_standard(cal)
    return recurring_ical_events.of(cal, skip_bad_series=False)


# --------------------------------------------------------------------------- expansion


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
        except (_SeriesRejected, recurring_ical_events.InvalidCalendar, ValueError, TypeError,
                OverflowError, KeyError):
            problems.append(FeedProblem(BAD_DATES, uid=record.uid))
        except Exception:
            log.exception("calendar %s: could not expand series %r", record.calendar, record.uid)
            problems.append(FeedProblem(BAD_DATES, uid=record.uid))
    if progress is not None:
        progress(len(records), len(records))
    ordered = sorted(occurrences.values(), key=lambda o: (o.start, o.end, o.title, o.id))
    return Expansion(ordered, problems)


def _expand_one(record: SeriesRecord, start: datetime, end: datetime) -> Iterable[Occurrence]:
    if not record.recurring:
        fields = _plain_fields(record.ical, record.timezone)
        if fields is not None:
            single = _make_occurrence(record, fields, _zone(record.timezone))
            return [single] if _overlaps(single, start, end) else []
    return _expand_with_icalendar(record, start, end)


def _expand_with_icalendar(record: SeriesRecord, start: datetime, end: datetime) -> Iterable[Occurrence]:
    """Expand with recurring-ical-events, reading each source component's fields once.

    The public ``between()`` copies the whole icalendar component for every occurrence,
    which costs more than everything else in an import. Its ``_occurrences_between``
    gives the same occurrences (start, end, source component) without the copies; if a
    later version drops it, the public road is taken.
    """
    zone = _zone(record.timezone)
    query = _query(record.ical, record.timezone)
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
    zone = _zone(record.timezone)
    query = _query(record.ical, record.timezone)
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


@functools.cache
def _zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


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


def _unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


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
_GEO_VALUE = re.compile(r"^\s*[+-]?\d+(?:\.\d+)?\s*[;,]\s*[+-]?\d+(?:\.\d+)?\s*$")

_Props = dict[str, list[tuple[dict[str, str], str]]]


def _plain_props(lines: Iterable[str]) -> _Props | None:
    """Top-level properties of the one VEVENT in ``lines``, or None if it is not plain."""
    props: _Props = {}
    stack: list[str] = []
    events = 0
    for text in lines:
        if not text:
            continue
        name = _property_name(text)
        if name not in _PLAIN_WANTED:
            continue
        name, params, value = _split_line(text)
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
        if tzid not in _iana_names():
            raise ValueError(tzid)
        return moment.replace(tzinfo=_zone(tzid))
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
    return _unescape(found[1]).strip() if found else ""


def _fields_of_plain(props: _Props, zone: tzinfo) -> _Fields:
    """Raises ``_SeriesRejected`` for a missing or unreadable start, end or duration."""
    start_prop = _first(props, "DTSTART")
    if start_prop is None:
        raise _SeriesRejected(NO_START)
    try:
        raw_start = _parse_date_value(start_prop[1], start_prop[0], zone)
    except ValueError:
        raise _SeriesRejected(BAD_VALUE, prop="DTSTART", value=start_prop[1]) from None
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
        raise _SeriesRejected(BAD_VALUE, prop=prop, value=value) from None
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
def _plain_fields(body: str, zone_name: str) -> _Fields | None:
    """The fields of a plain single event (None if the body is not one), read once per
    body: the check during parsing and the expansion right after share it.

    Raises:
        _SeriesRejected: Its start, end or duration cannot be read.
    """
    props = _plain_props(body.split("\r\n"))
    return None if props is None else _fields_of_plain(props, _zone(zone_name))


def _check_simple(uid: str, block: list[str]) -> list[FeedProblem]:
    """Drop an unreadable GEO from a plain single event, as icalendar would report it."""
    if not any(text[:3].upper() == "GEO" for text in block):
        return []
    props = _plain_props(block) or {}
    notes: list[FeedProblem] = []
    for params, value in props.get("GEO", []):
        del params
        if not _GEO_VALUE.match(value):
            notes.append(FeedProblem(DROPPED_PROPERTY, uid=uid, kind=ProblemKind.REPAIRED,
                                     params={"prop": "GEO", "value": value}))
            for text in [t for t in block if _property_name(t) == "GEO" and _split_line(t)[2] == value]:
                block.remove(text)
    return notes


__all__ = [
    "Expansion",
    "FeedProblem",
    "ParsedFeed",
    "expand",
    "feed_hash",
    "iana_zone",
    "occurrence_id",
    "parse_feed",
    "recurrence_key",
    "series_id",
]

