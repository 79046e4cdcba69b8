"""Time zones, durations and local rendering. The core keeps UTC; this is the edge."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.errors import UnknownTimeZone, UsageError
from bot.i18n import N_, Translator

_DURATION = re.compile(r"^([0-9]+)(w|d|h|m|min|mins|s)?$", re.IGNORECASE | re.ASCII)
MAX_DURATION = timedelta(days=366)
"""The longest duration read: far beyond any reminder or poll, far within timedelta and SQL."""
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "min": 60, "mins": 60, "s": 1}


@cache
def zone(name: str) -> ZoneInfo:
    """Return the IANA zone, accepting any capitalisation (``europe/london``).

    Raises:
        UnknownTimeZone: Not an IANA zone name.
    """
    cleaned = name.strip()
    if cleaned.upper() in {"UTC", "Z", "GMT"}:
        return ZoneInfo("UTC")
    try:
        if "/" in cleaned and cleaned not in _zone_names():
            cleaned = _zone_names_lower().get(cleaned.lower(), cleaned)
        if cleaned not in _zone_names():
            raise UnknownTimeZone(name)
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimeZone(name) from exc


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _zone_names_lower() -> dict[str, str]:
    return {n.lower(): n for n in _zone_names()}


def zone_names() -> list[str]:
    """Sorted IANA zone names, for autocomplete."""
    return sorted(n for n in _zone_names() if "/" in n and not n.startswith(("Etc/", "SystemV/")))


def parse_duration(text: str) -> timedelta:
    """``15m``, ``2h``, ``1d``, ``1w``, ``90`` (minutes) -> timedelta, at most ``MAX_DURATION``.

    Raises:
        UsageError: Not a duration (ASCII digits only), or longer than ``MAX_DURATION``.
    """
    match = _DURATION.match(text.strip())
    if not match:
        raise UsageError(N_("“{text}” is not a duration. Use forms like 15m, 2h or 1d."), text=text[:40])
    unit = (match.group(2) or "m").lower()
    # Ten digits are already more than a year in seconds; more would only strain int().
    digits = match.group(1).lstrip("0") or "0"
    seconds = int(digits) * _UNIT_SECONDS[unit] if len(digits) <= 10 else None
    if seconds is None or seconds > MAX_DURATION.total_seconds():
        raise UsageError(N_("“{text}” is longer than I can use: at most a year."), text=text[:40])
    return timedelta(seconds=seconds)


def parse_offsets(words: list[str] | str) -> tuple[timedelta, ...]:
    """Parse reminder offsets (``1d 15m``), sorted longest first, without duplicates.

    Raises:
        UsageError: A word is not a duration, or an offset is zero or longer than 4 weeks.
    """
    if isinstance(words, str):
        words = words.replace(",", " ").split()
    offsets = {parse_duration(w) for w in words}
    if not offsets:
        raise UsageError(N_("Give at least one offset, like 1d 15m."))
    for offset in offsets:
        if offset <= timedelta(0) or offset > timedelta(weeks=4):
            raise UsageError(N_("Reminder offsets must be between 1 minute and 4 weeks."))
    if len(offsets) > 5:
        raise UsageError(N_("At most five reminder offsets, please."))
    return tuple(sorted(offsets, reverse=True))


def format_duration(delta: timedelta, _: Translator) -> str:
    """``1d 2h``, ``15m``: compact, largest units first."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0m"


def humanise_until(delta: timedelta, _: Translator) -> str:
    """"in 17 minutes", "in 2 hours 5 minutes", "in 1 day 3 hours"."""
    minutes = max(0, round(delta.total_seconds() / 60))
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    parts: list[str] = []
    if days:
        parts.append(_.plural("{n} day", "{n} days", days))
    if hours:
        parts.append(_.plural("{n} hour", "{n} hours", hours))
    if mins and not days:
        parts.append(_.plural("{n} minute", "{n} minutes", mins))
    if not parts:
        return _("now")
    return _("in {span}", span=" ".join(parts))


def local(dt: datetime, tz: str | ZoneInfo) -> datetime:
    return dt.astimezone(tz if isinstance(tz, ZoneInfo) else zone(tz))


def format_when(start: datetime, tz: str | ZoneInfo, _: Translator, *, all_day: bool = False,
                start_date: date | None = None) -> str:
    """``Tue 18 Mar 2025, 10:00 GMT`` in the reader's zone; all-day events show the date only."""
    if all_day and start_date is not None:
        return f"{_weekday(start_date, _)} {start_date.day} {_month(start_date, _)} {start_date.year}"
    when = local(start, tz)
    abbrev = when.tzname() or ""
    return (f"{_weekday(when.date(), _)} {when.day} {_month(when.date(), _)} {when.year}, "
            f"{when:%H:%M} {abbrev}").rstrip()


_WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
_MONTHS = (N_("Jan"), N_("Feb"), N_("Mar"), N_("Apr"), N_("May"), N_("Jun"),
           N_("Jul"), N_("Aug"), N_("Sep"), N_("Oct"), N_("Nov"), N_("Dec"))


def _weekday(d: date, _: Translator) -> str:
    return _(_WEEKDAYS[d.weekday()])


def _month(d: date, _: Translator) -> str:
    return _(_MONTHS[d.month - 1])


def parse_date(text: str) -> date:
    """``2025-03-18`` -> date.

    Raises:
        UsageError: Not an ISO date.
    """
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(N_("“{text}” is not a date. Use YYYY-MM-DD."), text=text) from exc


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which a local calendar day starts and ends (DST-aware)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end_day = day + timedelta(days=1)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)
