"""Live sessions in SQL: chat bindings, polls and votes, questions and upvotes, check-ins.

Concurrency: every write that could race (a vote, a question number, an upvote, a check-in)
is one transaction whose first statement writes, so SQLite takes its write lock before it
reads anything and PostgreSQL's row locks serialise the same way; primary keys and unique
constraints make a duplicate impossible rather than unlikely.

Anonymity: for an anonymous poll the store keeps, per vote, only ``HMAC(salt, poll:user)``
with a random per-poll salt, which lets it replace a person's earlier vote while the poll
is open. Upvotes and askers are keyed the same way with a per-session salt while Q&A is
open. When the poll, or the Q&A round, closes, the salt is erased and every key replaced by
a random token in the same transaction (``bot.store.anonymity``), after which nobody, the
operator with the database included, can link a stored row back to a person.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import (
    Checkin,
    LiveBinding,
    LiveSession,
    NativePollAnswers,
    Poll,
    PollTally,
    Question,
    QuestionStatus,
)
from bot.store import identities
from bot.store.anonymity import CLOSED_KEY, erase_poll_secret, erase_qa_secret, forget_on_disk
from bot.store.ballots import Ballot, BallotBox, Closing, Recount
from bot.store.batching import WriteGate
from bot.store.schema import (
    checkins,
    live_bindings,
    live_sessions,
    occurrences,
    poll_votes,
    polls,
    question_upvotes,
    questions,
)


def _ts(when: datetime) -> int:
    return int(when.timestamp())


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def keyed(salt: str, scope: str, user_id: str) -> str:
    """The stored stand-in for a person: unlinkable without ``salt``."""
    return hmac.new(bytes.fromhex(salt), f"{scope}:{user_id}".encode(), hashlib.sha256).hexdigest()


def _poll(r: Any) -> Poll:
    return Poll(id=r.id, occurrence_id=r.occurrence_id, chat_id=r.chat_id, question=r.question,
                options=tuple(json.loads(r.options)), multi=bool(r.multi), anonymous=bool(r.anonymous),
                correct=r.correct, created_by=r.created_by, created_at=_dt(r.created_at),
                closes_at=_dt(r.closes_at), closed_at=_dt(r.closed_at), message_id=r.message_id,
                poll_ref=r.poll_ref)


def _votes_by_voter(by_option: Sequence[Sequence[str]]) -> dict[str, frozenset[int]]:
    chosen: dict[str, set[int]] = {}
    for option, voters in enumerate(by_option):
        for voter in voters:
            chosen.setdefault(voter, set()).add(option)
    return {voter: frozenset(options) for voter, options in chosen.items()}


_POLL_COLUMNS = [c for c in polls.c if c.name not in {"salt", "platform_tally"}]
_QUESTION_COLUMNS = [c for c in questions.c if c.name != "author_key"]


def _question(r: Any) -> Question:
    return Question(id=r.id, occurrence_id=r.occurrence_id, number=r.number, text=r.text,
                    status=QuestionStatus(r.status), upvotes=int(r.upvotes or 0), author_id=r.author_id,
                    author_name=r.author_name, asked_at=_dt(r.asked_at))


class _AlreadyIn(Exception):
    """The person checked in to the session from another of their accounts."""


class SqlLiveRepository:
    def __init__(self, engine: AsyncEngine, gate: WriteGate | None = None) -> None:
        self._engine = engine
        # Salts of open polls, so a vote costs one write transaction and no extra read.
        self._poll_salts: dict[int, str] = {}
        # Open polls by chat and by id: every vote looks its poll up. Another process on the
        # same database may close one, so these are only hints: the ballot box reads whether
        # a poll is open inside every write, and a poll it finds closed is dropped from here.
        self._open_in_chat: dict[str, Poll | None] = {}
        self._open_by_id: dict[int, Poll] = {}
        self._open_by_ref: dict[str, Poll] = {}
        self._loading_open: dict[str, asyncio.Future[Poll | None]] = {}
        self._poll_generation = 0  # bumped on every change, so a read that raced one is not cached
        self._ballots = BallotBox(engine, gate)
        self._ballots.closed_seen = self._closed_elsewhere

    # -- bindings --------------------------------------------------------------------

    async def bind_chat(self, chat_id: str, occurrence_id: str, bound_by: str, now: datetime) -> None:
        c = live_bindings.c
        async with self._engine.begin() as conn:
            await conn.execute(live_bindings.update().where(c.chat_id == chat_id, c.ended_at.is_(None))
                               .values(ended_at=_ts(now)))
            updated = await conn.execute(live_bindings.update().where(
                c.chat_id == chat_id, c.occurrence_id == occurrence_id)
                .values(ended_at=None, bound_by=bound_by, bound_at=_ts(now)))
            if not updated.rowcount:
                await conn.execute(live_bindings.insert().values(
                    chat_id=chat_id, occurrence_id=occurrence_id, bound_by=bound_by, bound_at=_ts(now)))

    async def binding_for(self, chat_id: str) -> LiveBinding | None:
        c = live_bindings.c
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(live_bindings).where(c.chat_id == chat_id, c.ended_at.is_(None))
                                      .order_by(c.bound_at.desc()).limit(1))).first()
        return None if row is None else LiveBinding(row.chat_id, row.occurrence_id, row.bound_by,
                                                    _dt(row.bound_at))  # type: ignore[arg-type]

    async def end_binding(self, chat_id: str, now: datetime) -> bool:
        c = live_bindings.c
        async with self._engine.begin() as conn:
            result = await conn.execute(live_bindings.update().where(c.chat_id == chat_id, c.ended_at.is_(None))
                                        .values(ended_at=_ts(now)))
        return bool(result.rowcount)

    async def bindings_on(self, platform: str) -> list[LiveBinding]:
        c = live_bindings.c
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(live_bindings).where(c.chat_id.like(f"{platform}:%"),
                                                                     c.ended_at.is_(None)))
            return [LiveBinding(r.chat_id, r.occurrence_id, r.bound_by, _dt(r.bound_at))  # type: ignore[arg-type]
                    for r in rows]

    async def chats_bound_to(self, occurrence_id: str) -> list[str]:
        c = live_bindings.c
        async with self._engine.connect() as conn:
            return [r[0] for r in await conn.execute(sa.select(c.chat_id).where(
                c.occurrence_id == occurrence_id, c.ended_at.is_(None)).order_by(c.chat_id))]

    async def was_bound(self, chat_id: str, occurrence_id: str) -> bool:
        c = live_bindings.c
        async with self._engine.connect() as conn:
            found = await conn.scalar(sa.select(sa.func.count()).select_from(live_bindings)
                                      .where(c.chat_id == chat_id, c.occurrence_id == occurrence_id))
        return bool(found)

    # -- session settings --------------------------------------------------------------

    async def _ensure_session(self, occurrence_id: str) -> str:
        """The session's Q&A salt, made now if it has none (first use, or a new round after a
        close erased it). Read from the store each time, never cached: a close in another
        process must be seen at once."""
        s = live_sessions.c
        async with self._engine.connect() as conn:
            salt = await conn.scalar(sa.select(s.salt).where(s.occurrence_id == occurrence_id))
        if salt is not None:
            return str(salt)
        try:
            async with self._engine.begin() as conn:
                fresh = secrets.token_hex(32)
                updated = await conn.execute(live_sessions.update().where(
                    s.occurrence_id == occurrence_id, s.salt.is_(None)).values(salt=fresh))
                if not updated.rowcount:
                    await conn.execute(live_sessions.insert().values(occurrence_id=occurrence_id, salt=fresh))
        except IntegrityError:  # created concurrently: use theirs
            pass
        async with self._engine.connect() as conn:
            salt = await conn.scalar(sa.select(s.salt).where(s.occurrence_id == occurrence_id))
        assert salt is not None
        return str(salt)

    async def get_session(self, occurrence_id: str) -> LiveSession:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(live_sessions)
                                      .where(live_sessions.c.occurrence_id == occurrence_id))).first()
        if row is None:
            return LiveSession(occurrence_id)
        return LiveSession(occurrence_id, qa_open=bool(row.qa_open), moderated=bool(row.moderated),
                           checkin_code=row.checkin_code, focus=row.focus_question)

    async def set_focus(self, occurrence_id: str, number: int | None) -> None:
        s = live_sessions.c
        async with self._engine.begin() as conn:
            updated = await conn.execute(live_sessions.update().where(s.occurrence_id == occurrence_id)
                                         .values(focus_question=number))
            if not updated.rowcount:
                await conn.execute(live_sessions.insert().values(occurrence_id=occurrence_id, focus_question=number))

    async def update_session(self, session: LiveSession) -> None:
        s = live_sessions.c
        values = {"qa_open": session.qa_open, "moderated": session.moderated, "checkin_code": session.checkin_code}
        async with self._engine.begin() as conn:
            updated = await conn.execute(live_sessions.update().where(s.occurrence_id == session.occurrence_id)
                                         .values(**values))
            if not updated.rowcount:
                await conn.execute(live_sessions.insert().values(occurrence_id=session.occurrence_id, **values))
            if not session.qa_open:
                await erase_qa_secret(conn, session.occurrence_id)
        if not session.qa_open:
            await forget_on_disk(self._engine)

    async def close_qa(self, occurrence_id: str) -> None:
        async with self._engine.begin() as conn:
            await erase_qa_secret(conn, occurrence_id)
        await forget_on_disk(self._engine)

    async def sessions_holding_secrets(self) -> list[str]:
        s = live_sessions.c
        async with self._engine.connect() as conn:
            return [r[0] for r in await conn.execute(sa.select(s.occurrence_id).where(s.salt.is_not(None))
                                                     .order_by(s.occurrence_id))]

    async def erase_leftover_secrets(self) -> int:
        """Erase what a closed poll or Q&A round still holds (from before this was done at close)."""
        async with self._engine.begin() as conn:
            poll_ids = [r[0] for r in await conn.execute(sa.select(polls.c.id).where(
                polls.c.closed_at.is_not(None), polls.c.salt.is_not(None)))]
            for poll_id in poll_ids:
                await erase_poll_secret(conn, poll_id)
            sessions = [r[0] for r in await conn.execute(sa.select(live_sessions.c.occurrence_id).where(
                live_sessions.c.qa_open.is_(False), live_sessions.c.salt.is_not(None)))]
            for occurrence_id in sessions:
                await erase_qa_secret(conn, occurrence_id)
        if poll_ids or sessions:
            await forget_on_disk(self._engine)
        return len(poll_ids) + len(sessions)

    # -- polls -----------------------------------------------------------------------

    async def create_poll(self, poll: Poll) -> Poll:
        salt = secrets.token_hex(32) if poll.anonymous else None
        async with self._engine.begin() as conn:
            result = await conn.execute(polls.insert().values(
                occurrence_id=poll.occurrence_id, chat_id=poll.chat_id, question=poll.question,
                options=json.dumps(list(poll.options), ensure_ascii=False), multi=poll.multi,
                anonymous=poll.anonymous, correct=poll.correct, created_by=poll.created_by,
                created_at=_ts(poll.created_at) if poll.created_at else 0,
                closes_at=_ts(poll.closes_at) if poll.closes_at else None, salt=salt))
            poll_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        if salt is not None:
            self._poll_salts[poll_id] = salt
        self._forget_polls()
        found = await self.get_poll(poll_id)
        assert found is not None
        return found

    async def set_poll_delivery(self, poll_id: int, message_id: str | None, poll_ref: str | None) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(polls.update().where(polls.c.id == poll_id)
                               .values(message_id=message_id, poll_ref=poll_ref))
        self._forget_polls()

    def _closed_elsewhere(self, poll_ids: set[int]) -> None:
        """The store says these polls are closed: whatever this process cached of them is stale."""
        for poll_id in poll_ids:
            self._poll_salts.pop(poll_id, None)
        if any(p in self._open_by_id for p in poll_ids) or any(
                p is not None and p.id in poll_ids for p in (*self._open_in_chat.values(), *self._open_by_ref.values())):
            self._forget_polls()

    def _forget_polls(self) -> None:
        self._poll_generation += 1
        self._open_in_chat.clear()
        self._loading_open.clear()  # a look-up already under way may predate the change
        self._open_by_id.clear()
        self._open_by_ref.clear()

    async def get_poll(self, poll_id: int, *, fresh: bool = False) -> Poll | None:
        cached = None if fresh else self._open_by_id.get(poll_id)
        if cached is not None:
            return cached
        generation = self._poll_generation
        poll = await self._one_poll(sa.select(*_POLL_COLUMNS).where(polls.c.id == poll_id))
        if poll is not None and poll.is_open and generation == self._poll_generation:
            self._open_by_id[poll_id] = poll
        return poll

    async def poll_by_ref(self, poll_ref: str) -> Poll | None:
        cached = self._open_by_ref.get(poll_ref)
        if cached is not None:
            return cached
        generation = self._poll_generation
        poll = await self._one_poll(sa.select(*_POLL_COLUMNS).where(polls.c.poll_ref == poll_ref))
        if poll is not None and poll.is_open and generation == self._poll_generation:
            self._open_by_ref[poll_ref] = poll
        return poll

    async def latest_poll(self, chat_id: str, *, open_only: bool = False) -> Poll | None:
        if open_only and chat_id in self._open_in_chat:  # every vote asks: no query built
            return self._open_in_chat[chat_id]
        query = sa.select(*_POLL_COLUMNS).where(polls.c.chat_id == chat_id)
        if not open_only:
            return await self._one_poll(query.order_by(polls.c.id.desc()).limit(1))
        # One look-up per chat at a time: the votes arriving together share it.
        loading = self._loading_open.get(chat_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load_open_poll(chat_id, query))
            self._loading_open[chat_id] = loading
        return await asyncio.shield(loading)

    async def _load_open_poll(self, chat_id: str, query: sa.Select[Any]) -> Poll | None:
        generation = self._poll_generation
        try:
            poll = await self._one_poll(query.where(polls.c.closed_at.is_(None)).order_by(polls.c.id.desc()).limit(1))
        finally:
            if generation == self._poll_generation:
                self._loading_open.pop(chat_id, None)
        # Only an open poll is kept: "none open" would hide a poll another process opens.
        # A kept poll that another process closes is dropped when a vote finds it closed.
        if generation == self._poll_generation and poll is not None:
            self._open_in_chat[chat_id] = poll
        return poll

    async def latest_open_poll_on(self, platform: str) -> Poll | None:
        query = (sa.select(*_POLL_COLUMNS).where(polls.c.chat_id.like(f"{platform}:%"), polls.c.closed_at.is_(None))
                 .order_by(polls.c.id.desc()).limit(1))
        return await self._one_poll(query)

    async def _one_poll(self, query: sa.Select[Any]) -> Poll | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _poll(row)

    async def polls_of(self, occurrence_id: str | None = None, *, open_only: bool = False,
                       timed_only: bool = False) -> list[Poll]:
        query = sa.select(*_POLL_COLUMNS).order_by(polls.c.id)
        if occurrence_id is not None:
            query = query.where(polls.c.occurrence_id == occurrence_id)
        if open_only:
            query = query.where(polls.c.closed_at.is_(None))
        if timed_only:
            query = query.where(polls.c.closes_at.is_not(None))
        async with self._engine.connect() as conn:
            return [_poll(r) for r in await conn.execute(query)]

    async def close_poll(self, poll_id: int, now: datetime, *, final: NativePollAnswers | None = None) -> bool:
        # Through the ballot box, which orders it with the votes still queued.
        replace, platform_tally = None, None
        if final is not None and final.by_option is not None:
            replace = _votes_by_voter(final.by_option)
        elif final is not None:
            platform_tally = json.dumps({"votes": list(final.votes), "voters": final.voters})
        closed = bool(await self._ballots.cast(Closing(poll_id, _ts(now), replace, platform_tally)))
        self._poll_salts.pop(poll_id, None)
        self._forget_polls()
        if closed:
            await forget_on_disk(self._engine)
        return closed

    async def recount(self, poll_id: int, answers: NativePollAnswers) -> bool:
        if answers.by_option is None:
            raise ValueError("a recount needs who holds each option")
        return bool(await self._ballots.cast(Recount(poll_id, _votes_by_voter(answers.by_option))))

    async def _voter(self, poll: Poll, user_id: str) -> str | None:
        """The key a person's votes are stored under; None if the poll is closed."""
        if not poll.anonymous:
            return user_id
        salt = self._poll_salts.get(poll.id)
        if salt is None:
            async with self._engine.connect() as c:
                salt = await c.scalar(sa.select(polls.c.salt).where(polls.c.id == poll.id))
            if salt is None:
                return None
            self._poll_salts[poll.id] = salt
        return keyed(salt, f"poll{poll.id}", user_id)

    async def set_votes(self, poll: Poll, user_id: str, options: Sequence[int]) -> bool:
        voter = await self._voter(poll, user_id)
        if voter is None:
            return False
        return bool(await self._ballots.cast(Ballot(poll.id, voter, choices=frozenset(options))))

    async def toggle_vote(self, poll: Poll, user_id: str, option: int) -> bool | None:
        voter = await self._voter(poll, user_id)
        if voter is None:
            return None
        return await self._ballots.cast(Ballot(poll.id, voter, toggle=option))

    async def choices_of(self, poll: Poll, user_id: str) -> list[int]:
        """A person's current 0-based choices (empty once an anonymous poll has closed)."""
        voter = await self._voter(poll, user_id)
        if voter is None:
            return []
        c = poll_votes.c
        async with self._engine.connect() as conn:
            return [r[0] for r in await conn.execute(sa.select(c.option).where(c.poll_id == poll.id, c.voter == voter)
                                                     .order_by(c.option))]

    async def tally(self, poll: Poll) -> PollTally:
        c = poll_votes.c
        async with self._engine.connect() as conn:
            platform = await conn.scalar(sa.select(polls.c.platform_tally).where(polls.c.id == poll.id))
            if platform:
                # The platform counted some answers this process never saw; its word is final.
                counted = json.loads(platform)
                votes = tuple(int(v) for v in counted["votes"])
                return PollTally(votes=votes, voters=int(counted["voters"]),
                                 right=votes[poll.correct] if poll.correct is not None else 0)
            counts = dict((r[0], r[1]) for r in await conn.execute(
                sa.select(c.option, sa.func.count()).where(c.poll_id == poll.id).group_by(c.option)))
            voters = await conn.scalar(sa.select(sa.func.count(sa.distinct(c.voter))).where(c.poll_id == poll.id))
            right = 0
            if poll.correct is not None:
                exact = (sa.select(c.voter).where(c.poll_id == poll.id).group_by(c.voter)
                         .having(sa.and_(sa.func.count() == 1, sa.func.max(c.option) == poll.correct)))
                right = await conn.scalar(sa.select(sa.func.count()).select_from(exact.subquery())) or 0
        return PollTally(votes=tuple(int(counts.get(i, 0)) for i in range(len(poll.options))),
                         voters=int(voters or 0), right=int(right))

    async def voters_by_option(self, poll: Poll) -> list[list[str]]:
        """Who chose each option of a non-anonymous poll (never answers for an anonymous one)."""
        if poll.anonymous:
            raise PermissionError("the voters of an anonymous poll are not known")
        c = poll_votes.c
        result: list[list[str]] = [[] for _ in poll.options]
        async with self._engine.connect() as conn:
            for option, voter in await conn.execute(sa.select(c.option, c.voter).where(c.poll_id == poll.id)
                                                    .order_by(c.option, c.voter)):
                if 0 <= option < len(result):
                    result[option].append(voter)
        return result

    # -- questions ---------------------------------------------------------------------

    async def person_key(self, occurrence_id: str, user_id: str) -> str:
        """The stand-in for a person in this session's Q&A (upvotes, anonymous askers)."""
        return keyed(await self._ensure_session(occurrence_id), f"qa{occurrence_id}", user_id)

    async def add_question(self, occurrence_id: str, text: str, *, user_id: str, author_name: str | None,
                           anonymous: bool, status: QuestionStatus, now: datetime) -> Question:
        author_key = await self.person_key(occurrence_id, user_id)
        s = live_sessions.c
        async with self._engine.begin() as conn:
            # The counter update comes first: it takes the write lock, so the number read back
            # is ours alone.
            await conn.execute(live_sessions.update().where(s.occurrence_id == occurrence_id)
                               .values(question_counter=s.question_counter + 1))
            number = int(await conn.scalar(sa.select(s.question_counter)
                                           .where(s.occurrence_id == occurrence_id)) or 0)
            result = await conn.execute(questions.insert().values(
                occurrence_id=occurrence_id, number=number, text=text, status=status.value,
                author_key=author_key, author_id=None if anonymous else user_id,
                author_name=None if anonymous else author_name, asked_at=_ts(now)))
            question_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return Question(id=question_id, occurrence_id=occurrence_id, number=number, text=text, status=status,
                        author_id=None if anonymous else user_id,
                        author_name=None if anonymous else author_name, asked_at=now)

    def _questions_query(self) -> sa.Select[Any]:
        upvotes = (sa.select(question_upvotes.c.question_id, sa.func.count().label("upvotes"))
                   .group_by(question_upvotes.c.question_id).subquery())
        return (sa.select(*_QUESTION_COLUMNS, upvotes.c.upvotes)
                .select_from(questions.outerjoin(upvotes, upvotes.c.question_id == questions.c.id)))

    async def questions_of(self, occurrence_id: str) -> list[Question]:
        query = self._questions_query().where(questions.c.occurrence_id == occurrence_id).order_by(questions.c.number)
        async with self._engine.connect() as conn:
            return [_question(r) for r in await conn.execute(query)]

    async def sessions_with_questions(self) -> list[str]:
        async with self._engine.connect() as conn:
            return [r[0] for r in await conn.execute(sa.select(questions.c.occurrence_id).distinct()
                                                     .order_by(questions.c.occurrence_id))]

    async def get_question(self, occurrence_id: str, number: int) -> Question | None:
        return await self._one_question(self._questions_query().where(
            questions.c.occurrence_id == occurrence_id, questions.c.number == number))

    async def question_by_id(self, question_id: int) -> Question | None:
        return await self._one_question(self._questions_query().where(questions.c.id == question_id))

    async def _one_question(self, query: sa.Select[Any]) -> Question | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _question(row)

    async def in_closed_round(self, question: Question) -> bool:
        """Whether Q&A has closed since the question was asked (its keys are then erased)."""
        async with self._engine.connect() as conn:
            key = await conn.scalar(sa.select(questions.c.author_key).where(questions.c.id == question.id))
        return key == CLOSED_KEY

    async def is_author(self, question: Question, user_id: str) -> bool:
        key = await self.person_key(question.occurrence_id, user_id)
        async with self._engine.connect() as conn:
            return bool(await conn.scalar(sa.select(sa.func.count()).select_from(questions).where(
                questions.c.id == question.id, questions.c.author_key == key)))

    async def set_question_status(self, question_id: int, status: QuestionStatus) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(questions.update().where(questions.c.id == question_id).values(status=status.value))

    async def upvote(self, question: Question, user_id: str) -> bool:
        key = await self.person_key(question.occurrence_id, user_id)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(question_upvotes.insert().values(question_id=question.id, voter_key=key))
        except IntegrityError:
            return False
        return True

    # -- attendance --------------------------------------------------------------------

    # A person's check-ins are those of all their accounts, each kept under the account that
    # checked in (so /unlink leaves each account its own); a session counts once per person.

    async def check_in(self, checkin: Checkin) -> bool:
        c = checkins.c
        try:
            async with self._engine.begin() as conn:
                # The insert comes first, so the write lock is held before the person is read.
                await conn.execute(checkins.insert().values(
                    occurrence_id=checkin.occurrence_id, user_id=checkin.user_id, name=checkin.name,
                    checked_in_at=_ts(checkin.checked_in_at)))
                mine = await identities.accounts(conn, checkin.user_id)
                earlier = await conn.scalar(sa.select(sa.func.count()).select_from(checkins).where(
                    c.occurrence_id == checkin.occurrence_id, c.user_id.in_(mine), c.user_id != checkin.user_id))
                if earlier:
                    raise _AlreadyIn
        except (IntegrityError, _AlreadyIn):
            return False
        return True

    async def attendance(self, occurrence_id: str) -> list[Checkin]:
        c = checkins.c
        query = sa.select(checkins).where(c.occurrence_id == occurrence_id).order_by(c.checked_in_at, c.user_id)
        return await self._checkins(query)

    async def checkins_of(self, user_id: str) -> list[Checkin]:
        c = checkins.c
        async with self._engine.connect() as conn:
            mine = await identities.accounts(conn, user_id)
        return await self._checkins(sa.select(checkins).where(c.user_id.in_(mine)).order_by(c.checked_in_at))

    async def attendance_of_calendar(self, calendar: str) -> list[Checkin]:
        c = checkins.c
        query = (sa.select(checkins).join(occurrences, occurrences.c.id == c.occurrence_id)
                 .where(occurrences.c.calendar == calendar)
                 .order_by(occurrences.c.start_ts, c.occurrence_id, c.checked_in_at, c.user_id))
        return await self._checkins(query)

    async def _checkins(self, query: sa.Select[Any]) -> list[Checkin]:
        """Check-ins under their person's id, each session once per person (the earliest)."""
        person = identities.person_of_column(checkins.c.user_id).label("person")
        seen: set[tuple[str, str]] = set()
        found: list[Checkin] = []
        async with self._engine.connect() as conn:
            for r in await conn.execute(query.add_columns(person)):
                if (r.occurrence_id, r.person) in seen:
                    continue
                seen.add((r.occurrence_id, r.person))
                found.append(Checkin(r.occurrence_id, r.person, r.name, _dt(r.checked_in_at)))  # type: ignore[arg-type]
        return found
