"""Forgetting who did what: what is erased when a poll or a session's Q&A closes.

While a poll or Q&A is open the store keeps a secret (a random salt) that turns a person's
id into the key their anonymous ballot, question or upvote is stored under, so it can hold
one ballot per person and stop self-upvotes. Whoever holds the database can link those keys
to people until then. At close, inside the transaction that closes it:

- the salt is set to NULL;
- every stored key is replaced by a fresh random token (one per ballot, so the options of a
  multiple-choice ballot stay together; one per upvote; an empty key for every question,
  named or not), because a key seen next to a name elsewhere would otherwise link it;
- the rewritten rows are inserted in random order, so row order says nothing of who came when.

On SQLite each connection runs with ``secure_delete`` (freed bytes are zeroed) and the WAL is
truncated after a close (``forget_on_disk``), so the old pages are not left in the files.
"""

from __future__ import annotations

import logging
import secrets

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.schema import live_sessions, poll_votes, polls, question_upvotes, questions

log = logging.getLogger(__name__)

CLOSED_KEY = ""
"""``questions.author_key`` once its Q&A round has closed: linked to nobody."""


def _shuffled(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(rows, key=lambda _row: secrets.randbits(64))


async def erase_poll_secret(conn: AsyncConnection, poll_id: int) -> None:
    """Drop a poll's salt and make its anonymous ballots unlinkable (called as it closes)."""
    anonymous = await conn.scalar(sa.select(polls.c.anonymous).where(polls.c.id == poll_id))
    await conn.execute(polls.update().where(polls.c.id == poll_id).values(salt=None))
    if not anonymous:
        return  # votes of a named poll are stored by person, as everyone was told
    c = poll_votes.c
    rows = (await conn.execute(sa.select(c.voter, c.option).where(c.poll_id == poll_id))).all()
    if not rows:
        return
    ballots = {voter: secrets.token_hex(32) for voter in {r.voter for r in rows}}
    await conn.execute(poll_votes.delete().where(c.poll_id == poll_id))
    await conn.execute(poll_votes.insert(), _shuffled(
        [{"poll_id": poll_id, "voter": ballots[r.voter], "option": r.option} for r in rows]))


async def erase_qa_secret(conn: AsyncConnection, occurrence_id: str) -> None:
    """Close a session's Q&A round and make its askers and upvoters unlinkable."""
    await conn.execute(live_sessions.update().where(live_sessions.c.occurrence_id == occurrence_id)
                       .values(qa_open=False, salt=None))
    await conn.execute(questions.update().where(questions.c.occurrence_id == occurrence_id)
                       .values(author_key=CLOSED_KEY))
    ids = sa.select(questions.c.id).where(questions.c.occurrence_id == occurrence_id).scalar_subquery()
    u = question_upvotes.c
    rows = (await conn.execute(sa.select(u.question_id).where(u.question_id.in_(ids)))).all()
    if not rows:
        return
    await conn.execute(question_upvotes.delete().where(u.question_id.in_(ids)))
    await conn.execute(question_upvotes.insert(), _shuffled(
        [{"question_id": r.question_id, "voter_key": secrets.token_hex(32)} for r in rows]))


async def forget_on_disk(engine: AsyncEngine) -> None:
    """Move committed pages into the database file and truncate SQLite's WAL, so an erased
    salt's old page does not linger in the ``-wal`` file. Best effort: a busy reader only
    delays it to the next close or the next automatic checkpoint."""
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL: dead row versions go at the next VACUUM (see README)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except Exception:
        log.warning("could not checkpoint the database after erasing a secret", exc_info=True)
