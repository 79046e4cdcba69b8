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

from bot.identities import Difference
from bot.models import (
    CertificateRecord,
    Checkin,
    Delivered,
    FacilitatorGrant,
    Incoming,
    LiveBinding,
    LiveSession,
    NativePollAnswers,
    Notice,
    Occurrence,
    Outgoing,
    Poll,
    PollTally,
    Question,
    QuestionStatus,
    Reminder,
    ReminderStatus,
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
    REACTIONS = "reactions"
    """Buttons cannot be shown, but a button whose label starts with an emoji is pressed by
    reacting to the message with that emoji (Matrix: 👍 on a question upvotes it)."""


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
    """Adapters that render ``Outgoing.poll`` as the platform's own poll, which then holds
    the votes: the core reconciles its count with the platform's."""

    async def end_poll(self, chat_id: str, message_id: str) -> NativePollAnswers | None:
        """End the native poll so that no more answers are accepted, and return its final
        answers. Ending a poll that has already ended returns its answers too, where the
        platform can still show them, else None.

        Raises:
            RateLimited: The platform asks to wait.
            DeliveryFailed: The platform refused or could not be reached.
        """
        ...

    async def native_poll_answers(self, chat_id: str, message_id: str) -> NativePollAnswers | None:
        """The answers an open native poll holds now, who holds each included; None where the
        platform cannot show them without ending the poll (it then redelivers the answers
        it took while the bot was away).

        Raises:
            DeliveryFailed: The platform refused or could not be reached.
        """
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
class SupportsExclusiveReceiving(Protocol):
    """Adapters whose platform lets one process at a time receive for an account (Telegram's
    ``getUpdates``). After ``start`` such an adapter sends, but receives only once told to.

    The app tells it to while this process holds the scheduler lease, so of several processes
    on one database exactly one receives; a process losing the lease is told to stop before
    another could take it over.
    """

    async def set_receiving(self, on: bool) -> None:
        """Start (``True``) or stop (``False``) receiving; asking for what holds already does
        nothing.

        Raises:
            AdapterUnavailable: Receiving could not start (asked again at the next heartbeat).
        """
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
class SupportsStoredState(Protocol):
    """Adapters that keep state of their own in the store (Matrix: where its sync stopped,
    the direct rooms it made). The composition root hands them the store before ``start``."""

    def use_state(self, state: AdapterStateRepository) -> None:
        """Keep state in ``state``, under this adapter's name."""
        ...


@runtime_checkable
class Finished(Protocol):
    """Adapters (the console) that can end the run by themselves, e.g. at end of input."""

    async def wait_finished(self) -> None:
        """Return once the adapter has no more input to give."""
        ...


@runtime_checkable
class ReportsConnection(Protocol):
    """Adapters that know whether they are connected to their platform right now (a gateway
    that dropped, a polling loop that stopped). An adapter without it counts as connected
    from its ``start`` until its ``stop``."""

    @property
    def connected(self) -> bool:
        """True while the adapter can receive from and send to its platform."""
        ...


@runtime_checkable
class SupportsJoinLink(Protocol):
    """Adapters that can give a public link which opens a chat with the bot about a session
    (the projector page shows it as a QR code)."""

    def join_link(self, occurrence_id: str) -> str | None:
        """A link that opens the bot's chat for this session, or None if there is none."""
        ...


@dataclass(frozen=True, slots=True)
class AdapterHealth:
    """How one adapter is doing, as the messenger has seen it.

    Attributes:
        name: The adapter (its id namespace).
        connected: Started and, where it reports it, connected now.
        last_error: The last failed send (other than a rate limit or an unreachable
            person), or ``""``.
        last_error_at: When it failed.
        rate_limited_last_hour: Sends the platform refused with a rate limit (HTTP 429) in
            the last hour.
    """

    name: str
    connected: bool
    last_error: str = ""
    last_error_at: datetime | None = None
    rate_limited_last_hour: int = 0


class MetricsExposition(Protocol):
    """What ``/metrics`` serves: this app's metrics in the Prometheus text format."""

    def render(self) -> bytes:
        """The exposition text (format 0.0.4), encoded in UTF-8."""
        ...


@dataclass(frozen=True, slots=True)
class VerifiedCertificate:
    """A certificate of attendance the bot issued, as ``/verify/<code>`` confirms it.

    Attributes:
        code: Its verification code.
        name: The person's name as printed.
        title: The session.
        start: When the session started (aware UTC).
        timezone: The session's zone, to show the date in.
        cpd_hours: CPD hours it certifies.
        organiser: Who issued it (the facilitator or the organising team).
    """

    code: str
    name: str
    title: str
    start: datetime
    timezone: str
    cpd_hours: float
    organiser: str


CertificateVerifier = Callable[[str], Awaitable["VerifiedCertificate | None"]]
"""``await verify(code)``: the certificate with that verification code, or None."""


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

    def queue_settings(self, settings: UserSettings) -> Awaitable[None]:
        """Queue a save of a person's settings and return at once: it is ordered before any
        save queued after it (so a later save of the same person wins). Await the result
        to know it is stored."""
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


ReminderKey = tuple[str, str, int]
"""``(user_id, occurrence_id, offset_seconds)``: what makes a reminder unique."""


@dataclass(frozen=True, slots=True)
class PlannedReminder:
    """A reminder the planner wants in the outbox (times in UTC epoch seconds)."""

    user_id: str
    occurrence_id: str
    offset_s: int
    platform: str
    start_ts: int
    due_ts: int
    ready_ts: int | None = None
    """When it may first be sent, if before ``due_ts`` (one of many into one group)."""


@dataclass(frozen=True, slots=True)
class PlannedNotice:
    """A programme-change notice to put in the outbox for one person (times in UTC epoch
    seconds).

    Attributes:
        user_id: Whom it tells.
        notice: What it tells; its first item's session is the row's occurrence.
        ready_ts: When it was planned (the refresh's time), and may be sent.
        until_ts: When the sessions it tells of are over: it expires unsent after that.
    """

    user_id: str
    notice: Notice
    ready_ts: int
    until_ts: int


@dataclass(frozen=True, slots=True)
class ReminderOutcome:
    """What became of one claimed reminder.

    Attributes:
        id: Row id.
        status: sent, failed, expired, or pending again (to be retried at ``ready_ts``).
        attempts: Failed attempts so far.
        ready_ts: When it may be tried again (for pending).
        last_error: Why it failed, if it did.
        sent_ts: When it was delivered, if it was.
    """

    id: int
    status: ReminderStatus
    attempts: int
    ready_ts: int
    last_error: str = ""
    sent_ts: int | None = None


@dataclass(frozen=True, slots=True)
class ReminderSummary:
    """Outcomes over a period, for the organisers' digest."""

    sent: int
    failed: int
    expired: int
    failures: tuple[Reminder, ...] = ()
    unreachable: tuple[tuple[str, str], ...] = ()
    """(person, reason) for everyone newly found unreachable privately in the period."""


class ReminderRepository(Protocol):
    """The reminder outbox. Times are UTC epoch seconds."""

    async def planned(self, *, after: int, user_ids: Sequence[str] | None = None,
                      occurrence_ids: Sequence[str] | None = None,
                      ) -> dict[ReminderKey, tuple[int, str, int, int]]:
        """Return ``key -> (id, status, start_ts, due_ts)`` of reminders for sessions starting
        after ``after``, of these people or these occurrences (or all)."""
        ...

    async def apply_plan(self, *, now: int, inserts: Sequence[PlannedReminder],
                         updates: Sequence[tuple[int, int, int, int]], deletes: Sequence[int]) -> None:
        """In one transaction: insert new reminders, move pending ones (``(id, start_ts,
        due_ts, ready_ts)``), and delete pending ones no longer wanted. Rows no longer pending
        are kept."""
        ...

    async def delete_orphans(self, now: int) -> int:
        """Delete pending reminders of future sessions that are gone or cancelled."""
        ...

    async def ready_counts(self, until: int, *, platform: str | None = None,
                           limit: int | None = None) -> list[tuple[str, int, int]]:
        """``(platform, ready_ts, count)`` of pending reminders ready by ``until`` (of one
        platform), by time; counting only the first ``limit`` of them in that order."""
        ...

    async def count_ready(self, until: int) -> int:
        """How many pending reminders are ready by ``until``."""
        ...

    async def next_ready(self) -> int | None:
        """The earliest ``ready_ts`` of a pending reminder."""
        ...

    async def next_reclaim(self, *, lease: int, stale_after: int, keep: int | None = None) -> int | None:
        """The earliest instant a claim can go back to pending: its lease run out, or its
        worker silent for ``stale_after`` seconds (now, for a claim whose worker is gone).
        Claims of the worker ``keep`` (the caller's own) are judged by their lease only."""
        ...

    async def release_stale(self, older_than: int, now: int, *, silent_since: int | None = None,
                            keep: int | None = None) -> int:
        """Return to pending the claims taken before ``older_than`` (an expired lease), and,
        given ``silent_since``, those of every worker other than ``keep`` whose heartbeat is
        older than that or whose row is gone (a crashed process's); return how many."""
        ...

    async def expire_started(self, now: int) -> int:
        """Mark pending reminders of sessions that already started as expired."""
        ...

    async def claim(self, token: str, now: int, horizons: dict[str, int], limit: int, *,
                    worker: int | None = None) -> list[Reminder]:
        """Atomically claim up to ``limit`` pending reminders, of each platform those ready by
        its horizon, earliest first, for ``worker`` (``WorkerRepository``); return them."""
        ...

    async def renew(self, token: str, now: int) -> None:
        """Extend the lease of a claim still being worked on."""
        ...

    async def record(self, token: str, now: int, outcomes: Sequence[ReminderOutcome]) -> int:
        """Store the outcomes of claimed reminders and release them; return rows updated."""
        ...

    async def fail_pending_of(self, user_id: str, reason: str, now: int) -> int:
        """Mark every pending reminder of a person as failed."""
        ...

    async def failed_of(self, user_id: str, *, after: int, error_prefix: str) -> list[Reminder]:
        """A person's failed reminders for sessions starting after ``after`` whose error
        starts with ``error_prefix``."""
        ...

    async def requeue(self, ready: Sequence[tuple[int, int]], now: int) -> int:
        """Make failed reminders (``(id, ready_ts)``) pending again, as if never tried;
        return how many were."""
        ...

    async def mark_unreachable(self, user_id: str, reason: str, now: int) -> bool:
        """Remember that a person cannot be reached privately; False if already known."""
        ...

    async def take_notice(self, user_id: str) -> bool:
        """True exactly once per unreachable person: the caller tells them."""
        ...

    async def clear_unreachable(self, user_id: str) -> bool:
        """Forget that a person was unreachable."""
        ...

    async def unreachable(self, user_ids: Sequence[str] | None = None) -> set[str]:
        """Return which of these people (or everyone) are marked unreachable."""
        ...

    async def counts(self) -> dict[str, int]:
        """Reminders by status."""
        ...

    async def find(self, status: ReminderStatus | None = None, limit: int = 50) -> list[Reminder]:
        """Reminders with a status (pending by readiness, others most recent first)."""
        ...

    async def summary_since(self, since: int, failures: int = 10) -> ReminderSummary:
        """Outcomes recorded since ``since``, the latest failures, and who became unreachable."""
        ...

    async def get_meta(self, key: str) -> str | None:
        """A small piece of dispatcher state (fan-out progress, last digest)."""
        ...

    async def set_meta(self, key: str, value: str) -> None:
        """Store a small piece of dispatcher state."""
        ...

    async def claim_meta(self, key: str, value: str) -> bool:
        """Set ``key`` to ``value`` unless it holds it already; True for the one caller, in
        any process, whose call changed it (a claim, such as today's digest)."""
        ...

@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A process working on the database (times in UTC epoch seconds).

    Attributes:
        id: Row id; claims name their worker by it.
        host: The machine's host name.
        pid: Its process id there.
        process_start: What tells it from a later process with the same pid (empty if unknown).
        started_ts: When it registered.
        heartbeat_ts: When it last said it was alive.
    """

    id: int
    host: str
    pid: int
    process_start: str
    started_ts: int
    heartbeat_ts: int


class WorkerRepository(Protocol):
    """The processes working on the database, each with a heartbeat."""

    async def register(self, host: str, pid: int, process_start: str, now: int) -> int:
        """Add a worker (heartbeat ``now``); return its id."""
        ...

    async def beat(self, worker_id: int, now: int) -> bool:
        """Record a heartbeat; False if the worker's row is gone (it was taken for dead)."""
        ...

    async def workers(self) -> list[WorkerInfo]:
        """Every registered worker, oldest first."""
        ...

    async def forget(self, worker_ids: Sequence[int]) -> int:
        """Remove workers (stopped, or known dead); their claims are then orphaned."""
        ...

    async def hold_lease(self, name: str, worker_id: int, now: int, ttl: int) -> bool:
        """Take or keep the lease ``name`` until ``now + ttl``: True when ``worker_id`` holds it
        now (it held it, or the holder's time ran out or its worker is gone)."""
        ...

    async def release_lease(self, name: str, worker_id: int) -> None:
        """Give the lease up at once, if ``worker_id`` holds it."""
        ...

    async def lease_holder(self, name: str) -> int | None:
        """The worker holding the lease ``name`` (perhaps past its time), if any."""
        ...


class LiveRepository(Protocol):
    """Live sessions: chat bindings, polls and votes, questions and upvotes, check-ins.

    Votes of anonymous polls, upvotes and anonymous askers are stored under keyed hashes
    only; no method returns who voted what in an anonymous poll.
    """

    async def bind_chat(self, chat_id: str, occurrence_id: str, bound_by: str, now: datetime) -> None:
        """Bind a chat to a session, ending its previous binding."""
        ...

    async def binding_for(self, chat_id: str) -> LiveBinding | None:
        """Return the chat's current binding, or None."""
        ...

    async def end_binding(self, chat_id: str, now: datetime) -> bool:
        """End the chat's current binding; return False if it had none."""
        ...

    async def bindings_on(self, platform: str) -> list[LiveBinding]:
        """Current bindings of every chat of a platform."""
        ...

    async def chats_bound_to(self, occurrence_id: str) -> list[str]:
        """Chats currently bound to a session."""
        ...

    async def was_bound(self, chat_id: str, occurrence_id: str) -> bool:
        """Whether the chat was ever bound to the session (auto-binding binds once)."""
        ...

    async def get_session(self, occurrence_id: str) -> LiveSession:
        """Return the session's live settings (defaults if none are stored)."""
        ...

    async def set_focus(self, occurrence_id: str, number: int | None) -> None:
        """Point the projector at question ``number`` (None: at the most upvoted open one).
        Written alone, so it never undoes a concurrent change to the session's other settings."""
        ...

    async def update_session(self, session: LiveSession) -> None:
        """Store the session's live settings. With ``qa_open`` False this closes the Q&A
        round as ``close_qa`` does, in the same transaction."""
        ...

    async def close_qa(self, occurrence_id: str) -> None:
        """Close the session's Q&A and, in the same transaction, erase its salt and replace
        every asker and upvoter key with a random token: nothing links them to anyone after."""
        ...

    async def sessions_holding_secrets(self) -> list[str]:
        """Occurrence ids whose Q&A salt is still stored (Q&A open, or not closed yet)."""
        ...

    async def erase_leftover_secrets(self) -> int:
        """Erase the salts and keys of polls and Q&A rounds already closed; return how many."""
        ...

    async def create_poll(self, poll: Poll) -> Poll:
        """Store a new poll (its ``id`` is ignored) and return it with its id."""
        ...

    async def set_poll_delivery(self, poll_id: int, message_id: str | None, poll_ref: str | None) -> None:
        """Remember the message (and native poll) that carries a poll."""
        ...

    async def get_poll(self, poll_id: int, *, fresh: bool = False) -> Poll | None:
        """Return a poll by id; ``fresh`` reads the store, never a copy cached while it
        was open (which may miss another process's close or delivery)."""
        ...

    async def poll_by_ref(self, poll_ref: str) -> Poll | None:
        """Return the poll rendered as the given native poll."""
        ...

    async def latest_poll(self, chat_id: str, *, open_only: bool = False) -> Poll | None:
        """Return the newest (open) poll of a chat."""
        ...

    async def latest_open_poll_on(self, platform: str) -> Poll | None:
        """Return the newest open poll in any chat of a platform (for votes sent privately)."""
        ...

    async def polls_of(self, occurrence_id: str | None = None, *, open_only: bool = False,
                       timed_only: bool = False) -> list[Poll]:
        """Return polls, of one session or of all, oldest first."""
        ...

    async def close_poll(self, poll_id: int, now: datetime, *, final: NativePollAnswers | None = None) -> bool:
        """Close a poll and erase its salt; return False if it was already closed.

        Args:
            final: The answers of its native poll, ended on the platform just before: they
                replace the votes stored (who voted what, where the platform tells; else
                only the counts, which the tally then reports).
        """
        ...

    async def recount(self, poll_id: int, answers: NativePollAnswers) -> bool:
        """Make an open native poll's stored votes those the platform holds (who holds each
        option must be given); return False if the poll is closed."""
        ...

    async def set_votes(self, poll: Poll, user_id: str, options: Sequence[int]) -> bool:
        """Replace a person's choice (0-based options; empty retracts). False if closed."""
        ...

    async def toggle_vote(self, poll: Poll, user_id: str, option: int) -> bool | None:
        """Flip one option of a multi-choice vote; return whether it is now chosen, None if closed."""
        ...

    async def choices_of(self, poll: Poll, user_id: str) -> list[int]:
        """A person's current choices (empty once an anonymous poll has closed)."""
        ...

    async def tally(self, poll: Poll) -> PollTally:
        """Count the votes."""
        ...

    async def voters_by_option(self, poll: Poll) -> list[list[str]]:
        """Voter ids per option of a NON-anonymous poll.

        Raises:
            PermissionError: The poll is anonymous.
        """
        ...

    async def add_question(self, occurrence_id: str, text: str, *, user_id: str, author_name: str | None,
                           anonymous: bool, status: QuestionStatus, now: datetime) -> Question:
        """Store a question under the session's next number (allocated atomically)."""
        ...

    async def questions_of(self, occurrence_id: str) -> list[Question]:
        """Every question of a session, by number, with upvote counts."""
        ...

    async def sessions_with_questions(self) -> list[str]:
        """Ids of every session that has questions."""
        ...

    async def get_question(self, occurrence_id: str, number: int) -> Question | None:
        """Return a question by its number in the session."""
        ...

    async def question_by_id(self, question_id: int) -> Question | None:
        """Return a question by store id (button actions)."""
        ...

    async def is_author(self, question: Question, user_id: str) -> bool:
        """Whether the person asked it (works for anonymous questions, revealing nothing)."""
        ...

    async def in_closed_round(self, question: Question) -> bool:
        """Whether Q&A has closed since it was asked: its upvotes are then final."""
        ...

    async def set_question_status(self, question_id: int, status: QuestionStatus) -> None:
        """Mark a question pending, open, answered or hidden."""
        ...

    async def upvote(self, question: Question, user_id: str) -> bool:
        """Add a person's upvote; return False if they had already upvoted it."""
        ...

    async def check_in(self, checkin: Checkin) -> bool:
        """Record attendance; return False if already checked in."""
        ...

    async def attendance(self, occurrence_id: str) -> list[Checkin]:
        """Check-ins of one session, earliest first."""
        ...

    async def checkins_of(self, user_id: str) -> list[Checkin]:
        """One person's check-ins, earliest first."""
        ...

    async def attendance_of_calendar(self, calendar: str) -> list[Checkin]:
        """Check-ins of every session of a calendar, by session start."""
        ...


class LinkStatus(enum.StrEnum):
    """What became of ``/link CODE``."""

    LINKED = "linked"
    WRONG = "wrong"
    """No such code, or it expired or was used: counts towards the lock."""
    NOT_FOR_YOU = "not_for_you"
    """From an account on a platform the issuer's person already has: counts towards the lock."""
    OWN_CODE = "own_code"
    LOCKED = "locked"
    ALREADY_LINKED = "already_linked"
    LINKED_ELSEWHERE = "linked_elsewhere"


@dataclass(frozen=True, slots=True)
class LinkResult:
    """The outcome of redeeming a link code.

    Attributes:
        status: What happened.
        person: The person's id (linked, or already linked).
        accounts: The person's accounts afterwards, their own id first.
        differences: Settings both accounts chose differently; the person's (the issuer's
            side) stand until ``choose_settings``.
        locked_until: When /link opens again for this account (epoch seconds), if locked.
        tries_left: Wrong codes left before the lock.
    """

    status: LinkStatus
    person: str = ""
    accounts: tuple[str, ...] = ()
    differences: tuple[Difference, ...] = ()
    locked_until: int | None = None
    tries_left: int = 0


@dataclass(frozen=True, slots=True)
class UnlinkResult:
    """An account split off its person (``/unlink``).

    Attributes:
        account: The account that left; a person of its own again.
        person: The person the other accounts stay (the next one linked, if ``account`` was it).
        others: The accounts that stay together, ``person`` first.
    """

    account: str
    person: str
    others: tuple[str, ...]


class LinkRepository(Protocol):
    """Accounts on several platforms joined into one person, and the codes that join them.

    Everything is decided in the store, in one transaction each, so two processes agree and
    a restart forgets nothing (codes, wrong tries, locks, a question waiting for an answer).
    """

    async def locked_until(self, account: str, now: int) -> int | None:
        """When /link opens again for an account that gave too many wrong codes; None if open."""
        ...

    async def issue_code(self, issuer: str, code_hash: str, expires_ts: int, now: int) -> None:
        """Store the one live code of ``issuer`` (its SHA-256), replacing any earlier one, and
        forget every expired code."""
        ...

    async def redeem(self, account: str, code_hash: str, now: int, *, lock_after: int,
                     lock_seconds: int) -> LinkResult:
        """Join ``account`` to the person of the code's issuer and use the code up; or count a
        wrong code against ``account`` (``lock_after`` in a row lock it for ``lock_seconds``).
        A link merges the settings (``bot.identities.merge_settings``); where they differ, the
        person's stand and a choice is left pending."""
        ...

    async def choose_settings(self, account: str, platform: str) -> tuple[str, ...] | None:
        """Settle a pending choice of ``account``'s person: keep the settings of their account
        on ``platform``. Return the person's accounts, or None if no choice was pending.

        Raises:
            LookupError: None of the person's accounts is on that platform.
        """
        ...

    async def pending_choice(self, account: str) -> str | None:
        """The account whose settings wait to be kept or not, of ``account``'s person."""
        ...

    async def unlink(self, account: str) -> UnlinkResult | None:
        """Split ``account`` off its person; None if it was not linked. Each side keeps the
        subscriptions and check-ins made from it, and the settings as they are now (less a
        delivery into what the other side took away)."""
        ...


class RateBudget(Protocol):
    """The platforms' rate limits shared by every process on the database: per bucket (a
    platform, a chat, a group chat) the instant its next send may go out."""

    async def reserve(self, buckets: Sequence[str],
                      decide: Callable[[dict[str, float | None]], tuple[Any, dict[str, float]]]) -> Any:
        """Hold ``buckets`` (no other process takes from them meanwhile), pass their next-free
        instants (epoch seconds; None for a bucket never used) to ``decide``, store the instants
        it returns, and return its result."""
        ...

    async def reserve_block(self, bucket: str, now: float, span: float) -> float:
        """Take ``span`` seconds of ``bucket`` at once, from its next free instant (or ``now``,
        whichever is later); return the end of what was taken."""
        ...

    async def push_back(self, buckets: Sequence[str], until: float) -> None:
        """No send from ``buckets`` before ``until`` (the platform said wait)."""
        ...


class AdapterStateRepository(Protocol):
    """Small pieces of state an adapter keeps across restarts (a sync position, a login, the
    private rooms it made), by adapter name and key."""

    async def get_state(self, adapter: str, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        ...

    async def set_state(self, adapter: str, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        ...

    async def delete_state(self, adapter: str, key: str) -> bool:
        """Forget ``key``; False if nothing was stored."""
        ...


class CertificateRepository(Protocol):
    """Certificates of attendance issued, under their verification codes."""

    async def issue(self, record: CertificateRecord, user_id: str) -> CertificateRecord:
        """Store what a certificate for ``user_id`` says. The first issue for a person and
        session keeps ``record.code``; a later one keeps the code stored then and updates what
        it says. Return the record as stored (with the code that holds)."""
        ...

    async def by_code(self, code: str) -> CertificateRecord | None:
        """The certificate with this canonical code, or None."""
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

    @property
    def reminders(self) -> ReminderRepository:
        """The reminder outbox."""
        ...

    @property
    def live(self) -> LiveRepository:
        """Live sessions: bindings, polls, questions and check-ins."""
        ...

    @property
    def links(self) -> LinkRepository:
        """Accounts linked across platforms into one person."""
        ...

    @property
    def rate_budget(self) -> RateBudget:
        """The rate limits shared by every process sending through the same accounts."""
        ...

    @property
    def workers(self) -> WorkerRepository:
        """The processes working on the database, and their heartbeats."""
        ...

    @property
    def adapter_state(self) -> AdapterStateRepository:
        """What adapters keep across restarts."""
        ...

    @property
    def certificates(self) -> CertificateRepository:
        """Certificates of attendance issued, by verification code."""
        ...

    async def ping(self) -> None:
        """Run a trivial query; raise if the database does not answer."""
        ...

    async def close(self) -> None:
        """Release the connection pool."""
        ...


__all__ = [
    "AdapterStateRepository",
    "CalendarInfo",
    "CalendarRepository",
    "Capability",
    "CertificateRepository",
    "ChatAdapter",
    "Clock",
    "CommandMenu",
    "Completer",
    "Finished",
    "LinkRepository",
    "LinkResult",
    "LinkStatus",
    "LiveRepository",
    "MessageHandler",
    "PeopleRepository",
    "PlannedReminder",
    "RateBudget",
    "RateLimits",
    "ReminderKey",
    "ReminderOutcome",
    "ReminderRepository",
    "ReminderSummary",
    "ReportsConnection",
    "SeriesRecord",
    "Store",
    "SupportsCommandMenu",
    "SupportsEventMirror",
    "SupportsNativePolls",
    "SupportsStoredState",
    "UnlinkResult",
    "WorkerInfo",
    "WorkerRepository",
]
