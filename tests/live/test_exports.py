"""eventbot export-results: JSON and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.databases import database_for
from tests.harness import Harness
from tests.live.conftest import go_live


def _session_db(tmp_path: Path) -> Path | str:
    db = database_for(tmp_path)

    async def scenario() -> None:
        async with Harness.open(tmp_path, db=db) as h:
            await go_live(h)
            await h.say("fac", '/poll "Open poll?" "Yes" "No"')
            await h.say("alice", "/vote 1")
            await h.say("bob", "/vote 2")
            await h.say("fac", "/closepoll")
            await h.say("fac", '/poll "Secret?" "Yes" "No" "Maybe" --anonymous --multi')
            await h.say("carol", "/vote 1 3")
            await h.say("dylan", "/vote 3")
            await h.say("erin", "/ask Named question")
            await h.say("fred", "/ask --anonymous Anonymous question")
            await h.say("alice", "/upvote 2")

    asyncio.run(scenario())
    return db


def test_export_results_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = _session_db(tmp_path)
    assert main(["--db", str(db), "export-results", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    named, secret = data["polls"]
    assert named["question"] == "Open poll?" and named["closed"] and not named["anonymous"]
    assert [(o["text"], o["votes"]) for o in named["options"]] == [("Yes", 1), ("No", 1)]
    assert named["options"][0]["voters"] == [{"id": "fake:alice", "name": "alice"}]
    assert secret["anonymous"] and secret["multi"] and not secret["closed"] and secret["correct"] is None
    assert [o["votes"] for o in secret["options"]] == [1, 0, 2] and secret["voters"] == 2
    assert all("voters" not in o for o in secret["options"])
    assert "carol" not in json.dumps(data) and "dylan" not in json.dumps(data)
    assert data["questions"] == [
        {"event": "ev1", "number": 1, "text": "Named question", "upvotes": 0, "status": "open", "author": "erin"},
        {"event": "ev1", "number": 2, "text": "Anonymous question", "upvotes": 1, "status": "open"},
    ]
    assert main(["--db", str(db), "export-results", "--event", "nope"]) == 0
    assert json.loads(capsys.readouterr().out) == {"polls": [], "questions": []}


def test_export_results_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = _session_db(tmp_path)
    assert main(["--db", str(db), "export-results", "--event", "ev1", "--csv"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["kind"] for r in rows] == ["poll"] * 5 + ["question"] * 2
    assert rows[2]["question"] == "Secret?" and rows[4]["votes"] == "2" and rows[4]["anonymous"] == "True"
    assert rows[6]["text"] == "Anonymous question" and rows[6]["author"] == ""
    for name in ("alice", "bob", "carol", "dylan", "fred"):
        assert name not in out
