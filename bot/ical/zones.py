"""Time-zone names as calendar tools write them, mapped to IANA zones."""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from datetime import UTC, tzinfo

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON


@functools.cache
def iana_names() -> frozenset[str]:
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
    if name in iana_names():
        return name
    if name.startswith("/"):
        parts = name.strip("/").split("/")
        for start in range(len(parts)):
            candidate = "/".join(parts[start:])
            if candidate in iana_names():
                return candidate
    if name in WINDOWS_TO_OLSON:
        return WINDOWS_TO_OLSON[name]
    display = _OFFSET_PREFIX.sub("", name)
    folded = _fold_name(display)
    return _WINDOWS_DISPLAY_NAMES.get(folded) or _FOLDED_WINDOWS_IDS.get(folded)


def offset_zone(tzid: str) -> str | None:
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


@functools.cache
def zone_info(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC
