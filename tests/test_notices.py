"""Programme-change notices are durable: planned with the refresh that calls for them, in the
reminder outbox, and sent by whichever bot process runs the dispatcher, once each.

The operator's case first: ``eventbot import`` run from a terminal (or cron) while no bot
process can send anything. Then what a running bot meets: a crash right after the refresh,
a 429, a failed send, and a person whose private chat is closed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.errors import DeliveryFailed, RateLimited
from bot.ical import occurrence_id, series_id
from bot.models import Outgoing, ReminderStatus, Subscription, SubscriptionScope, UserSettings
from tests.databases import database_for
from tests.harness import Harness
from tests.test_calendars import KEYNOTE_UID, SERIES_UID, WORKSHOP_UID, calendar, vevent


def programme(start: datetime, *, keynote_moved: bool = False, workshop: bool = True) -> bytes:
    """Supervision weekly from ``start``, a keynote two days later and a workshop three days
    later; the refresh that changes the programme moves the keynote by an hour and drops the
    workshop."""
    def stamp(t: datetime) -> str:
        return f"{t:%Y%m%dT%H%M%S}Z"

    keynote = start + timedelta(days=2, hours=1 if keynote_moved else 0)
    events = [
        vevent(SERIES_UID, "SUMMARY:Group supervision", f"DTSTART:{stamp(start)}", "DURATION:PT1H",
               "RRULE:FREQ=WEEKLY;COUNT=6"),
        vevent(KEYNOTE_UID, "SUMMARY:Keynote", f"DTSTART:{stamp(keynote)}", "DURATION:PT90M"),
    ]
    if workshop:
        events.append(vevent(WORKSHOP_UID, "SUMMARY:Workshop", f"DTSTART:{stamp(start + timedelta(days=3))}",
                             "DURATION:PT2H"))
    return calendar(*events)


def eventbot(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, in a process of its own, on the real clock."""
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=120,
                          check=False)


def oid(uid: str) -> str:
    return occurrence_id("sww", uid, "")


def notices_by_person(h: Harness) -> Counter[str]:
    return Counter(m.destination for m in h.adapter.sent if m.kind == "notice")


async def test_an_import_from_the_command_line_is_told_once_the_bot_runs(tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=7)
    feed = tmp_path / "sww.ics"
    feed.write_bytes(programme(start))
    db = str(database_for(tmp_path))
    first = await asyncio.to_thread(eventbot, "--db", db, "import", str(feed), "--calendar", "sww")
    assert first.returncode == 0, first.stderr

    async with Harness.open(tmp_path, start=datetime.now(UTC)) as h:
        assert await h.say("alice", f"/subscribe {oid(KEYNOTE_UID)}")
        await h.say("bob", f"/subscribe {oid(WORKSHOP_UID)}", chat=h.adapter.dm("bob"))
        await h.say("carol", f"/subscribe {series_id('sww', SERIES_UID)}")  # nothing of hers changes
        await h.say("dave", "/subscribe all")  # both changes, in one notice
        await h.say("erin", "/events")  # follows nothing
        await h.advance(timedelta(minutes=1))
        assert not notices_by_person(h)

    # The bot is down (or runs in another process, on another platform): the operator
    # refreshes the programme from a terminal.
    feed.write_bytes(programme(start, keynote_moved=True, workshop=False))
    refresh = await asyncio.to_thread(eventbot, "--db", db, "import", str(feed), "--calendar", "sww")
    assert refresh.returncode == 0, refresh.stderr
    assert "0 added, 1 changed, 1 cancelled, 0 restored." in refresh.stdout
    assert "3 subscribers will be told of the changes." in refresh.stdout
    assert "unavailable" not in refresh.stderr

    # The organisers can see them waiting in the outbox.
    listed = await asyncio.to_thread(eventbot, "--db", db, "reminders", "--status", "pending", "--json")
    waiting = [r for r in json.loads(listed.stdout)["reminders"] if r["kind"] == "notice"]
    assert sorted(r["user"] for r in waiting) == ["fake:alice", "fake:bob", "fake:dave"]
    [daves] = [r for r in waiting if r["user"] == "fake:dave"]
    assert [(s["title"], s["change"]) for s in daves["sessions"]] == [("Keynote", "changed"),
                                                                        ("Workshop", "cancelled")]

    async with Harness.open(tmp_path, start=datetime.now(UTC)) as h:
        await h.advance(timedelta(minutes=1))
        assert notices_by_person(h) == {"fake:alice": 1, "fake:bob": 1, "fake:dave": 1}
        [alice] = h.adapter.to("alice")
        assert "“Keynote”: moved to" in alice.text and "Workshop" not in alice.text
        [bob] = [m for m in h.adapter.to("bob") if m.kind == "notice"]
        assert "“Workshop”" in bob.text and "is cancelled" in bob.text and "Keynote" not in bob.text
        [dave] = h.adapter.to("dave")
        assert dave.text.splitlines()[1:] == [alice.text.splitlines()[1], bob.text.splitlines()[1]]
        counts = await h.app.store.reminders.counts()
        assert counts["sent"] == 3 and counts["failed"] == 0

    # Told once: a restart sends nothing again.
    async with Harness.open(tmp_path, start=datetime.now(UTC)) as h:
        await h.advance(timedelta(minutes=5))
        assert not notices_by_person(h)


async def test_an_import_from_a_terminal_beside_the_running_bot_is_told_within_a_minute(tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=7)
    feed = tmp_path / "sww.ics"
    feed.write_bytes(programme(start))
    db = str(database_for(tmp_path))
    assert (await asyncio.to_thread(eventbot, "--db", db, "import", str(feed), "--calendar", "sww")).returncode == 0
    async with Harness.open(tmp_path, start=datetime.now(UTC), outbox_check_seconds=60) as h:
        await h.say("alice", f"/subscribe {oid(WORKSHOP_UID)}")
        await h.say("bob", f"/subscribe {oid(KEYNOTE_UID)}")
        await h.advance(timedelta(minutes=1))
        # The bot runs (its next alarm is the day-before reminders, days away) while the
        # operator refreshes the programme from a terminal.
        feed.write_bytes(programme(start, workshop=False))
        refresh = await asyncio.to_thread(eventbot, "--db", db, "import", str(feed), "--calendar", "sww")
        assert "1 subscriber will be told of the changes." in refresh.stdout
        await h.advance(timedelta(minutes=5))  # (the fake clock started before the import ran)
        assert notices_by_person(h) == {"fake:alice": 1}
        [alice] = h.adapter.to("alice")
        assert "“Workshop”" in alice.text and "is cancelled" in alice.text


V1_START = datetime(2025, 3, 24, 10, 0, tzinfo=UTC)


async def _subscribe_everyone(h: Harness, *people: str) -> None:
    for person in people:
        await h.app.store.people.subscribe(Subscription(f"fake:{person}", SubscriptionScope.ALL))


async def test_a_crash_right_after_the_refresh_loses_no_notice(tmp_path: Path) -> None:
    feed = tmp_path / "sww.ics"
    feed.write_bytes(programme(V1_START))
    async with Harness.open(tmp_path) as h:
        service = h.app.services.calendars
        await service.sync("sww", str(feed))  # type: ignore[union-attr]
        await _subscribe_everyone(h, "alice", "bob", "carol")
        feed.write_bytes(programme(V1_START, keynote_moved=True))
        report = await service.sync("sww")  # type: ignore[union-attr]
        assert report.notices == 3
        # the process dies before its dispatcher runs: nothing was sent, nothing is lost
    async with Harness.open(tmp_path) as h:
        assert not notices_by_person(h)
        await h.advance(timedelta(0))
        assert notices_by_person(h) == {"fake:alice": 1, "fake:bob": 1, "fake:carol": 1}


async def test_a_429_and_a_failed_send_are_retried_and_each_person_told_once(tmp_path: Path) -> None:
    feed = tmp_path / "sww.ics"
    feed.write_bytes(programme(V1_START))
    async with Harness.open(tmp_path) as h:
        service = h.app.services.calendars
        await service.sync("sww", str(feed))  # type: ignore[union-attr]
        await _subscribe_everyone(h, "alice", "bob", "carol", "dave")
        h.adapter.fail_next(RateLimited(30), DeliveryFailed("the platform hiccuped", transient=True))
        feed.write_bytes(programme(V1_START, workshop=False))
        await service.sync("sww")  # type: ignore[union-attr]
        await h.advance(timedelta(minutes=5))
        assert notices_by_person(h) == {f"fake:{p}": 1 for p in ("alice", "bob", "carol", "dave")}
        sent = await h.app.store.reminders.find(ReminderStatus.SENT)
        assert sorted(r.attempts for r in sent if r.notice is not None) == [0, 0, 0, 1]


async def test_a_notice_about_sessions_already_over_expires_unsent(tmp_path: Path) -> None:
    feed = tmp_path / "sww.ics"
    feed.write_bytes(programme(V1_START))
    async with Harness.open(tmp_path) as h:
        service = h.app.services.calendars
        await service.sync("sww", str(feed))  # type: ignore[union-attr]
        await _subscribe_everyone(h, "alice")
        feed.write_bytes(programme(V1_START, workshop=False))
        await service.sync("sww")  # type: ignore[union-attr]
        later = h.clock.now() + timedelta(days=14)
    # The bot comes back when the workshop is long over: no news is better than old news.
    async with Harness.open(tmp_path, start=later) as h:
        await h.advance(timedelta(0))
        assert not notices_by_person(h)
        [expired] = [r for r in await h.app.store.reminders.find(ReminderStatus.EXPIRED) if r.notice]
        assert expired.last_error == "the sessions it was about were over"


async def test_in_the_shared_chat_the_notice_names_and_mentions_the_person(tmp_path: Path) -> None:
    feed = tmp_path / "sww.ics"
    feed.write_bytes(programme(V1_START))
    async with Harness.open(tmp_path) as h:
        service = h.app.services.calendars
        await service.sync("sww", str(feed))  # type: ignore[union-attr]
        await h.say("bryn", "/subscribe all")  # in the room: where he can be found
        await h.app.store.people.save_settings(UserSettings(
            "fake:bryn", delivery_chat="fake:room", display_name="Bryn"))
        h.adapter.unreachable.add("fake:bryn")
        h.adapter.clear()
        feed.write_bytes(programme(V1_START, workshop=False))
        await service.sync("sww")  # type: ignore[union-attr]
        await h.advance(timedelta(0))
        told, notice = h.adapter.in_chat()
        assert told.text.startswith("Bryn, I could not tell you privately about a change to “Workshop”")
        assert notice.text.startswith("For Bryn: Programme changes in “sww”:")
        for message in (told, notice):
            assert message.mention is not None and message.mention.user.id == "fake:bryn"
            assert message.mention.name_in(message.text) == "Bryn"
        assert not h.adapter.to("bryn")


def test_a_mention_must_lie_within_the_text() -> None:
    from bot.models import ChatRef, Mention, UserRef

    bryn = UserRef("fake:bryn", "Bryn")
    Outgoing("Bryn: hi", chat=ChatRef("fake:room"), mention=Mention(bryn, 0, 4))
    for bad in (Mention(bryn, 0, 0), Mention(bryn, 5, 4), Mention(bryn, -1, 2)):
        try:
            Outgoing("Bryn: hi", chat=ChatRef("fake:room"), mention=bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")
