"""Calendars and people in the store: calendars, series and occurrences; settings,
subscriptions and facilitator grants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.models import (
    FacilitatorGrant,
    Occurrence,
    Subscription,
    UserSettings,
)
from bot.ports.outbox import PlannedNotice


@dataclass(frozen=True, slots=True)
class CalendarInfo:
    """A named calendar and the state of its last sync."""

    name: str
    source: str = ""
    timezone: str = ""
    etag: str = ""
    last_modified: str = ""
    content_hash: str = ""
    last_sync: datetime | None = None
    last_error: str = ""
    events: int = 0
    occurrences: int = 0
    refresh_minutes: int | None = None
    held: HeldRefresh | None = None


@dataclass(frozen=True, slots=True)
class HeldRefresh:
    """A refresh that was not applied because it would cancel too much of the programme.

    Attributes:
        since: When it was first held.
        cancels: How many upcoming sessions it would cancel.
        upcoming: How many upcoming sessions the calendar had.
        content_hash: Hash of the held feed, so that the same feed is not reported twice.
    """

    since: datetime
    cancels: int
    upcoming: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """One VEVENT series (a UID) kept in source form, so any window can be expanded later.

    Attributes:
        calendar: Calendar name.
        uid: iCal UID.
        series_id: Short stable id of the series.
        title: SUMMARY of the master (or the first instance).
        ical: The VCALENDAR text holding this UID's components (master, overrides and the
            VTIMEZONEs they need), enough to expand any window.
        timezone: The zone used for floating times.
        recurring: True if it has RRULE/RDATE.
        content_hash: Hash of ``ical``; an unchanged hash means nothing to re-expand.
    """

    calendar: str
    uid: str
    series_id: str
    title: str
    ical: str
    timezone: str
    recurring: bool
    content_hash: str


class CalendarRepository(Protocol):
    """Calendars, their series and their materialised occurrences."""

    async def get_calendar(self, name: str) -> CalendarInfo | None:
        """Return the named calendar, or None."""
        ...

    async def list_calendars(self) -> list[CalendarInfo]:
        """Return every calendar with its counts."""
        ...

    async def save_calendar(self, info: CalendarInfo, notices: Sequence[PlannedNotice] = ()) -> None:
        """Create or update a calendar's row (source, zone, sync state), with the notices it
        calls for (a held refresh's, to the organisers) put in the outbox in the same
        transaction."""
        ...

    async def list_series(self, calendar: str) -> list[SeriesRecord]:
        """Return every stored series of a calendar."""
        ...

    async def find_series(self, series_id: str) -> SeriesRecord | None:
        """Return a series by its short id."""
        ...

    async def apply_sync(
        self,
        calendar: str,
        *,
        upsert_series: Sequence[SeriesRecord],
        delete_series: Sequence[str],
        upsert_occurrences: Sequence[Occurrence],
        delete_occurrences: Sequence[str],
        info: CalendarInfo,
        notices: Sequence[PlannedNotice] = (),
    ) -> None:
        """Apply one refresh atomically, with the change notices it calls for put in the
        reminder outbox: either all of it is stored or none of it."""
        ...

    async def remove_calendar(self, name: str) -> bool:
        """Delete a calendar with its series, its occurrences and the subscriptions to any of
        them, in one transaction; return False when there was no such calendar."""
        ...

    async def occurrences_between(
        self, start: datetime, end: datetime, *, calendar: str | None = None,
        include_cancelled: bool = False,
    ) -> list[Occurrence]:
        """Return stored occurrences overlapping ``[start, end)``, ordered by start."""
        ...

    async def occurrences_of_calendar(self, calendar: str) -> list[Occurrence]:
        """Return every stored occurrence of a calendar, cancelled ones included."""
        ...

    async def count_upcoming(self, calendar: str, after: datetime) -> int:
        """Return how many non-cancelled occurrences of a calendar end after ``after``."""
        ...

    async def get_occurrence(self, occurrence_id: str) -> Occurrence | None:
        """Return one occurrence by its short id."""
        ...

    async def occurrences_of_series(self, series_id: str) -> list[Occurrence]:
        """Return the stored occurrences of one series, ordered by start."""
        ...

    async def search_occurrences(self, words: str, after: datetime, limit: int = 20) -> list[Occurrence]:
        """Return non-cancelled occurrences ending after ``after`` whose title holds every word."""
        ...


class PeopleRepository(Protocol):
    """Per-person settings, subscriptions and facilitator grants."""

    async def get_settings(self, user_id: str) -> UserSettings:
        """Return the stored settings (defaults where nothing is stored)."""
        ...

    async def save_settings(self, settings: UserSettings) -> None:
        """Store a person's settings."""
        ...

    async def find_user_by_name(self, name: str, platform: str | None = None) -> list[str]:
        """Return ids of people last seen under this display name (case-insensitive).

        Display names are chosen freely, so this is for listing candidates only, never for
        deciding who someone is.
        """
        ...

    async def find_user_by_username(self, username: str, platform: str | None = None) -> list[str]:
        """Return ids of people last seen holding this unique platform username (case-insensitive)."""
        ...

    async def subscribe(self, subscription: Subscription) -> bool:
        """Store a subscription; return False if it already existed."""
        ...

    async def unsubscribe(self, subscription: Subscription) -> bool:
        """Remove a subscription; return False if there was none."""
        ...

    async def unsubscribe_all(self, user_id: str) -> int:
        """Remove every subscription of a person; return how many there were."""
        ...

    async def subscriptions_of(self, user_id: str) -> list[Subscription]:
        """Return a person's subscriptions."""
        ...

    async def subscribers_of(self, occurrence: Occurrence) -> list[str]:
        """Return ids of everyone whose subscriptions cover this occurrence."""
        ...

    async def all_subscriptions(self) -> list[Subscription]:
        """Return every subscription, for planning reminders in bulk."""
        ...

    async def get_many_settings(self, user_ids: list[str]) -> dict[str, UserSettings]:
        """Return the settings of many people at once (defaults where nothing is stored).
        A linked account gets its person's preferences with its own names (``person`` set)."""
        ...

    async def accounts_of(self, user_id: str) -> tuple[str, ...]:
        """Every account of the person ``user_id`` is one of, the person's own id first (just
        ``(user_id,)`` for an account linked to none)."""
        ...

    async def identity_groups(self, persons: list[str] | None = None) -> dict[str, tuple[str, ...]]:
        """The accounts of each person with linked accounts (of ``persons``, or everyone's),
        the person's own id first; people with no links are left out."""
        ...

    async def grant_facilitator(self, grant: FacilitatorGrant) -> bool:
        """Store a facilitator grant; return False if it already existed."""
        ...

    async def revoke_facilitator(self, user_id: str, event: str = "") -> bool:
        """Remove a grant; return False if there was none."""
        ...

    async def facilitator_grants(self, user_id: str | None = None) -> list[FacilitatorGrant]:
        """Return grants, of one person or of everyone."""
        ...

    async def chat_language(self, chat_id: str) -> str | None:
        """The language a group chat speaks, if someone set one (``/language xx --here``)."""
        ...

    async def set_chat_language(self, chat_id: str, language: str | None, now: int) -> None:
        """Set (or with None, clear) the language of a group chat."""
        ...
