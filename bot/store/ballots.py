"""Group commit for votes: a storm of votes becomes a few short transactions, not thousands.

Every vote (and every poll close or recount) is queued with a future; one flusher task at a
time takes everything queued, writes it in a single transaction and resolves the futures,
so a voter hears back only once their vote is committed: nothing is acknowledged and then
lost. While one batch commits the next one fills up, so the batch size follows the load by
itself.

Within a batch, items apply in arrival order: the last vote of a person wins, a toggle sees
the choices left by the votes before it, and votes queued after a close are refused.

Whether a poll is open is read from the store in every batch, inside its transaction and
after a write to the batch's polls (SQLite's write lock, PostgreSQL's row locks): another
process sharing the database may have closed it. The box remembers only a hint, who has a
stored vote in each poll it has seen, so that a batch of first votes (the usual storm) is a
single multi-row INSERT and a changed vote adds a DELETE of that person's earlier rows.
Uniqueness still rests on the primary key (poll, voter, option): if another process stored
a vote the hint misses, or a batch fails for any other reason, each item is retried alone,
deleting first regardless of the hint, so one bad item fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.anonymity import erase_poll_secret
from bot.store.batching import WriteGate
from bot.store.schema import poll_votes, polls

log = logging.getLogger(__name__)

CHUNK = 400  # stays under SQLite's bound-parameter limit with room to spare


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


@dataclass(slots=True)
class Ballot:
    """One person's vote on one poll: ``choices`` replaces their vote, or ``toggle`` flips
    one option. Resolves to False (None for a toggle) if the poll is closed; a toggle
    otherwise resolves to whether the option is now chosen."""

    poll_id: int
    voter: str
    choices: frozenset[int] = frozenset()
    toggle: int | None = None
    future: asyncio.Future[bool | None] = field(default_factory=_future)


@dataclass(slots=True)
class Closing:
    """Close a poll (and erase its salt). Resolves to False if it was already closed.

    ``replace`` (voter -> choices), when given, becomes the poll's whole set of votes in
    the same transaction; ``platform_tally`` is stored as the poll's final counts."""

    poll_id: int
    closed_at: int
    replace: dict[str, frozenset[int]] | None = None
    platform_tally: str | None = None
    future: asyncio.Future[bool | None] = field(default_factory=_future)


@dataclass(slots=True)
class Recount:
    """Make ``replace`` (voter -> choices) an open poll's whole set of votes. Resolves to
    False if the poll is closed."""

    poll_id: int
    replace: dict[str, frozenset[int]]
    future: asyncio.Future[bool | None] = field(default_factory=_future)


Item = Ballot | Closing | Recount


class BallotBox:
    def __init__(self, engine: AsyncEngine, gate: WriteGate | None = None) -> None:
        self._engine = engine
        self._gate = gate or WriteGate(engine)
        self._queue: list[Item] = []
        self._flusher: asyncio.Task[None] | None = None
        self._voters: dict[int, set[str]] = {}  # a hint: who has stored votes, per poll seen
        # Told which polls a batch found closed (by this process or another one).
        self.closed_seen: Callable[[set[int]], None] = lambda poll_ids: None

    async def cast(self, item: Item) -> bool | None:
        self._queue.append(item)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await item.future

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._apply(batch, trust_memory=True)
            except Exception:
                log.warning("a batch of %d votes failed; retrying them one by one", len(batch), exc_info=True)
                for item in batch:
                    try:
                        (result,) = await self._apply([item], trust_memory=False)
                    except Exception as exc:
                        _settle(item, exc)
                    else:
                        _settle(item, result)
            else:
                for item, result in zip(batch, results, strict=True):
                    _settle(item, result)

    async def _apply(self, batch: list[Item], *, trust_memory: bool) -> list[bool | None]:
        poll_ids = sorted({i.poll_id for i in batch})
        async with self._gate.begin() as conn:
            # A write first: it takes SQLite's write lock (PostgreSQL's row locks on these
            # polls), so no other process closes one of them until this batch commits.
            is_open = await _lock_and_read_open(conn, poll_ids)
            if not all(is_open.values()):
                self.closed_seen({p for p, still_open in is_open.items() if not still_open})
            unknown = [p for p in poll_ids if is_open[p] and (not trust_memory or p not in self._voters)]
            if unknown:
                await self._load_voters(conn, unknown)
            final: dict[tuple[int, str], set[int]] = {}
            replaced: dict[int, dict[str, frozenset[int]]] = {}  # poll -> its whole set of votes
            closes: list[Closing] = []
            results: list[bool | None] = []
            for item in batch:
                was_open = is_open[item.poll_id]
                if isinstance(item, Closing | Recount):
                    results.append(was_open)
                    if was_open:
                        if item.replace is not None:
                            replaced[item.poll_id] = dict(item.replace)
                            for key in [k for k in final if k[0] == item.poll_id]:
                                del final[key]
                        if isinstance(item, Closing):
                            closes.append(item)
                            is_open[item.poll_id] = False
                    continue
                if not was_open:
                    results.append(None if item.toggle is not None else False)
                    continue
                key = (item.poll_id, item.voter)
                if item.toggle is None:
                    final[key] = set(item.choices)
                    results.append(True)
                    continue
                if key not in final:
                    given = replaced.get(item.poll_id, {})
                    final[key] = (set(given.get(item.voter, ())) if item.poll_id in replaced
                                  else await _current(conn, *key))
                chosen = final[key]
                results.append(item.toggle not in chosen)
                chosen.symmetric_difference_update({item.toggle})

            c = poll_votes.c
            for poll_id in replaced:
                await conn.execute(poll_votes.delete().where(c.poll_id == poll_id))
            rows = [{"poll_id": poll_id, "voter": v, "option": o} for poll_id, votes in replaced.items()
                    for v, chosen in votes.items() if (poll_id, v) not in final for o in sorted(chosen)]
            remove: dict[int, list[str]] = {}
            for poll_id, voter in final:
                # A replaced poll has no rows left; elsewhere the hint says who has some.
                if poll_id not in replaced and (not trust_memory or voter in self._voters.get(poll_id, ())):
                    remove.setdefault(poll_id, []).append(voter)
            for poll_id, voters in remove.items():
                for chunk in _chunks(voters):
                    await conn.execute(poll_votes.delete().where(c.poll_id == poll_id, c.voter.in_(chunk)))
            rows += [{"poll_id": p, "voter": v, "option": o} for (p, v), chosen in final.items() for o in sorted(chosen)]
            if rows:
                await conn.execute(poll_votes.insert(), rows)
            for closing in closes:
                values: dict[str, Any] = {"closed_at": closing.closed_at, "salt": None}
                if closing.platform_tally is not None:
                    values["platform_tally"] = closing.platform_tally
                await conn.execute(polls.update().where(polls.c.id == closing.poll_id, polls.c.closed_at.is_(None))
                                   .values(**values))
                await erase_poll_secret(conn, closing.poll_id)
        # Remember only what is committed.
        for poll_id, votes in replaced.items():
            self._voters[poll_id] = {v for v, chosen in votes.items() if chosen}
        for (poll_id, voter), chosen in final.items():
            held = self._voters.setdefault(poll_id, set())
            if chosen:
                held.add(voter)
            else:
                held.discard(voter)
        for poll_id, still_open in is_open.items():
            if not still_open:
                self._voters.pop(poll_id, None)
        return results

    async def _load_voters(self, conn: AsyncConnection, poll_ids: list[int]) -> None:
        found: dict[int, set[str]] = {pid: set() for pid in poll_ids}
        for poll_id, voter in await conn.execute(
                sa.select(poll_votes.c.poll_id, poll_votes.c.voter).distinct()
                .where(poll_votes.c.poll_id.in_(poll_ids))):
            found[poll_id].add(voter)
        self._voters.update(found)


async def _current(conn: AsyncConnection, poll_id: int, voter: str) -> set[int]:
    c = poll_votes.c
    return {r[0] for r in await conn.execute(sa.select(c.option).where(c.poll_id == poll_id, c.voter == voter))}


async def _lock_and_read_open(conn: AsyncConnection, poll_ids: list[int]) -> dict[int, bool]:
    """Take the polls' locks with a write, and say which are open: one statement where the
    database returns what it updated (SQLite 3.35+, PostgreSQL), as a vote storm makes many
    small batches."""
    lock = polls.update().where(polls.c.id.in_(poll_ids)).values(closed_at=polls.c.closed_at)
    is_open = dict.fromkeys(poll_ids, False)
    if conn.dialect.update_returning:
        for poll_id, closed_at in await conn.execute(lock.returning(polls.c.id, polls.c.closed_at)):
            is_open[poll_id] = closed_at is None
        return is_open
    await conn.execute(lock)
    for row in await conn.execute(sa.select(polls.c.id).where(polls.c.id.in_(poll_ids), polls.c.closed_at.is_(None))):
        is_open[row[0]] = True
    return is_open


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _settle(item: Item, outcome: bool | BaseException | None) -> None:
    if item.future.done():  # the caller gave up waiting (cancelled)
        return
    if isinstance(outcome, BaseException):
        item.future.set_exception(outcome)
    else:
        item.future.set_result(outcome)
