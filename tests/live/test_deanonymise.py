"""Someone holds a copy of the database (or a backup): can they tell who voted, asked or upvoted
anonymously? While a poll or Q&A is open, yes (its salt is on disk, as the README says); once it
has closed, nobody can, by any route ``tests.deanon`` knows."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from tests.databases import mode
from tests.deanon import Linked, link_identities
from tests.harness import Harness
from tests.live.conftest import SESSION

pytestmark = pytest.mark.skipif(
    mode() == "postgresql", reason="the attacker reads a SQLite file, its WAL and copies of them (a backup)")

VOTERS = [f"voter{i}" for i in range(6)]
ASKERS = ["asker0", "asker1", "asker2"]
NAMED = ["named0", "named1"]  # ask under their name, and upvote anonymous questions
EVERYONE = [f"fake:{p}" for p in [*VOTERS, *ASKERS, *NAMED, "bystander", "fac", "org"]]


def backup(h: Harness, to: Path) -> Path:
    """What a nightly copy of the files would hold at this moment."""
    to.mkdir()
    db = h.config.db
    for path in (db, Path(f"{db}-wal")):
        if path.exists():
            shutil.copy(path, to / path.name)
    return to / db.name


async def take_part(h: Harness) -> None:
    await h.say("fac", '/poll "Is supervision regular enough?" "Yes" "No" "Unsure" --anonymous --multi')
    for i, voter in enumerate(VOTERS):
        await h.say(voter, f"/vote {1 + i % 3}", chat=h.adapter.dm(voter))
    await h.press("voter0", "poll:1:vote:2")  # a second choice on the same ballot
    await h.say("voter1", "/vote 3")  # a changed vote
    for asker in ASKERS:
        await h.say(asker, f"/ask --anonymous What does {asker} not want to ask aloud?", chat=h.adapter.dm(asker))
    for named in NAMED:
        await h.say(named, f"/ask Question from {named}")
        for n in (1, 2, 3):
            await h.say(named, f"/upvote {n}", chat=h.adapter.dm(named))
    await h.say("asker0", "/upvote 2", chat=h.adapter.dm("asker0"))


ALL_OPEN = Linked(voters=(6, 6), askers=(3, 3), upvoters=(7, 7))
NONE = Linked(voters=(0, 6), askers=(0, 3), upvoters=(0, 7))


async def test_nobody_is_linked_once_the_poll_and_qa_close(live: Harness, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await take_part(live)
    # While open, the attacker links everyone: the test can tell a leak from no leak.
    assert link_identities(backup(live, tmp_path / "open"), EVERYONE) == ALL_OPEN

    await live.say("fac", "/closepoll")
    await live.say("fac", "/qa close")
    assert link_identities(backup(live, tmp_path / "closed"), EVERYONE) == NONE
    assert link_identities(live.config.db, EVERYONE) == NONE

    # The results are unchanged by forgetting who gave them.
    poll = await live.app.store.live.get_poll(1)
    assert poll is not None
    tally = await live.app.store.live.tally(poll)
    assert tally.voters == 6 and sum(tally.votes) == 7
    assert [q.upvotes for q in await live.app.store.live.questions_of("ev1")] == [2, 3, 2, 0, 0]
    # Nor did any log line name an anonymous voter, asker or upvoter.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not [p for p in [*VOTERS, *ASKERS] if p in logged], logged


async def test_qa_closes_and_forgets_at_the_end_of_the_session(live: Harness, tmp_path: Path) -> None:
    await take_part(live)
    await live.say("fac", "/closepoll")
    await live.advance(SESSION.end - live.clock.now())
    assert (await live.app.store.live.get_session("ev1")).qa_open is False
    assert link_identities(backup(live, tmp_path / "after"), EVERYONE) == NONE
    assert await live.say("fac", "/qa open") == ["Q&A has closed: the session has ended."]


async def test_a_session_that_ended_while_the_bot_was_down_is_forgotten_at_start(live: Harness,
                                                                                tmp_path: Path) -> None:
    await take_part(live)
    await live.say("fac", "/live end")  # closes the poll and Q&A
    assert link_identities(live.config.db, EVERYONE) == NONE

    await live.say("fac", "/live ev1")
    await live.say("fac", "/qa open")
    await live.say("asker0", "/ask --anonymous One more, after the break?", chat=live.adapter.dm("asker0"))
    assert link_identities(live.config.db, EVERYONE).askers == (1, 4)
    # Down from before the end until after it: the alarm never ran.
    await live.app.store.close()
    live.clock.advance(SESSION.end - live.clock.now() + timedelta(hours=1))
    await live.restart()
    assert link_identities(backup(live, tmp_path / "restarted"), EVERYONE).askers == (0, 4)


async def test_upvotes_from_before_qa_closed_are_final(live: Harness) -> None:
    await live.say("alice", "/ask First?")
    await live.say("bob", "/upvote 1")
    await live.say("fac", "/qa close")
    await live.say("fac", "/qa open")
    assert await live.say("bob", "/upvote 1") == ["Q&A closed after question 1 was asked, so its upvotes are final."]
    await live.say("alice", "/ask Second?")
    assert await live.say("alice", "/upvote 2") == ["You cannot upvote your own question."]
    assert (await live.say("bob", "/upvote 2"))[0].startswith("👍")


async def test_migration_12_lets_an_older_database_erase_its_qa_salts(tmp_path: Path) -> None:
    from bot.clock import FakeClock
    from bot.store.sql import SqlStore
    from tests.harness import START

    db = tmp_path / "bot.db"
    store = await SqlStore.open(db, FakeClock(START))
    async with store.engine.begin() as conn:
        # live_sessions and users as they were before migration 12.
        await conn.exec_driver_sql("DROP TABLE live_sessions")
        await conn.exec_driver_sql(
            "CREATE TABLE live_sessions (occurrence_id VARCHAR(16) NOT NULL PRIMARY KEY, "
            "qa_open BOOLEAN DEFAULT 1 NOT NULL, moderated BOOLEAN DEFAULT 0 NOT NULL, "
            "checkin_code VARCHAR(64) DEFAULT '' NOT NULL, question_counter INTEGER DEFAULT '0' NOT NULL, "
            "salt VARCHAR(64) NOT NULL)")
        await conn.exec_driver_sql("INSERT INTO live_sessions (occurrence_id, qa_open, salt) "
                                   f"VALUES ('old1', 0, '{'ab' * 32}')")
        await conn.exec_driver_sql("ALTER TABLE users DROP COLUMN username")
        await conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 12")
    await store.close()

    async with Harness.open(tmp_path) as h:  # migrates, then erases what a closed Q&A still held
        assert await h.app.store.live.sessions_holding_secrets() == []
        assert (await h.app.store.live.get_session("old1")).qa_open is False
        await h.say("alice", "hello")
        assert (await h.app.store.people.get_settings("fake:alice")).username == "alice"
