"""The reminder outbox and the processes that work it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.models import (
    Notice,
    Reminder,
    ReminderStatus,
)

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
