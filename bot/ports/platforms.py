"""The chat platforms as the core sees them: the adapter protocol and the capabilities an
adapter may add, what it reports, and the clock."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bot.models import (
    Delivered,
    Incoming,
    NativePollAnswers,
    Occurrence,
    Outgoing,
)

if TYPE_CHECKING:
    from bot.ports.store import AdapterStateRepository


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
