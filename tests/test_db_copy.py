"""``eventbot db copy``: an organiser outgrowing SQLite moves everything to PostgreSQL, checked."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from tests.databases import PostgresServer
from tests.harness import START, Harness, make_occurrence
from tests.live.conftest import go_live


async def _busy_event(tmp_path: Path, db: Path | str) -> None:
    session = make_occurrence("Copied session", START + timedelta(hours=2))
    async with Harness.open(tmp_path, db=db) as h:
        await h.add_occurrences(session)
        for person in ("alice", "bob", "carys"):
            await h.say(person, "/subscribe all")
        await go_live(h)
        await h.say("fac", '/poll "Which topic?" Ethics Practice')
        await h.say("alice", "/vote 1")
        await h.say("bob", "/vote 2")
        await h.say("carys", "/ask --anonymous What about supervision?")
        await h.say("alice", "/checkin")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_copy_sqlite_to_postgresql_keeps_everything(tmp_path: Path, postgres: PostgresServer,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    sqlite, url = tmp_path / "old.db", postgres.database()
    asyncio.run(_busy_event(tmp_path, sqlite))
    code, out, err = run(capsys, "db", "copy", "--from", str(sqlite), "--to", url)
    assert code == 0, err
    assert out.startswith("Copied ") and out.endswith("every table's count matches.\n")
    for args in (("reminders", "--json"), ("export-results", "--json"),
                 ("events", "--from", "2025-03-17", "--json")):
        assert run(capsys, "--db", url, *args)[1] == run(capsys, "--db", str(sqlite), *args)[1], args

    async def carry_on() -> None:  # new rows on the copy get new ids (its sequences moved on)
        async with Harness.open(tmp_path, db=url) as h:
            await h.say("fac", '/poll "Another?" Yes No')
            assert await h.say("alice", "/vote 1")
            await h.say("dai", "/ask A second question")
    asyncio.run(carry_on())
    assert len(json.loads(run(capsys, "--db", url, "export-results", "--json")[1])["polls"]) == 2


def test_copy_into_a_database_that_holds_data_is_refused(tmp_path: Path, postgres: PostgresServer,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    sqlite, url = tmp_path / "old.db", postgres.database()
    asyncio.run(_busy_event(tmp_path, sqlite))
    assert run(capsys, "db", "copy", "--from", str(sqlite), "--to", url)[0] == 0
    before = run(capsys, "--db", url, "reminders", "--json")[1]
    code, out, err = run(capsys, "db", "copy", "--from", str(sqlite), "--to", url)
    assert code == 1 and out == ""
    assert err.startswith("error: database copy refused: postgresql+asyncpg://postgres@/") and err.count("\n") == 1
    assert "already holds data" in err
    assert run(capsys, "--db", url, "reminders", "--json")[1] == before
