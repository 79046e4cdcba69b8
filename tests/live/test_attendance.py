"""Attendance for CPD: the check-in window and code, /attendance, /mycpd, certificates."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.i18n import translator
from bot.live.certificate import certificate_html
from bot.models import Checkin
from tests.databases import database_for
from tests.harness import START, Harness, make_occurrence
from tests.live.conftest import go_live

LATER = make_occurrence("Mental Capacity Act refresher", START + timedelta(hours=2), 60, id="ev2")


async def test_checkin_window(tmp_path: Path) -> None:
    async with Harness.open(tmp_path) as h:
        await h.add_occurrences(LATER)
        await go_live(h, LATER)  # a facilitator can go live early
        early = await h.say("alice", "/checkin")
        assert early == ["Check-in for “Mental Capacity Act refresher” opens at 09:45 GMT, 15 minutes before it starts."]
        await h.advance(timedelta(hours=1, minutes=46))
        assert (await h.say("alice", "/checkin"))[0].startswith("✅ alice, you are checked in")
        assert await h.say("alice", "/checkin") == ["You are already checked in to “Mental Capacity Act refresher”."]
        await h.advance(timedelta(hours=1, minutes=15))
        assert await h.say("bob", "/checkin") == [
            "Check-in for “Mental Capacity Act refresher” has closed: the session has ended."]


async def test_checkin_code(live: Harness) -> None:
    assert await live.say("alice", "/checkin code XYZ") == ["Only facilitators and organisers can use /checkin code."]
    assert await live.say("fac", "/checkin code Hwyl42") == ["Check-in now needs the code Hwyl42: /checkin Hwyl42"]
    assert await live.say("alice", "/checkin") == [
        "This session needs the check-in code the facilitator announces: /checkin CODE."]
    assert await live.say("alice", "/checkin nope") == ["That check-in code is not right. Check it with the facilitator."]
    assert (await live.say("alice", "/checkin hwyl42"))[0].startswith("✅")
    await live.say("fac", "/checkin code off")
    assert (await live.say("bob", "/checkin"))[0].startswith("✅")


async def test_attendance_and_mycpd(live: Harness) -> None:
    await live.say("alice", "/checkin")
    await live.say("bob", "/checkin")
    await live.say("fac", "/attendance")
    listing = live.adapter.texts(live.adapter.to("fac"))[-1]
    assert listing.splitlines() == ["2 people checked in to “Safeguarding adults”:", "• alice (08:00)", "• bob (08:00)"]
    await live.add_occurrences(LATER)
    await live.say("fac", "/live end")
    await live.say("org", f"/live {LATER.id}")
    await live.advance(timedelta(hours=2))
    await live.say("alice", "/checkin")
    await live.say("alice", "/mycpd")
    record = live.adapter.texts(live.adapter.to("alice"))[-1].splitlines()
    assert record[0] == "Your CPD record:"
    assert record[1].endswith("Safeguarding adults — 1.5 h") and record[2].endswith("refresher — 1 h")
    assert record[3] == "Total: 2.5 CPD hours."
    assert await live.say("carol", "/mycpd") == [
        "You have not checked in to any session yet. Use /checkin during a session."]


def test_certificate_is_escaped_and_complete() -> None:
    o = make_occurrence("Risk & <b>resilience</b>", START, 120, id="ev9", cpd_hours=2.0,
                        facilitator="Siân O'Neill <siân@example.org>")
    page = certificate_html(o, Checkin("ev9", "telegram:7", "x", START), translator("en"),
                            name="<script>alert(1)</script> Rhys")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; Rhys" in page
    assert "Risk &amp; &lt;b&gt;resilience&lt;/b&gt;" in page
    assert "Siân O&#x27;Neill &lt;siân@example.org&gt;" in page
    assert "Mon 17 Mar 2025, 08:00 GMT–10:00" in page and ">2<" in page
    assert "Certificate of attendance" in page


def _prepared_db(tmp_path: Path) -> Path | str:
    db = database_for(tmp_path)

    async def scenario() -> None:
        async with Harness.open(tmp_path, db=db) as h:
            await go_live(h)
            await h.say("alice", "/checkin")
            await h.say("bob", "/checkin")

    asyncio.run(scenario())
    return db


def test_export_attendance_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = _prepared_db(tmp_path)
    assert main(["--db", str(db), "export-attendance", "--calendar", "sww", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "event,title,start,end,timezone,cpd_hours,facilitator,user_id,name,checked_in_at"
    assert lines[1].startswith("ev1,Safeguarding adults,2025-03-17T08:00:00+00:00,")
    assert ",1.5,Dr Megan Rhys,fake:alice,alice," in lines[1]
    assert len(lines) == 3
    assert main(["--db", str(db), "export-attendance", "--calendar", "nope"]) == 1


async def test_certificate_needs_files(live: Harness) -> None:
    await live.say("alice", "/checkin")
    assert (await live.say("alice", "/certificate"))[0].startswith("I cannot send files here")
