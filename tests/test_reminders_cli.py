"""``eventbot reminders``: counts by status, fan-out progress and the failures, for organisers."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import SystemClock
from bot.store.sql import SqlStore
from tests.harness import START, Harness, make_occurrence


async def _fill(tmp_path: Path, db: Path | str) -> None:
    session = make_occurrence("CLI session", START + timedelta(hours=2))
    later = make_occurrence("Later session", START + timedelta(days=3))
    async with Harness.open(tmp_path, db=db, offsets=(timedelta(minutes=30),)) as h:
        await h.add_occurrences(session, later)
        await h.say("alice", "/subscribe all")
        await h.say("bob", "/subscribe all", chat=h.adapter.dm("bob"))  # no shared chat to fall back to
        h.adapter.unreachable.add("fake:bob")
        await h.advance(timedelta(hours=2))


def test_reminders_command_shows_counts_progress_and_failures(tmp_path: Path, database: Path | str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_fill(tmp_path, database))
    db = str(database)
    assert main(["--db", db, "reminders", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"pending": 1, "sending": 0, "sent": 1, "failed": 2, "expired": 0}
    assert report["fanout"]["sent"] == 1 and report["fanout"]["finished"]
    assert report["workers"] == []  # the bot that sent them stopped cleanly
    assert {r["user"] for r in report["reminders"]} == {"fake:bob"}
    assert {r["title"] for r in report["reminders"]} == {"CLI session", "Later session"}

    assert main(["--db", db, "reminders", "--status", "pending"]) == 0
    out = capsys.readouterr().out
    assert "reminders: pending 1, sending 0, sent 1, failed 2, expired 0" in out
    assert "pending fake:alice “Later session”" in out


def test_reminders_command_shows_the_bot_processes_and_their_last_heartbeat(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def crashed() -> None:
        store = await SqlStore.open(tmp_path / "bot.db", SystemClock())
        try:
            await store.workers.register("bot-host", 4242, "", int(SystemClock().now().timestamp()) - 600)
        finally:
            await store.close()

    asyncio.run(crashed())
    assert main(["--db", str(tmp_path / "bot.db"), "reminders"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"worker #1 bot-host pid 4242, started \S+, last heartbeat 6\d\ds ago", out)


def test_reminders_command_speaks_the_configured_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # A Welsh-speaking organiser's bot (language = "cy") answers them in Welsh on the shell too.
    asyncio.run(_fill(tmp_path, tmp_path / "bot.db"))
    monkeypatch.setenv("EVENTBOT_LANGUAGE", "cy")
    assert main(["--db", str(tmp_path / "bot.db"), "reminders"]) == 0
    out = capsys.readouterr().out
    assert "nodiadau atgoffa: pending 1, sending 0, sent 1, failed 2, expired 0" in out
    assert re.search(r"dechreuwyd anfon \S+ \(gorffennwyd \S+\): 1 wedi’u hanfon", out)
    assert re.search(r"#\d+ failed fake:bob “CLI session” i’w anfon \S+ \(dechrau \S+\), ymdrechion 1: ", out)
    assert "reminders:" not in out and "attempts" not in out

    assert main(["--db", str(tmp_path / "bot.db"), "reminders", "--status", "expired"]) == 0
    assert capsys.readouterr().err.strip() == "dim nodiadau atgoffa expired"
