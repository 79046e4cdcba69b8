"""Short, stable ids of series and occurrences."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def short_hash(*parts: str, length: int = 8) -> str:
    """Lowercase RFC 4648 base32 of a SHA-256, cut to ``length`` (at most 12) characters."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    bits = int.from_bytes(digest[:8], "big")
    return "".join(_BASE32[(bits >> (59 - 5 * i)) & 31] for i in range(length))


def series_id(calendar: str, uid: str) -> str:
    """Short, stable id of a series: the same calendar and UID always give the same id."""
    return short_hash("series", calendar, uid)


def occurrence_id(calendar: str, uid: str, recurrence_id: str) -> str:
    """Short, stable id of one occurrence (``recurrence_id`` is ``""`` for single events)."""
    return short_hash("occurrence", calendar, uid, recurrence_id)


def recurrence_key(original_start: date | datetime) -> str:
    """The ``Occurrence.recurrence_id`` form of an instance's original start: the UTC
    instant (``2025-03-17T09:30:00Z``) or, for all-day events, the date (``2025-03-17``)."""
    if isinstance(original_start, datetime):
        if original_start.tzinfo is None:
            raise ValueError("recurrence_key needs an aware datetime")
        return original_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return original_start.isoformat()
