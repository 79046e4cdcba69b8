"""Group commit for votes: a storm of votes becomes a few transactions, not thousands.

Every vote is queued with a future; one flusher task at a time takes everything queued,
writes it in a single transaction and resolves the futures, so a voter hears back only once
their vote is committed (nothing is acknowledged and then lost). While one batch commits the
next one fills up, so the batch size follows the load by itself.

Within a batch, votes are applied in arrival order: the last vote of a person wins, and a
toggle sees the choices left by the votes before it. Uniqueness still rests on the primary
key (poll, voter, option), never on this ordering alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.schema import poll_votes, polls

log = logging.getLogger(__name__)

CHUNK = 400  # stays under SQLite's bound-parameter limit with room to spare


@dataclass(slots=True)
class Ballot:
    """One person's vote on one poll: ``choices`` replaces their vote, or ``toggle`` flips
    one option. The result is False/None when the poll turned out to be closed."""

    poll_id: int
    voter: str
    choices: frozenset[int] = frozenset()
    toggle: int | None = None
    future: asyncio.Future[bool | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class BallotBox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queue: list[Ballot] = []
        self._flusher: asyncio.Task[None] | None = None

    async def cast(self, ballot: Ballot) -> bool | None:
        self._queue.append(ballot)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await ballot.future

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._apply(batch)
            except Exception:
                # One bad ballot must not sink the others: retry each alone.
                log.warning("a batch of %d votes failed; retrying them one by one", len(batch), exc_info=True)
                for ballot in batch:
                    try:
                        (result,) = await self._apply([ballot])
                    except Exception as exc:
                        _settle(ballot, exc)
                    else:
                        _settle(ballot, result)
            else:
                for ballot, result in zip(batch, results, strict=True):
                    _settle(ballot, result)

    async def _apply(self, batch: list[Ballot]) -> list[bool | None]:
        poll_ids = sorted({b.poll_id for b in batch})
        async with self._engine.begin() as conn:
            # Writing first takes the write lock (SQLite) or the poll rows' locks (PostgreSQL)
            # before anything is read, so no poll can close half-way through the batch.
            touched = await conn.execute(polls.update().where(polls.c.id.in_(poll_ids), polls.c.closed_at.is_(None))
                                         .values(closed_at=None))
            if len(poll_ids) == 1:  # the usual storm: one poll, and the row count says if it is open
                open_ids = set(poll_ids) if touched.rowcount else set()
            else:
                open_ids = {r[0] for r in await conn.execute(
                    sa.select(polls.c.id).where(polls.c.id.in_(poll_ids), polls.c.closed_at.is_(None)))}
            final: dict[tuple[int, str], set[int]] = {}
            results: list[bool | None] = []
            for ballot in batch:
                if ballot.poll_id not in open_ids:
                    results.append(None if ballot.toggle is not None else False)
                    continue
                key = (ballot.poll_id, ballot.voter)
                if ballot.toggle is None:
                    final[key] = set(ballot.choices)
                    results.append(True)
                    continue
                if key not in final:
                    final[key] = await _current(conn, *key)
                chosen = final[key]
                if ballot.toggle in chosen:
                    chosen.discard(ballot.toggle)
                    results.append(False)
                else:
                    chosen.add(ballot.toggle)
                    results.append(True)
            c = poll_votes.c
            by_poll: dict[int, list[str]] = {}
            for poll_id, voter in final:
                by_poll.setdefault(poll_id, []).append(voter)
            for poll_id, voters in by_poll.items():
                for chunk in _chunks(voters):
                    await conn.execute(poll_votes.delete().where(c.poll_id == poll_id, c.voter.in_(chunk)))
            rows = [{"poll_id": p, "voter": v, "option": o} for (p, v), chosen in final.items() for o in sorted(chosen)]
            if rows:
                await conn.execute(poll_votes.insert(), rows)
        return results


async def _current(conn: AsyncConnection, poll_id: int, voter: str) -> set[int]:
    c = poll_votes.c
    return {r[0] for r in await conn.execute(sa.select(c.option).where(c.poll_id == poll_id, c.voter == voter))}


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _settle(ballot: Ballot, outcome: bool | BaseException | None) -> None:
    if ballot.future.done():  # the voter gave up waiting (cancelled)
        return
    if isinstance(outcome, BaseException):
        ballot.future.set_exception(outcome)
    else:
        ballot.future.set_result(outcome)
