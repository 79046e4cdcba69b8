"""Platform-neutral data that flows between the core, the store and the adapters.

Every datetime here is timezone-aware UTC; local time appears only when a message is
rendered for one person, in that person's zone. Identities are namespaced strings
(``telegram:12345``, ``discord:9876``, ``console:alice``): the part before the colon names
the adapter that owns them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta


def platform_of(namespaced_id: str) -> str:
    """Return the adapter name of a namespaced id (``"telegram:42"`` -> ``"telegram"``)."""
    return namespaced_id.partition(":")[0]


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person on one platform.

    Attributes:
        id: Namespaced id, e.g. ``telegram:1001``.
        name: Display name or username as the platform gives it, for rendering only.
            Anyone can choose any display name, so it never identifies a person.
        username: A handle the platform keeps unique among its users at any one time
            (Telegram's @username, Discord's new-style username), if the person has one.
    """

    id: str
    name: str | None = None
    username: str | None = None

    @property
    def platform(self) -> str:
        return platform_of(self.id)

    @property
    def display(self) -> str:
        return self.name or self.id.partition(":")[2] or self.id


class ChatKind(enum.StrEnum):
    PRIVATE = "private"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class ChatRef:
    """A conversation: a direct chat with one person or a shared room/channel/group.

    Attributes:
        id: Namespaced chat id, e.g. ``telegram:-100123`` or ``console:room``.
        kind: Whether only the bot and one person see it.
        title: Human name of the room, for rendering only.
    """

    id: str
    kind: ChatKind = ChatKind.GROUP
    title: str | None = None

    @property
    def platform(self) -> str:
        return platform_of(self.id)

    @property
    def is_private(self) -> bool:
        return self.kind is ChatKind.PRIVATE


@dataclass(frozen=True, slots=True)
class Incoming:
    """Something a person did that the bot must answer.

    Either ``text`` (a chat message, possibly a ``/command``) or ``action`` (the short,
    restart-safe id carried by a button the person pressed, e.g. ``poll:42:vote:3``).

    Attributes:
        user: Who did it.
        chat: Where it happened.
        text: The message text; empty for a button press.
        action: Callback data of a pressed button, or None.
        locale: The platform's idea of the user's language (``en-GB``), a hint only.
        message_id: Platform id of the message, if the adapter wants replies threaded.
        mentions: People the message points at by platform identity, not by a name anyone
            could take (a Telegram text mention, a Discord ``<@id>``); ``name`` is the text
            shown for the mention.
        reply_to: The author of the message this one replies to, if any.
    """

    user: UserRef
    chat: ChatRef
    text: str = ""
    action: str | None = None
    locale: str | None = None
    message_id: str | None = None
    mentions: tuple[UserRef, ...] = ()
    reply_to: UserRef | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button. ``action`` is the restart-safe id sent back in ``Incoming.action``;
    it must stay under 64 bytes (Telegram's callback-data limit)."""

    label: str
    action: str


@dataclass(frozen=True, slots=True)
class PollSpec:
    """A poll the core asks an adapter to render natively (``Capability.NATIVE_POLLS``).

    The text fallback is always present in ``Outgoing.text``; adapters without native
    polls, or polls that must stay anonymous to everyone, use buttons instead.
    """

    poll_id: int
    question: str
    options: tuple[str, ...]
    multiple: bool = False
    correct_option: int | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent along with a message (an .ics, a chart image, a certificate)."""

    filename: str
    content: bytes
    mime_type: str


@dataclass(frozen=True, slots=True)
class Mention:
    """A person named in a message's text, whom the platform should notify.

    The text names them in full (``Bryn: …``), so it reads the same where a platform
    cannot notify anyone; adapters that can turn that name into a mention (Discord's
    ``<@id>``, Telegram's ``tg://user?id=`` link) and let it notify that person only.

    Attributes:
        user: Whom to notify.
        start: Where their name begins in ``Outgoing.text`` (in characters).
        length: How long the name is there.
    """

    user: UserRef
    start: int
    length: int

    @classmethod
    def within(cls, text: str, name: str, user: UserRef) -> tuple[str, Mention]:
        """``text`` holds the placeholder ``MENTION`` once: return it with ``name`` in its
        place, and the mention of that name."""
        start = text.index(MENTION)
        return text[:start] + name + text[start + len(MENTION):], cls(user, start, len(name))

    def name_in(self, text: str) -> str:
        return text[self.start:self.start + self.length]


MENTION = "\ufffcname\ufffc"
"""A placeholder for a name to mention, passed as the name to a translated text; the
translation moves it where the language puts the name (``Mention.within``)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message the core wants delivered.

    Exactly one of ``chat`` and ``user`` is the destination: ``chat`` posts into a room,
    ``user`` sends privately to one person (a DM where the platform has them).

    Attributes:
        text: Plain text; adapters escape it for their markup. Always complete on its own,
            so an adapter lacking every optional capability still delivers the meaning.
        chat: Room destination.
        user: Private destination.
        buttons: Rows of inline buttons, rendered where ``Capability.BUTTONS``.
        poll: A poll to render natively where ``Capability.NATIVE_POLLS``.
        attachment: A file, where ``Capability.FILES``.
        starts_at: Start time of the session the message is about, so adapters that can
            show a viewer-local timestamp (Discord's ``<t:…>``) may do so.
        kind: What the message is (``reply``, ``reminder``, ``notice``, ``poll``, ...), for
            adapters that style messages differently.
        mention: A person the text names who should be notified (a reminder for one
            person posted in a shared chat); adapters that cannot notify leave the name
            as it is.
    """

    text: str
    chat: ChatRef | None = None
    user: UserRef | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    poll: PollSpec | None = None
    attachment: Attachment | None = None
    starts_at: datetime | None = None
    kind: str = "reply"
    mention: Mention | None = None

    def __post_init__(self) -> None:
        if (self.chat is None) == (self.user is None):
            raise ValueError("Outgoing needs exactly one of chat or user")
        if self.mention is not None and not (
                self.mention.start >= 0 and self.mention.length > 0
                and self.mention.start + self.mention.length <= len(self.text)):
            raise ValueError("Outgoing.mention must lie within the text")

    @property
    def destination(self) -> str:
        """Namespaced id of the chat or user it goes to."""
        return self.chat.id if self.chat is not None else self.user.id  # type: ignore[union-attr]

    @property
    def platform(self) -> str:
        return platform_of(self.destination)


@dataclass(frozen=True, slots=True)
class Delivered:
    """What an adapter returns after a successful send.

    Attributes:
        message_id: The platform's id for the sent message, if any.
        poll_ref: The platform's id for a native poll that was created, if any.
    """

    message_id: str | None = None
    poll_ref: str | None = None


class EventStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One dated instance of an event, as stored.

    Attributes:
        id: Short, stable id shown to people (derived from calendar, uid, recurrence id).
        calendar: Name of the calendar it came from.
        uid: iCal UID of its series.
        recurrence_id: iCal RECURRENCE-ID of this instance in UTC ISO form, or ``""`` for a
            single (non-recurring) event.
        series_id: Short id of the series (calendar + uid), for subscribing to a series.
        title: SUMMARY.
        start: Start, aware UTC. For all-day events, midnight UTC of ``start_date``.
        end: End, aware UTC.
        all_day: True for DATE (not DATE-TIME) events.
        start_date: The calendar date of an all-day event, else None.
        end_date: Exclusive end date of an all-day event, else None.
        timezone: IANA zone the event was written in (for display when a person has none).
        status: confirmed / tentative / cancelled.
        description: DESCRIPTION text.
        location: LOCATION text.
        url: Join link (URL, or a link found in LOCATION or DESCRIPTION).
        facilitator: Named facilitator or organiser of the session, if any.
        cpd_hours: CPD hours (X-CPD-HOURS, else the duration).
    """

    id: str
    calendar: str
    uid: str
    recurrence_id: str
    series_id: str
    title: str
    start: datetime
    end: datetime
    all_day: bool = False
    start_date: date | None = None
    end_date: date | None = None
    timezone: str = "UTC"
    status: EventStatus = EventStatus.CONFIRMED
    description: str = ""
    location: str = ""
    url: str = ""
    facilitator: str = ""
    cpd_hours: float | None = None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


class SubscriptionScope(enum.StrEnum):
    ALL = "all"
    SERIES = "series"
    OCCURRENCE = "occurrence"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A person's wish to be reminded.

    Attributes:
        user_id: Namespaced user id.
        scope: Everything, one series, or one occurrence.
        target: Series id or occurrence id; ``""`` for ``ALL``.
        calendar: For ``ALL``, optionally only one calendar (``""`` means every calendar).
    """

    user_id: str
    scope: SubscriptionScope
    target: str = ""
    calendar: str = ""


class Delivery(enum.StrEnum):
    DIRECT = "dm"
    CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class UserSettings:
    """A person's stored preferences. Missing values fall back to the configured defaults.

    Attributes:
        user_id: Namespaced user id.
        timezone: IANA zone name, or None for the configured default.
        language: ``en`` or ``cy``, or None for the configured default.
        offsets: Reminder offsets before a session starts, or None for the default.
        delivery: DM or the chat they subscribed from.
        delivery_chat: Namespaced chat id used for ``CHANNEL`` delivery (and as the shared
            chat in which an unreachable person is told once).
        quiet_start: Start of quiet hours (minutes after local midnight), or None.
        quiet_end: End of quiet hours (minutes after local midnight), or None.
        display_name: Last name seen for the user, for rendering only.
        username: Last unique platform handle seen for the user (``UserRef.username``).
        delivery_user: Of the person's linked accounts, the one that gets private reminders
            (``/delivery dm`` sent from it); None for the person's own id.
        person: The person's id when this account is linked to another that names them
            (``/link``); None when the account is a person of its own. The preferences are
            then the person's, the names this account's.
    """

    user_id: str
    timezone: str | None = None
    language: str | None = None
    offsets: tuple[timedelta, ...] | None = None
    delivery: Delivery = Delivery.DIRECT
    delivery_chat: str | None = None
    quiet_start: int | None = None
    quiet_end: int | None = None
    display_name: str | None = None
    username: str | None = None
    delivery_user: str | None = None
    person: str | None = None

    @property
    def person_id(self) -> str:
        """The id the person's data is kept under: theirs, or the account they linked to."""
        return self.person or self.user_id


class Role(enum.IntEnum):
    ATTENDEE = 0
    FACILITATOR = 1
    ORGANISER = 2


@dataclass(frozen=True, slots=True)
class FacilitatorGrant:
    """A facilitator right: globally (``event == ""``) or for one series or occurrence id."""

    user_id: str
    event: str = ""
    granted_by: str = ""


class NoticeKind(enum.StrEnum):
    """What happened to a session that its subscribers are told about."""

    CHANGED = "changed"
    """Moved, renamed, relocated or given a new link (``NoticeItem.fields`` says which)."""
    CANCELLED = "cancelled"
    RESTORED = "restored"
    """On again after being cancelled (possibly changed as well)."""


@dataclass(frozen=True, slots=True)
class NoticeItem:
    """One session in a programme-change notice, as the refresh that planned it saw it.

    Attributes:
        kind: What happened to it.
        after: The session as it is now.
        before: The session as it was, for changed and restored ones.
        fields: What changed, among ``time``, ``title``, ``location``, ``link`` and
            ``status``.
    """

    kind: NoticeKind
    after: Occurrence
    before: Occurrence | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HeldNotice:
    """What an organiser is told of a refresh that was held back because it would cancel
    too much of the programme.

    Attributes:
        source: The feed, as the calendar was imported from it.
        cancels: How many upcoming sessions it would cancel.
        upcoming: How many upcoming sessions the calendar had.
        share: The share of them a refresh may cancel (``feed_max_cancel_share``).
    """

    source: str
    cancels: int
    upcoming: int
    share: float


@dataclass(frozen=True, slots=True)
class Notice:
    """A programme-change notice for one person: the sessions they follow that one refresh
    changed, soonest first; or, for an organiser, that a refresh was held (``held``, with no
    items). It is rendered when it is sent, in the reader's language and zone.

    Attributes:
        calendar: The calendar that changed.
        items: The sessions (the first few, when many changed).
        more: How many more changed beyond ``items``.
        held: Set for an organiser's notice of a held refresh.
    """

    calendar: str
    items: tuple[NoticeItem, ...]
    more: int = 0
    held: HeldNotice | None = None

    @property
    def title(self) -> str:
        """What it is about, in a line of the organisers' listing: its first session, or
        the calendar whose refresh was held."""
        return self.items[0].after.title if self.items else self.calendar


class ReminderStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"


SESSION_STARTED = "the session had already started"
SESSIONS_OVER = "the sessions it was about were over"
HOLD_OLD = "the held refresh it was about was days old"
"""Why a reminder, a change notice, or the organisers' notice of a held refresh expired
unsent (its ``last_error``)."""


@dataclass(frozen=True, slots=True)
class Reminder:
    """One planned reminder in the outbox: (person, occurrence, offset) is unique.

    Attributes:
        id: Row id.
        user_id: Who is reminded.
        occurrence_id: Of which session.
        offset: How long before the start it was asked for.
        platform: Adapter that delivers it.
        start: Start of the session when it was planned, aware UTC.
        due: When it should arrive (the start minus the offset, moved out of quiet hours).
        ready: When it may next be tried (``due``, or later after a transient failure).
        status: pending → sending → sent / failed / expired.
        attempts: Failed delivery attempts so far.
        last_error: Why the last attempt failed, for organisers.
        sent_at: When it was delivered.
        notice: For a programme-change notice in the same outbox, what it tells (then
            ``occurrence_id`` is its first session, ``offset`` is negative and unique per
            refresh, ``start`` is when the sessions it tells of are over, after which it
            expires unsent, and ``due`` is when it was planned).
    """

    id: int
    user_id: str
    occurrence_id: str
    offset: timedelta
    platform: str
    start: datetime
    due: datetime
    ready: datetime
    status: ReminderStatus
    attempts: int = 0
    last_error: str = ""
    sent_at: datetime | None = None
    notice: Notice | None = None


# --------------------------------------------------------------------------- live sessions


@dataclass(frozen=True, slots=True)
class LiveBinding:
    """A chat bound to one session: polls and questions asked there belong to it.

    Attributes:
        chat_id: Namespaced chat id.
        occurrence_id: The session it is bound to.
        bound_by: Who bound it (``""`` when bound automatically at the session's start).
        bound_at: When.
    """

    chat_id: str
    occurrence_id: str
    bound_by: str
    bound_at: datetime


@dataclass(frozen=True, slots=True)
class LiveSession:
    """Per-session live settings: Q&A state and the check-in code.

    Attributes:
        occurrence_id: The session.
        qa_open: Whether ``/ask`` is accepted.
        moderated: Whether questions wait for a facilitator's ``/approve``.
        checkin_code: The code ``/checkin`` needs, or ``""`` for none.
        focus: The number of the question the projector points at, or None (then it points
            at the most upvoted open question).
    """

    occurrence_id: str
    qa_open: bool = True
    moderated: bool = False
    checkin_code: str = ""
    focus: int | None = None


@dataclass(frozen=True, slots=True)
class Poll:
    """A poll or quiz run in a live chat.

    Attributes:
        id: Store id, used in button actions (``poll:<id>:vote:<n>``).
        occurrence_id: The session it belongs to.
        chat_id: The chat it was posted in.
        question: The question.
        options: The options, in order; people vote by 1-based number.
        multi: Several options may be chosen.
        anonymous: Nobody (facilitators included) can learn who voted what.
        correct: 0-based index of the correct option of a quiz, else None.
        created_by: Namespaced id of the facilitator who launched it.
        created_at: When.
        closes_at: Timed auto-close, or None.
        closed_at: When it closed, or None while open.
        message_id: Platform id of the message that carries it, if known.
        poll_ref: Platform id of the native poll, if it was rendered natively.
    """

    id: int
    occurrence_id: str
    chat_id: str
    question: str
    options: tuple[str, ...]
    multi: bool = False
    anonymous: bool = False
    correct: int | None = None
    created_by: str = ""
    created_at: datetime | None = None
    closes_at: datetime | None = None
    closed_at: datetime | None = None
    message_id: str | None = None
    poll_ref: str | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class PollTally:
    """Counted votes of one poll.

    Attributes:
        votes: Votes per option, in option order.
        voters: Distinct people who voted.
        right: For a quiz, how many people chose exactly the correct option.
    """

    votes: tuple[int, ...]
    voters: int
    right: int = 0


@dataclass(frozen=True, slots=True)
class NativePollAnswers:
    """What a platform holds for one of its native polls.

    Attributes:
        votes: Votes per option, in option order, as the platform counts them.
        voters: Distinct people who answered, as the platform counts them.
        by_option: Namespaced ids of the people holding each option, where the platform
            tells (Discord does); None where it gives counts only (Telegram).
    """

    votes: tuple[int, ...]
    voters: int
    by_option: tuple[tuple[str, ...], ...] | None = None


class QuestionStatus(enum.StrEnum):
    PENDING = "pending"
    OPEN = "open"
    ANSWERED = "answered"
    HIDDEN = "hidden"


@dataclass(frozen=True, slots=True)
class Question:
    """A question from the audience.

    Attributes:
        id: Store id, used in button actions (``q:<id>:up``).
        occurrence_id: The session.
        number: 1, 2, 3… per session, in the order asked.
        text: The question.
        status: Pending approval, open, answered or hidden.
        upvotes: How many people upvoted it.
        author_id: Namespaced id of the person who asked; None for anonymous questions.
        author_name: Their display name; None for anonymous questions.
        asked_at: When.
    """

    id: int
    occurrence_id: str
    number: int
    text: str
    status: QuestionStatus
    upvotes: int = 0
    author_id: str | None = None
    author_name: str | None = None
    asked_at: datetime | None = None

    @property
    def anonymous(self) -> bool:
        return self.author_id is None


@dataclass(frozen=True, slots=True)
class Checkin:
    """A person's attendance at one session, for their CPD record."""

    occurrence_id: str
    user_id: str
    name: str
    checked_in_at: datetime


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """What a certificate of attendance said when it was (last) issued, found by its
    verification code. It names no platform id: anyone holding the code may see it.

    Attributes:
        code: The verification code (canonical form: upper case, no separators).
        occurrence_id: The session's id.
        name: The person's name as printed.
        session: The session's title.
        date: The session's date in its own zone.
        hours: CPD hours.
        organiser: The session's facilitator or organiser, else the programme's name.
        issued_at: When it was last issued (the same person and session keep one code).
    """

    code: str
    occurrence_id: str
    name: str
    session: str
    date: date
    hours: float
    organiser: str
    issued_at: datetime
