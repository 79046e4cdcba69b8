"""Every interface the core depends on, in one place.

Adapters implement ``ChatAdapter`` (plus whichever capability protocols they support); the
store implements ``Store`` and its repositories; time comes from a ``Clock``. The core
never imports an adapter or a platform SDK, only these protocols.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.models import (
    Delivered,
    FacilitatorGrant,
    Incoming,
    Occurrence,
    Outgoing,
    Subscription,
    UserSettings,
)


class Clock(Protocol):
    """Source of the current time. Always aware UTC."""

    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        ...


class Capability(enum.StrEnum):
    """Optional things an adapter can do. The core always sends complete text, and adds the
    richer form only where the adapter declares the capability."""

    BUTTONS = "buttons"
    NATIVE_POLLS = "native_polls"
    DIRECT_MESSAGES = "direct_messages"
    FILES = "files"
    IMAGES = "images"
    EDIT = "edit"


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Delivery limits an adapter declares, which the dispatcher must never exceed.

    Attributes:
        global_per_second: Messages per second over the whole bot; None means unlimited.
        per_chat_per_second: Messages per second into one chat (private or group).
        per_group_per_minute: Messages per minute into one group chat.
    """

    global_per_second: float | None = None
    per_chat_per_second: float | None = None
    per_group_per_minute: float | None = None


MessageHandler = Callable[[Incoming], Awaitable[None]]


@runtime_checkable
class ChatAdapter(Protocol):
    """A chat platform.

    Adapters translate platform payloads into ``bot.models`` and back, and platform failures
    into ``RateLimited``, ``RecipientUnreachable`` or ``DeliveryFailed``. They never own the
    event loop: ``start`` returns once the adapter is receiving, and ``stop`` undoes it.
    """

    name: str
    capabilities: frozenset[Capability]
    limits: RateLimits

    async def start(self, on_message: MessageHandler) -> None:
        """Begin receiving; every message or button press is passed to ``on_message``."""
        ...

    async def stop(self) -> None:
        """Stop receiving and release platform resources."""
        ...

    async def send(self, message: Outgoing) -> Delivered:
        """Deliver one message.

        Raises:
            RateLimited: The platform asked to wait; nothing was delivered.
            RecipientUnreachable: The person blocked the bot or never opened a DM.
            DeliveryFailed: Anything else; ``transient`` says whether to retry.
        """
        ...


@runtime_checkable
class SupportsNativePolls(Protocol):
    """Adapters that can close a native poll they created for ``Outgoing.poll``."""

    async def close_native_poll(self, chat_id: str, message_id: str) -> None:
        """Stop the native poll so that no more answers are accepted."""
        ...


Completer = Callable[[str, str, str], Awaitable[list[tuple[str, str]]]]
"""``complete(kind, typed_prefix, user_id)`` -> up to 25 ``(label, value)`` suggestions for a
parameter of that kind (``event``, ``timezone``, ``language``)."""


@dataclass(frozen=True, slots=True)
class CommandMenu:
    """What an adapter needs to publish the bot's commands natively.

    Attributes:
        commands: The router's ``CommandSpec``s, in order (name, summary msgid, params, flags).
        languages: Language codes with a catalog (``en``, ``cy``).
        translate: ``translate(msgid, language)`` -> text.
        complete: Suggestions for parameters, for platforms with autocomplete.
    """

    commands: Sequence[Any]
    languages: Sequence[str]
    translate: Callable[[str, str], str]
    complete: Completer


@runtime_checkable
class SupportsCommandMenu(Protocol):
    """Adapters that publish the command list to the platform (Telegram's menu, Discord's
    slash commands). The app calls this once, after ``start``."""

    async def publish_commands(self, menu: CommandMenu) -> None:
        """Register the commands with the platform, localised where it can be."""
        ...


@runtime_checkable
class SupportsEventMirror(Protocol):
    """Adapters that show the programme natively (Discord's Scheduled Events)."""

    async def mirror_occurrences(self, occurrences: Sequence[Occurrence], now: datetime) -> None:
        """Make the platform's copy show exactly these sessions.

        Args:
            occurrences: Sessions on now or coming up, soonest first, cancelled ones left out;
                no more than the platform allows.
            now: The core's current time, to tell sessions that have started.

        Create what is missing, update what changed, and remove what the adapter itself
        mirrored earlier that is no longer listed (cancelled, ended or deleted from the feed).
        """
        ...


@runtime_checkable
class Finished(Protocol):
    """Adapters (the console) that can end the run by themselves, e.g. at end of input."""

    async def wait_finished(self) -> None:
        """Return once the adapter has no more input to give."""
        ...


# --------------------------------------------------------------------------- store


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

    async def save_calendar(self, info: CalendarInfo) -> None:
        """Create or update a calendar's row (source, zone, sync state)."""
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
    ) -> None:
        """Apply one refresh atomically: either all of it is stored or none of it."""
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
        """Return ids of people last seen under this display name (case-insensitive)."""
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

    async def grant_facilitator(self, grant: FacilitatorGrant) -> bool:
        """Store a facilitator grant; return False if it already existed."""
        ...

    async def revoke_facilitator(self, user_id: str, event: str = "") -> bool:
        """Remove a grant; return False if there was none."""
        ...

    async def facilitator_grants(self, user_id: str | None = None) -> list[FacilitatorGrant]:
        """Return grants, of one person or of everyone."""
        ...


class Store(Protocol):
    """The source of truth. Repositories group the queries by concern; every query the core
    runs is behind one of them, so another backend can replace the SQLite one."""

    @property
    def calendars(self) -> CalendarRepository:
        """Calendars, series and occurrences."""
        ...

    @property
    def people(self) -> PeopleRepository:
        """Settings, subscriptions and facilitator grants."""
        ...

    async def close(self) -> None:
        """Release the connection pool."""
        ...


__all__ = [
    "CalendarInfo",
    "CalendarRepository",
    "Capability",
    "ChatAdapter",
    "Clock",
    "CommandMenu",
    "Completer",
    "Finished",
    "MessageHandler",
    "PeopleRepository",
    "RateLimits",
    "SeriesRecord",
    "Store",
    "SupportsCommandMenu",
    "SupportsEventMirror",
    "SupportsNativePolls",
]
