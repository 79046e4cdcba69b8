"""Group commit for votes: a storm of votes becomes a few short transactions, not thousands.

Every vote (and every poll close) is queued with a future; one flusher task at a time takes
everything queued, writes it in a single transaction and resolves the futures, so a voter
hears back only once their vote is committed: nothing is acknowledged and then lost. While
one batch commits the next one fills up, so the batch size follows the load by itself.

Within a batch, items apply in arrival order: the last vote of a person wins, a toggle sees
the choices left by the votes before it, and votes queued after a close are refused.

The box is the only writer of votes and of a poll's open/closed state, so it can remember
both: whether each poll it has seen is open, and who has a stored vote in it. A batch of
first votes (the usual storm) is then a single multi-row INSERT, and a changed vote adds a
DELETE of that person's earlier rows. Uniqueness still rests on the primary key (poll,
voter, option); if a batch fails anyway, each item is retried alone, deleting first
regardless of what the box remembers, so one bad item fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.anonymity import erase_poll_secret
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
    """Close a poll (and erase its salt). Resolves to False if it was already closed."""

    poll_id: int
    closed_at: int
    future: asyncio.Future[bool | None] = field(default_factory=_future)


@dataclass(slots=True)
class _PollState:
    open: bool
    voters: set[str]


class BallotBox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queue: list[Ballot | Closing] = []
        self._flusher: asyncio.Task[None] | None = None
        self._polls: dict[int, _PollState] = {}

    async def cast(self, item: Ballot | Closing) -> bool | None:
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

    async def _apply(self, batch: list[Ballot | Closing], *, trust_memory: bool) -> list[bool | None]:
        # Reads happen before the transaction: only this box changes votes and poll states,
        # and it runs one batch at a time, so they are current; the transaction then starts
        # with a write, taking SQLite's write lock before anything else.
        unknown = {i.poll_id for i in batch} - (set(self._polls) if trust_memory else set())
        if unknown:
            self._polls.update(await self._load(unknown))
        is_open = {pid: state.open for pid, state in self._polls.items() if pid in {i.poll_id for i in batch}}
        final: dict[tuple[int, str], set[int]] = {}
        closes: list[Closing] = []
        results: list[bool | None] = []
        for item in batch:
            if isinstance(item, Closing):
                results.append(is_open.get(item.poll_id, False))
                if is_open.get(item.poll_id):
                    closes.append(item)
                is_open[item.poll_id] = False
                continue
            if not is_open.get(item.poll_id, False):
                results.append(None if item.toggle is not None else False)
                continue
            key = (item.poll_id, item.voter)
            if item.toggle is None:
                final[key] = set(item.choices)
                results.append(True)
                continue
            if key not in final:
                final[key] = await self._current(*key)
            chosen = final[key]
            results.append(item.toggle not in chosen)
            chosen.symmetric_difference_update({item.toggle})

        replace: dict[int, list[str]] = {}
        for poll_id, voter in final:
            if not trust_memory or voter in self._polls[poll_id].voters:
                replace.setdefault(poll_id, []).append(voter)
        rows = [{"poll_id": p, "voter": v, "option": o} for (p, v), chosen in final.items() for o in sorted(chosen)]
        if replace or rows or closes:
            c = poll_votes.c
            async with self._engine.begin() as conn:
                for poll_id, voters in replace.items():
                    for chunk in _chunks(voters):
                        await conn.execute(poll_votes.delete().where(c.poll_id == poll_id, c.voter.in_(chunk)))
                if rows:
                    await conn.execute(poll_votes.insert(), rows)
                for closing in closes:
                    await conn.execute(polls.update().where(polls.c.id == closing.poll_id,
                                                            polls.c.closed_at.is_(None))
                                       .values(closed_at=closing.closed_at, salt=None))
                    await erase_poll_secret(conn, closing.poll_id)
        # Remember only what is committed.
        for (poll_id, voter), chosen in final.items():
            if chosen:
                self._polls[poll_id].voters.add(voter)
        for closing in closes:
            self._polls[closing.poll_id] = _PollState(open=False, voters=set())
        return results

    async def _load(self, poll_ids: set[int]) -> dict[int, _PollState]:
        found = {pid: _PollState(open=False, voters=set()) for pid in poll_ids}
        async with self._engine.connect() as conn:
            for row in await conn.execute(sa.select(polls.c.id).where(polls.c.id.in_(poll_ids),
                                                                       polls.c.closed_at.is_(None))):
                found[row[0]].open = True
            open_ids = [pid for pid, state in found.items() if state.open]
            if open_ids:
                for poll_id, voter in await conn.execute(
                        sa.select(poll_votes.c.poll_id, poll_votes.c.voter).distinct()
                        .where(poll_votes.c.poll_id.in_(open_ids))):
                    found[poll_id].voters.add(voter)
        return found

    async def _current(self, poll_id: int, voter: str) -> set[int]:
        c = poll_votes.c
        async with self._engine.connect() as conn:
            return {r[0] for r in await conn.execute(sa.select(c.option).where(c.poll_id == poll_id,
                                                                                c.voter == voter))}


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _settle(item: Ballot | Closing, outcome: bool | BaseException | None) -> None:
    if item.future.done():  # the caller gave up waiting (cancelled)
        return
    if isinstance(outcome, BaseException):
        item.future.set_exception(outcome)
    else:
        item.future.set_result(outcome)
