"""The rest of the store (linked accounts, the shared rate budget, adapters' state,
certificates) and the ``Store`` that holds every repository."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.identities import Difference
from bot.models import (
    CertificateRecord,
)
from bot.ports.calendars import CalendarRepository, PeopleRepository
from bot.ports.live import LiveRepository
from bot.ports.outbox import ReminderRepository, WorkerRepository


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
