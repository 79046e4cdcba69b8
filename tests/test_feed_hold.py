"""A feed that loses most of its events cannot wipe the programme by accident.

Played as the operator would: the Social Work Week feed is imported and people subscribe;
then the feed comes back empty (a CMS export gone wrong). The refresh is held, nobody but
the organisers hears of it, and the programme stays as it was until an organiser forces it.
When the good feed returns, the sessions are restored and each subscriber hears once that
they are back on, with their subscriptions as they were.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import FakeClock
from bot.config import load_config
from bot.errors import ConfigError, DeliveryFailed
from bot.models import EventStatus, ReminderStatus, Subscription, SubscriptionScope, UserSettings
from bot.ports import CalendarInfo, HeldRefresh
from bot.store.sql import SqlStore
from tests.conftest import REPO
from tests.databases import database_for
from tests.fake_feed_server import FakeFeedServer
from tests.harness import Harness

SWW = (REPO / "schedules" / "social-work-week-2025.ics").read_bytes()
EMPTY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//CMS export//EN\r\nEND:VCALENDAR\r\n"
REFRESH = timedelta(minutes=15)


def without(feed: bytes, *uid_words: str) -> bytes:
    """The feed with the VEVENTs whose UID contains any of ``uid_words`` taken out."""
    text = feed.decode()
    for word in uid_words:
        text, n = re.subn(r"BEGIN:VEVENT\r?\n(?:(?!END:VEVENT).)*?UID:[^\r\n]*" + re.escape(word)
                          + r"(?:(?!END:VEVENT).)*?END:VEVENT\r?\n", "", text, flags=re.S)
        assert n == 1, word
    return text.encode()


@pytest.fixture
async def server() -> AsyncIterator[FakeFeedServer]:
    async with FakeFeedServer.start(SWW) as running:
        yield running


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot, with the fake feed server's loopback address opened by ``allow_private_feeds``."""
    async with Harness.open(tmp_path, allow_private_feeds=FakeFeedServer.ALLOW) as h:
        yield h


async def upcoming(h: Harness) -> list[str]:
    now = h.clock.now()
    return [o.id for o in await h.app.store.calendars.occurrences_between(now, now + timedelta(days=30),
                                                                          calendar="sww")]


async def pending(h: Harness) -> int:
    return (await h.app.store.reminders.counts()).get("pending", 0)


def notices(h: Harness, user: str) -> list[str]:
    return [m.text for m in h.adapter.to(user) if m.kind == "notice"]


async def test_an_empty_feed_is_held_then_forced_then_restored(harness: Harness, server: FakeFeedServer) -> None:
    h = harness
    [*_, imported] = await h.say("org", f"/import {server.url()} sww")
    assert "8 added" in imported
    sessions = await upcoming(h)
    assert len(sessions) == 8
    series_of_keynote = (await h.app.store.calendars.get_occurrence(sessions[0]))
    assert series_of_keynote is not None
    await h.say("alice", "/subscribe all")
    await h.say("bob", f"/subscribe {sessions[2]}")
    await h.say("bob", f"/subscribe {sessions[5]}")
    await h.app.store.people.subscribe(
        Subscription("fake:carol", SubscriptionScope.SERIES, series_of_keynote.series_id))
    await h.app.services.person_changed("fake:carol")
    subscriptions = {u: await h.app.store.people.subscriptions_of(f"fake:{u}") for u in ("alice", "bob", "carol")}
    stored = await h.app.store.calendars.occurrences_of_calendar("sww")
    planned = await pending(h)
    assert planned > 0
    h.adapter.clear()

    # The CMS publishes an empty calendar; the scheduled refresh holds it.
    server.feed = EMPTY
    await h.advance(REFRESH)
    assert await h.app.store.calendars.occurrences_of_calendar("sww") == stored
    assert await h.app.store.calendars.list_series("sww") != []
    assert await pending(h) == planned
    assert notices(h, "alice") == notices(h, "bob") == notices(h, "carol") == []
    [told] = h.adapter.to("org")
    assert "held" in told.text.lower() and "8 of 8" in told.text and "--force" in told.text
    [listing] = await h.say("org", "/calendars")
    assert "sww: 8 events, 8 sessions" in listing and "held" in listing.lower() and "8 of 8" in listing
    # The next refresh reads the same empty feed: still held, and nobody is told again.
    h.adapter.clear()
    await h.advance(REFRESH)
    assert h.adapter.sent == []
    assert await upcoming(h) == sessions

    # An organiser decides the feed is right after all.
    [*_, forced] = await h.say("org", f"/import {server.url()} sww --force")
    await h.advance(timedelta(0))  # the outbox sends the notices the refresh planned
    assert "8 cancelled" in forced
    assert await upcoming(h) == []
    cancelled = await h.app.store.calendars.occurrences_of_calendar("sww")
    assert len(cancelled) == 8 and {o.status for o in cancelled} == {EventStatus.CANCELLED}
    assert len(notices(h, "alice")) == 1 and notices(h, "alice")[0].count("is cancelled") == 8
    assert len(notices(h, "bob")) == 1 and notices(h, "bob")[0].count("is cancelled") == 2
    assert len(notices(h, "carol")) == 1
    assert await pending(h) == 0
    [listing] = await h.say("org", "/calendars")
    assert "held" not in listing.lower()
    h.adapter.clear()

    # The good feed comes back: every session is restored, not added.
    server.feed = SWW
    await h.advance(REFRESH)
    assert await upcoming(h) == sessions
    [alice] = notices(h, "alice")
    assert alice.count("is back on") == 8
    [bob] = notices(h, "bob")
    assert bob.count("is back on") == 2
    [carol] = notices(h, "carol")
    assert carol.count("is back on") == 1
    for user, subs in subscriptions.items():
        assert await h.app.store.people.subscriptions_of(f"fake:{user}") == subs
    assert await pending(h) == planned
    assert [o.id for o in await h.app.store.calendars.occurrences_of_calendar("sww")] == [o.id for o in stored]
    [*_, again] = await h.say("org", f"/import {server.url()} sww")
    assert "up to date" in again


async def test_the_report_of_a_restoring_import_says_restored_not_added(harness: Harness,
                                                                        server: FakeFeedServer) -> None:
    await harness.say("org", f"/import {server.url()} sww")
    server.feed = EMPTY
    await harness.say("org", f"/import {server.url()} sww --force")
    server.feed = SWW
    [*_, report] = await harness.say("org", f"/import {server.url()} sww")
    assert "0 added, 0 changed, 0 cancelled, 8 restored" in report


async def test_losing_fewer_than_half_is_applied_and_more_is_held(harness: Harness, server: FakeFeedServer) -> None:
    h = harness
    await h.say("org", f"/import {server.url()} sww")
    await h.say("alice", "/subscribe all")
    h.adapter.clear()
    # Four of eight is half, not more than half: applied.
    server.feed = without(SWW, "identity-over-time", "boundaries", "regulators", "do-you-get-me")
    [*_, report] = await h.say("org", f"/import {server.url()} sww")
    await h.advance(timedelta(0))  # the outbox sends the notices the refresh planned
    assert "4 cancelled" in report and len(await upcoming(h)) == 4
    assert len(notices(h, "alice")) == 1
    h.adapter.clear()
    # Three of the four left is more than half of what is upcoming: held.
    server.feed = without(SWW, "identity-over-time", "boundaries", "regulators", "do-you-get-me",
                          "ai-and-social-work", "moral-injury", "neurodivergent")
    [*_, report] = await h.say("org", f"/import {server.url()} sww")
    await h.advance(timedelta(0))
    assert "held" in report.lower() and "3 of 4" in report and len(await upcoming(h)) == 4
    assert notices(h, "alice") == []


async def test_a_feed_that_recovers_lifts_the_hold_without_a_word(harness: Harness, server: FakeFeedServer) -> None:
    h = harness
    await h.say("org", f"/import {server.url()} sww")
    await h.say("alice", "/subscribe all")
    server.feed = EMPTY
    await h.advance(REFRESH)
    [listing] = await h.say("org", "/calendars")
    assert "held" in listing.lower()
    server.feed = SWW
    h.adapter.clear()
    await h.advance(REFRESH)
    [listing] = await h.say("org", "/calendars")
    assert "held" not in listing.lower()
    assert notices(h, "alice") == [] and len(await upcoming(h)) == 8


async def test_a_held_refresh_is_told_again_when_the_feed_changes_again(harness: Harness,
                                                                        server: FakeFeedServer) -> None:
    h = harness
    await h.say("org", f"/import {server.url()} sww")
    h.adapter.clear()
    server.feed = EMPTY
    await h.advance(REFRESH)
    server.feed = without(SWW, "identity-over-time", "boundaries", "regulators", "do-you-get-me",
                          "ai-and-social-work")
    await h.advance(REFRESH)
    told = h.adapter.to("org")
    assert len(told) == 2 and "8 of 8" in told[0].text and "5 of 8" in told[1].text


async def test_the_share_is_a_setting(tmp_path: Path, server: FakeFeedServer) -> None:
    async with Harness.open(tmp_path, feed_max_cancel_share=1.0, allow_private_feeds=FakeFeedServer.ALLOW) as h:
        await h.say("org", f"/import {server.url()} sww")
        server.feed = EMPTY
        [*_, report] = await h.say("org", f"/import {server.url()} sww")
        assert "8 cancelled" in report


def test_the_share_comes_from_the_environment_and_is_checked() -> None:
    assert load_config(env={}).feed_max_cancel_share == 0.5
    assert load_config(env={"EVENTBOT_FEED_MAX_CANCEL_SHARE": "0.8"}).feed_max_cancel_share == 0.8
    with pytest.raises(ConfigError, match="feed_max_cancel_share"):
        load_config(env={"EVENTBOT_FEED_MAX_CANCEL_SHARE": "80"})


async def test_migration_10_gives_an_older_database_somewhere_to_keep_a_hold(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    now = datetime(2025, 3, 17, 8, 0, tzinfo=UTC)
    store = await SqlStore.open(db, FakeClock(now))
    await store.calendars.save_calendar(CalendarInfo(name="sww", source="https://example.org/sww.ics"))
    async with store.engine.begin() as conn:
        # The calendars table as migration 1 created it.
        for column in ("held_since", "held_cancels", "held_upcoming", "held_hash"):
            await conn.exec_driver_sql(f"ALTER TABLE calendars DROP COLUMN {column}")
        await conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 10")
    await store.close()

    store = await SqlStore.open(db, FakeClock(now))
    try:
        info = await store.calendars.get_calendar("sww")
        assert info is not None and info.source == "https://example.org/sww.ics" and info.held is None
        held = HeldRefresh(since=now, cancels=8, upcoming=8, content_hash="abc")
        await store.calendars.save_calendar(CalendarInfo(name="sww", source=info.source, held=held))
        assert (await store.calendars.get_calendar("sww")) == CalendarInfo(name="sww", source=info.source,
                                                                           held=held)
    finally:
        await store.close()


# --------------------------------------------------------------------------- command line


def upcoming_sww() -> bytes:
    """The shipped programme moved to start next week: the command line runs on the real clock."""
    first = datetime(2025, 3, 17, tzinfo=UTC)
    days = (datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=7) - first).days
    text = SWW.decode()

    def shift(match: re.Match[str]) -> str:
        day = datetime.strptime(match.group(2), "%Y%m%d").replace(tzinfo=UTC) + timedelta(days=days)
        return f"{match.group(1)}{day:%Y%m%d}"

    return re.sub(r"^((?:DTSTART|DTEND)[^:\r\n]*:)(2025\d{4})", shift, text, flags=re.M).encode()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_holds_an_empty_feed_until_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "bot.db")
    good = tmp_path / "sww.ics"
    good.write_bytes(upcoming_sww())
    empty = tmp_path / "empty.ics"
    empty.write_bytes(EMPTY)
    code, out, _ = run_cli(capsys, "--db", db, "import", str(good), "--calendar", "sww")
    assert code == 0 and "8 added" in out

    code, out, err = run_cli(capsys, "--db", db, "import", str(empty), "--calendar", "sww")
    assert code == 3 and "held" in out.lower() and "8 of 8" in out and "--force" in out and err == ""
    code, out, _ = run_cli(capsys, "--db", db, "calendars")
    assert code == 0 and out.startswith("sww: 8 events, 8 sessions") and "held" in out.lower()
    code, out, _ = run_cli(capsys, "--db", db, "events", "--calendar", "sww", "--to", "2099-01-01", "--json")
    assert code == 0 and len(json.loads(out)) == 8

    code, out, _ = run_cli(capsys, "--db", db, "import", str(empty), "--calendar", "sww", "--force")
    assert code == 0 and "8 cancelled" in out
    code, out, _ = run_cli(capsys, "--db", db, "calendars")
    assert "held" not in out.lower()

    code, out, _ = run_cli(capsys, "--db", db, "import", str(good), "--calendar", "sww")
    assert code == 0 and "0 added, 0 changed, 0 cancelled, 8 restored" in out


# --------------------------------------------------------------------------- the organisers' notice
# It goes through the outbox, planned with the hold: a hold found by cron while no bot runs,
# or while the platform is down, still reaches each organiser, once.


def eventbot(*args: str, organisers: str = "") -> subprocess.CompletedProcess[str]:
    """The installed command in a process of its own (as cron runs it), on the real clock."""
    env = {**os.environ, "EVENTBOT_ORGANISERS": organisers} if organisers else None
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=120,
                          check=False, env=env)


def held_notices(h: Harness, user: str) -> list[str]:
    return [m.text for m in h.adapter.to(user) if m.kind == "notice" and "Held:" in m.text]


async def test_a_hold_found_by_cron_reaches_each_organiser_once_the_bot_runs(tmp_path: Path) -> None:
    db = str(database_for(tmp_path))
    good, empty = tmp_path / "sww.ics", tmp_path / "empty.ics"
    good.write_bytes(upcoming_sww())
    empty.write_bytes(EMPTY)
    cron = "fake:org,fake:megan"
    first = await asyncio.to_thread(eventbot, "--db", db, "import", str(good), "--calendar", "sww", organisers=cron)
    assert first.returncode == 0, first.stderr

    # No bot runs: cron's refresh finds the export empty, twice.
    for _ in range(2):
        held = await asyncio.to_thread(eventbot, "--db", db, "import", str(empty), "--calendar", "sww",
                                       organisers=cron)
        assert held.returncode == 3 and "8 of 8" in held.stdout, held.stderr
        assert "unavailable" not in held.stderr
    listed = await asyncio.to_thread(eventbot, "--db", db, "reminders", "--status", "pending", "--json")
    waiting = [r for r in json.loads(listed.stdout)["reminders"] if r["kind"] == "notice"]
    assert sorted(r["user"] for r in waiting) == ["fake:megan", "fake:org"]  # once each, not twice
    assert all(r["held"] == {"cancels": 8, "upcoming": 8} and r["calendar"] == "sww" for r in waiting)
    text = (await asyncio.to_thread(eventbot, "--db", db, "reminders", "--status", "pending")).stdout
    assert "refresh of “sww” held (8 of 8 sessions)" in text

    async with Harness.open(tmp_path, start=datetime.now(UTC)) as h:
        await h.advance(timedelta(minutes=1))
        for organiser in ("org", "megan"):
            [told] = held_notices(h, organiser)
            assert "would cancel 8 of 8 upcoming sessions" in told and "(50 %)" in told
            assert f"eventbot import {empty} --calendar sww --force" in told
        assert [m for m in h.adapter.sent if m.destination not in ("fake:org", "fake:megan")] == []
    # Told once: a restart sends nothing again.
    async with Harness.open(tmp_path, start=datetime.now(UTC)) as h:
        await h.advance(timedelta(minutes=5))
        assert h.adapter.sent == []


async def test_a_hold_found_while_the_platform_is_down_is_told_when_it_is_back(harness: Harness,
                                                                               server: FakeFeedServer) -> None:
    h = harness
    await h.say("org", f"/import {server.url()} sww")
    h.adapter.clear()
    server.feed = EMPTY
    h.adapter.fail_next(*[DeliveryFailed("Discord is down", transient=True)] * 3)
    await h.advance(REFRESH)  # the refresh, then the notice retried until the platform answers
    [told] = held_notices(h, "org")
    assert "8 of 8" in told and f"/import {server.url()} sww --force" in told
    [sent] = [r for r in await h.app.store.reminders.find(ReminderStatus.SENT) if r.notice and r.notice.held]
    assert sent.user_id == "fake:org" and sent.attempts == 3
    await h.advance(REFRESH * 4)  # the same feed, still held: not told again
    assert len(held_notices(h, "org")) == 1


async def test_in_a_shared_chat_the_hold_notice_keeps_the_feeds_key_out(harness: Harness,
                                                                        server: FakeFeedServer) -> None:
    h = harness
    secret = server.url("/calendar/ical/sww%40example.org/private-0a1b2c3d4e5f60718293a4b5c6d7e8f9/basic.ics")
    await h.say("org", f"/import {secret} sww")
    await h.app.store.people.save_settings(UserSettings("fake:org", delivery_chat="fake:room",
                                                        display_name="Org"))
    h.adapter.unreachable.add("fake:org")
    h.adapter.clear()
    server.feed = EMPTY
    await h.advance(REFRESH)
    [_, notice] = h.adapter.in_chat()
    assert notice.kind == "notice" and notice.text.startswith("For Org: Held: this refresh of “sww”")
    assert "private-0a1b2c3d" not in notice.text and f"/import http://127.0.0.1:{server.port}/… sww --force" in notice.text


async def test_a_hold_notice_nobody_could_be_sent_for_days_expires_and_says_why(tmp_path: Path) -> None:
    feed = tmp_path / "sww.ics"
    feed.write_bytes(SWW)
    async with Harness.open(tmp_path) as h:
        service = h.app.services.calendars
        await service.sync("sww", str(feed))  # type: ignore[union-attr]
        feed.write_bytes(EMPTY)
        report = await service.sync("sww")  # type: ignore[union-attr]
        assert report.held is not None and report.notices == 1
        later = h.clock.now() + timedelta(days=4)
    # The bot was down for four days: the calendar still shows the hold; the notice is old news.
    async with Harness.open(tmp_path, start=later) as h:
        await h.advance(timedelta(0))
        assert h.adapter.sent == []
        [expired] = [r for r in await h.app.store.reminders.find(ReminderStatus.EXPIRED) if r.notice]
        assert expired.user_id == "fake:org" and expired.last_error == "the held refresh it was about was days old"
        [listing] = await h.say("org", "/calendars")
        assert "held" in listing.lower()
