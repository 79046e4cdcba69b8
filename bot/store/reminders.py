"""The reminder outbox in SQL: planning in bulk, atomic claims, outcomes, and the unreachable list.

Claims are one ``UPDATE … WHERE id IN (SELECT … LIMIT n) AND status = 'pending' RETURNING …``
(SQLite 3.35+ and PostgreSQL), so two processes on one database never claim the same row and the
claimed rows come back without a second query. The
``(status, id)`` index lets that UPDATE find its rows by id; every query the dispatcher runs per
batch touches the claimed rows only, never the whole pending set, so its cost does not grow
with the outbox.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import HOLD_OLD, SESSION_STARTED, SESSIONS_OVER, EventStatus, Reminder, ReminderStatus
from bot.ports import PlannedReminder, ReminderKey, ReminderOutcome, ReminderSummary
from bot.store.notices import REMINDER, notice_from_json
from bot.store.schema import occurrences, reminder_meta, reminder_unreachable, reminders, workers

_CHUNK = 500
_PENDING = ReminderStatus.PENDING.value
_SENDING = ReminderStatus.SENDING.value

r = reminders.c


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


@functools.lru_cache(maxsize=4096)
def _dt(value: int) -> datetime:
    # A batch shares a handful of start, due and ready instants among a thousand rows.
    return datetime.fromtimestamp(value, UTC)


@functools.lru_cache(maxsize=64)
def _offset(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


_COLUMNS = (r.id, r.user_id, r.occurrence_id, r.offset_s, r.platform, r.start_ts, r.due_ts, r.ready_ts,
            r.status, r.attempts, r.last_error, r.sent_ts, r.detail)
"""What a ``Reminder`` is made of, in ``_reminder``'s order."""


def _reminder(row: Any) -> Reminder:
    (id_, user_id, occurrence_id, offset_s, platform, start_ts, due_ts, ready_ts, status, attempts, last_error,
     sent_ts, detail) = row
    return Reminder(
        id=id_, user_id=user_id, occurrence_id=occurrence_id, offset=_offset(offset_s), platform=platform,
        start=_dt(start_ts), due=_dt(due_ts), ready=_dt(ready_ts), status=ReminderStatus(status),
        attempts=attempts, last_error=last_error, sent_at=_dt(sent_ts) if sent_ts is not None else None,
        notice=notice_from_json(detail) if detail else None)


def _by_ready(row: dict[str, Any]) -> int:
    return int(row["ready_ts"])


def _ready_order(reminder: Reminder) -> tuple[datetime, int]:
    return reminder.ready, reminder.id


class SqlReminderRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- planning ---------------------------------------------------------------------------

    async def planned(self, *, after: int, user_ids: Sequence[str] | None = None,
                      occurrence_ids: Sequence[str] | None = None,
                      ) -> dict[ReminderKey, tuple[int, str, int, int]]:
        query = sa.select(r.id, r.user_id, r.occurrence_id, r.offset_s, r.status, r.start_ts, r.due_ts)
        query = query.where(r.start_ts > after, r.kind == REMINDER)  # notices are not the planner's
        found: dict[ReminderKey, tuple[int, str, int, int]] = {}
        async with self._engine.connect() as conn:
            if user_ids is None and occurrence_ids is None:
                scoped = [query]
            elif user_ids is not None:
                scoped = [query.where(r.user_id.in_(chunk)) for chunk in _chunks(list(user_ids))]
            else:
                scoped = [query.where(r.occurrence_id.in_(chunk))
                          for chunk in _chunks(list(occurrence_ids or ()))]
            for q in scoped:
                for row in await conn.execute(q):
                    found[(row[1], row[2], row[3])] = (row[0], row[4], row[5], row[6])
        return found

    async def apply_plan(self, *, now: int, inserts: Sequence[PlannedReminder],
                         updates: Sequence[tuple[int, int, int, int]], deletes: Sequence[int]) -> None:
        # Rows are written in ready order, the order claims take them: a batch's claim and its
        # outcomes then touch a few neighbouring pages, not one page per row (planned person by
        # person, a fan-out's rows would lie a whole person's plan apart).
        rows = sorted(({"user_id": p.user_id, "occurrence_id": p.occurrence_id, "offset_s": p.offset_s,
                        "platform": p.platform, "start_ts": p.start_ts, "due_ts": p.due_ts,
                        "ready_ts": p.due_ts if p.ready_ts is None else p.ready_ts, "status": _PENDING,
                        "attempts": 0, "last_error": "", "updated_ts": now} for p in inserts),
                      key=_by_ready)
        async with self._engine.begin() as conn:
            if rows:
                await conn.execute(reminders.insert(), rows)
            if updates:
                # Only rows still waiting are moved; one already claimed or sent keeps its history.
                await conn.execute(
                    reminders.update().where(r.id == sa.bindparam("b_id"), r.status == _PENDING)
                    .values(start_ts=sa.bindparam("b_start"), due_ts=sa.bindparam("b_due"),
                            ready_ts=sa.bindparam("b_ready"), updated_ts=now),
                    [{"b_id": i, "b_start": s, "b_due": d, "b_ready": ready} for i, s, d, ready in updates])
            for chunk in _chunks(list(deletes)):
                await conn.execute(reminders.delete().where(r.id.in_(chunk), r.status == _PENDING))

    async def delete_orphans(self, now: int) -> int:
        live = sa.select(occurrences.c.id).where(occurrences.c.status != EventStatus.CANCELLED.value)
        async with self._engine.begin() as conn:
            result = await conn.execute(reminders.delete().where(
                r.status == _PENDING, r.start_ts > now, r.kind == REMINDER, r.occurrence_id.not_in(live)))
        return int(result.rowcount or 0)

    # -- dispatching ---------------------------------------------------------------------------

    async def ready_counts(self, until: int, *, platform: str | None = None,
                           limit: int | None = None) -> list[tuple[str, int, int]]:
        rows = sa.select(r.platform, r.ready_ts).where(r.status == _PENDING, r.ready_ts <= until)
        if platform is not None:
            rows = rows.where(r.platform == platform)
        # Counting only the first ``limit`` rows in index order keeps this a short range scan
        # however large the backlog behind them is.
        first = (rows.order_by(r.ready_ts).limit(limit) if limit is not None else rows).subquery()
        query = (sa.select(first.c.platform, first.c.ready_ts, sa.func.count())
                 .group_by(first.c.platform, first.c.ready_ts).order_by(first.c.ready_ts))
        async with self._engine.connect() as conn:
            return [(row[0], int(row[1]), int(row[2])) for row in await conn.execute(query)]

    async def count_ready(self, until: int) -> int:
        async with self._engine.connect() as conn:
            value = await conn.scalar(sa.select(sa.func.count()).select_from(reminders)
                                      .where(r.status == _PENDING, r.ready_ts <= until))
        return int(value or 0)

    async def next_ready(self) -> int | None:
        async with self._engine.connect() as conn:
            value = await conn.scalar(sa.select(sa.func.min(r.ready_ts)).where(r.status == _PENDING))
        return None if value is None else int(value)

    async def next_reclaim(self, *, lease: int, stale_after: int, keep: int | None = None) -> int | None:
        others = sa.and_(r.claimed_by.is_not(None), r.claimed_by != keep) if keep is not None \
            else r.claimed_by.is_not(None)
        # A claim whose worker row is gone counts as silent since 0: reclaimable now.
        silent = sa.case((others, sa.func.coalesce(workers.c.heartbeat_ts, 0) + stale_after))
        query = (sa.select(sa.func.min(r.claimed_at) + lease, sa.func.min(silent))
                 .select_from(reminders.outerjoin(workers, workers.c.id == r.claimed_by))
                 .where(r.status == _SENDING))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).one()
        found = [int(v) for v in row if v is not None]
        return min(found) if found else None

    async def release_stale(self, older_than: int, now: int, *, silent_since: int | None = None,
                            keep: int | None = None) -> int:
        stale = r.claimed_at < older_than
        if silent_since is not None:
            alive = sa.select(workers.c.id).where(workers.c.heartbeat_ts >= silent_since)
            gone = sa.and_(r.claimed_by.is_not(None), r.claimed_by.not_in(alive))
            if keep is not None:
                gone = sa.and_(gone, r.claimed_by != keep)
            stale = sa.or_(stale, gone)
        async with self._engine.begin() as conn:
            result = await conn.execute(reminders.update().where(r.status == _SENDING, stale).values(
                status=_PENDING, claim=None, claimed_at=None, claimed_by=None, updated_ts=now))
        return int(result.rowcount or 0)

    async def expire_started(self, now: int) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(reminders.update().where(
                r.status == _PENDING, r.start_ts <= now).values(
                status=ReminderStatus.EXPIRED.value, updated_ts=now,
                last_error=sa.case((r.kind == REMINDER, SESSION_STARTED), (r.occurrence_id == "", HOLD_OLD),
                                   else_=SESSIONS_OVER)))
        return int(result.rowcount or 0)

    async def claim(self, token: str, now: int, horizons: dict[str, int], limit: int, *,
                    worker: int | None = None) -> list[Reminder]:
        if not horizons:
            return []
        eligible = sa.or_(*(sa.and_(r.platform == platform, r.ready_ts <= until)
                            for platform, until in horizons.items()))
        # Several processes claim at once: on PostgreSQL each skips the rows another is claiming
        # rather than queueing behind it and coming back empty (SQLite, one writer, has no such clause).
        # The choice is a materialised CTE: as a subquery, PostgreSQL may run it again per row, and
        # each run skips the rows the last one locked, so far more than ``limit`` would be claimed.
        chosen = (sa.select(r.id).where(r.status == _PENDING, eligible)
                  .order_by(r.ready_ts, r.id).limit(limit).with_for_update(skip_locked=True)
                  .cte("chosen").prefix_with("MATERIALIZED", dialect="postgresql"))
        async with self._engine.begin() as conn:
            rows = await conn.execute(reminders.update().where(r.id.in_(sa.select(chosen.c.id)),
                                                               r.status == _PENDING)
                                      .values(status=_SENDING, claim=token, claimed_at=now, claimed_by=worker)
                                      .returning(*_COLUMNS))
            claimed = [_reminder(row) for row in rows]
        claimed.sort(key=_ready_order)
        return claimed

    async def renew(self, token: str, now: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(reminders.update().where(r.claim == token, r.status == _SENDING)
                               .values(claimed_at=now))

    async def record(self, token: str, now: int, outcomes: Sequence[ReminderOutcome]) -> int:
        if not outcomes:
            return 0
        # A batch's outcomes are mostly alike (sent, in the same second): one UPDATE per kind
        # of outcome over its ids, rather than one statement per row.
        alike: dict[tuple[str, int, int, str, int | None], list[int]] = {}
        for o in outcomes:
            alike.setdefault((o.status.value, o.attempts, o.ready_ts, o.last_error, o.sent_ts), []).append(o.id)
        updated = 0
        async with self._engine.begin() as conn:
            for (status, attempts, ready_ts, last_error, sent_ts), ids in alike.items():
                for chunk in _chunks(ids):
                    result = await conn.execute(
                        reminders.update().where(r.id.in_(chunk), r.claim == token, r.status == _SENDING)
                        .values(status=status, attempts=attempts, ready_ts=ready_ts, last_error=last_error,
                                sent_ts=sent_ts, claim=None, claimed_at=None, claimed_by=None, updated_ts=now))
                    updated += int(result.rowcount or 0)
        return updated

    async def fail_pending_of(self, user_id: str, reason: str, now: int) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(reminders.update().where(
                r.user_id == user_id, r.status == _PENDING).values(
                status=ReminderStatus.FAILED.value, last_error=reason, updated_ts=now))
        return int(result.rowcount or 0)

    async def failed_of(self, user_id: str, *, after: int, error_prefix: str) -> list[Reminder]:
        query = (sa.select(*_COLUMNS)
                 .where(r.user_id == user_id, r.status == ReminderStatus.FAILED.value, r.start_ts > after,
                        r.last_error.startswith(error_prefix, autoescape=True))
                 .order_by(r.occurrence_id, r.offset_s))
        async with self._engine.connect() as conn:
            return [_reminder(row) for row in await conn.execute(query)]

    async def requeue(self, ready: Sequence[tuple[int, int]], now: int) -> int:
        if not ready:
            return 0
        async with self._engine.begin() as conn:
            result = await conn.execute(
                reminders.update().where(r.id == sa.bindparam("b_id"), r.status == ReminderStatus.FAILED.value)
                .values(status=_PENDING, ready_ts=sa.bindparam("b_ready"), attempts=0, last_error="",
                        updated_ts=now),
                [{"b_id": i, "b_ready": when} for i, when in ready])
        return int(result.rowcount or 0)

    # -- the unreachable ---------------------------------------------------------------------------

    async def mark_unreachable(self, user_id: str, reason: str, now: int) -> bool:
        t = reminder_unreachable.c
        async with self._engine.begin() as conn:
            exists = await conn.scalar(sa.select(sa.func.count()).where(t.user_id == user_id))
            if exists:
                return False
            await conn.execute(reminder_unreachable.insert().values(
                user_id=user_id, since_ts=now, reason=reason, told=False))
            return True

    async def take_notice(self, user_id: str) -> bool:
        t = reminder_unreachable.c
        async with self._engine.begin() as conn:
            result = await conn.execute(reminder_unreachable.update()
                                        .where(t.user_id == user_id, t.told == sa.false()).values(told=True))
        return bool(result.rowcount)

    async def clear_unreachable(self, user_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(reminder_unreachable.delete()
                                        .where(reminder_unreachable.c.user_id == user_id))
        return bool(result.rowcount)

    async def unreachable(self, user_ids: Sequence[str] | None = None) -> set[str]:
        t = reminder_unreachable.c
        async with self._engine.connect() as conn:
            if user_ids is None:
                return {row[0] for row in await conn.execute(sa.select(t.user_id))}
            if len(user_ids) > _CHUNK:
                # The list is usually short: reading it whole is one small query, where asking
                # after a batch of a thousand people by name is two long ones.
                few = {row[0] for row in await conn.execute(sa.select(t.user_id).limit(_CHUNK + 1))}
                if len(few) <= _CHUNK:
                    return few.intersection(user_ids)
            found: set[str] = set()
            for chunk in _chunks(list(user_ids)):
                found.update(row[0] for row in await conn.execute(
                    sa.select(t.user_id).where(t.user_id.in_(chunk))))
            return found

    # -- reporting ---------------------------------------------------------------------------

    async def counts(self) -> dict[str, int]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(r.status, sa.func.count()).group_by(r.status))
            found = {row[0]: int(row[1]) for row in rows}
        return {s.value: found.get(s.value, 0) for s in ReminderStatus}

    async def find(self, status: ReminderStatus | None = None, limit: int = 50) -> list[Reminder]:
        query = sa.select(*_COLUMNS)
        if status is not None:
            query = query.where(r.status == status.value)
        if status in {ReminderStatus.PENDING, ReminderStatus.SENDING}:
            query = query.order_by(r.ready_ts, r.id)
        else:
            query = query.order_by(r.updated_ts.desc(), r.id.desc())
        async with self._engine.connect() as conn:
            return [_reminder(row) for row in await conn.execute(query.limit(limit))]

    async def summary_since(self, since: int, failures: int = 10) -> ReminderSummary:
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(r.status, sa.func.count()).where(r.updated_ts >= since)
                                      .group_by(r.status))
            counts = {row[0]: int(row[1]) for row in rows}
            failed = await conn.execute(
                sa.select(*_COLUMNS).where(r.updated_ts >= since, r.status == ReminderStatus.FAILED.value)
                .order_by(r.updated_ts.desc()).limit(failures))
            found = tuple(_reminder(row) for row in failed)
            u = reminder_unreachable.c
            unreachable = await conn.execute(sa.select(u.user_id, u.reason).where(u.since_ts >= since)
                                             .order_by(u.since_ts, u.user_id).limit(failures))
            return ReminderSummary(
                sent=counts.get(ReminderStatus.SENT.value, 0),
                failed=counts.get(ReminderStatus.FAILED.value, 0),
                expired=counts.get(ReminderStatus.EXPIRED.value, 0),
                failures=found, unreachable=tuple((row[0], row[1] or "") for row in unreachable))

    async def get_meta(self, key: str) -> str | None:
        async with self._engine.connect() as conn:
            return await conn.scalar(sa.select(reminder_meta.c.value).where(reminder_meta.c.key == key))

    async def claim_meta(self, key: str, value: str) -> bool:
        c = reminder_meta.c
        async with self._engine.begin() as conn:
            # Compare and set in one statement: of two processes, one changes the row.
            updated = await conn.execute(reminder_meta.update().where(c.key == key, c.value != value)
                                         .values(value=value))
            if updated.rowcount:
                return True
            if await conn.scalar(sa.select(sa.func.count()).select_from(reminder_meta).where(c.key == key)):
                return False
        try:
            async with self._engine.begin() as conn:
                await conn.execute(reminder_meta.insert().values(key=key, value=value))
        except IntegrityError:  # the other process made the row first: it holds the claim
            return False
        return True

    async def set_meta(self, key: str, value: str) -> None:
        for attempt in range(2):
            try:
                async with self._engine.begin() as conn:
                    updated = await conn.execute(reminder_meta.update().where(reminder_meta.c.key == key)
                                                 .values(value=value))
                    if updated.rowcount == 0:
                        await conn.execute(reminder_meta.insert().values(key=key, value=value))
                return
            except IntegrityError:
                # Another process made the row between the two statements (PostgreSQL locks
                # no row that is not there yet): the update finds it now.
                if attempt:
                    raise
