"""/import as a hostile organiser, an operator or a crash would use it: addresses inside the
bot's network, failed first imports, removing a calendar, and secret feed addresses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.calendars import CalendarService
from bot.cli import main
from bot.config import FeedConfig
from bot.ical import series_id
from bot.models import ChatKind, ChatRef, EventStatus, Subscription, SubscriptionScope
from tests.databases import database_for
from tests.fake_feed_server import FakeFeedServer
from tests.harness import Harness
from tests.test_calendars import KEYNOTE_UID, SERIES_UID, V1, WORKSHOP_UID, oid

INSIDE = ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "localhost", "[::1]",
          "[::ffff:127.0.0.1]", "10.0.0.1", "169.254.169.254", "0.0.0.0"]
SECRET_PATH = "/calendar/ical/sww%40group.calendar.google.com/private-0123456789abcdef0123456789abcdef/basic.ics"


@pytest.fixture
async def server() -> AsyncIterator[FakeFeedServer]:
    async with FakeFeedServer.start(V1) as running:
        yield running


@pytest.fixture
async def opened(tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot with the fake feed server's loopback address opened by ``allow_private_feeds``."""
    async with Harness.open(tmp_path, allow_private_feeds=FakeFeedServer.ALLOW) as h:
        yield h


def service_of(h: Harness) -> CalendarService:
    service = h.app.services.calendars
    assert isinstance(service, CalendarService)
    return service


# --------------------------------------------------------------------------- inside addresses


@pytest.mark.parametrize("host", INSIDE)
async def test_an_organiser_cannot_import_from_inside(harness: Harness, server: FakeFeedServer, host: str) -> None:
    replies = await harness.say("org", f"/import http://{host}:{server.port}/feed.ics inside")
    assert replies[-1].endswith("(refused: private address).") and "\n" not in replies[-1]
    assert server.hits == []
    # Nothing stored, nothing followed, nothing for attendees to see.
    assert await harness.app.store.calendars.get_calendar("inside") is None
    await harness.advance(timedelta(minutes=20))
    assert server.hits == [] and "Keynote" not in "".join(await harness.say("eve", "/events"))


async def test_a_redirect_inside_is_refused_from_chat(harness: Harness, server: FakeFeedServer) -> None:
    url = server.url("/redirect") + f"?to=http://127.1:{server.port}/feed.ics"
    replies = await harness.say("org", f"/import {url} inside")
    # The first hop is loopback too, so it is refused before any request.
    assert "(refused: private address)" in replies[-1] and server.hits == []


async def test_configured_feeds_are_checked_too(tmp_path: Path, server: FakeFeedServer) -> None:
    feeds = (FeedConfig(name="inside", source=server.url(host="localhost"), refresh_minutes=15),)
    async with Harness.open(tmp_path, feeds=feeds) as h:
        await h.advance(timedelta(minutes=1))
        info = await h.app.store.calendars.get_calendar("inside")
        assert info is not None and "(refused: private address)" in info.last_error and info.occurrences == 0
    assert server.hits == []


async def test_allow_private_feeds_opens_the_named_host_only(tmp_path: Path, server: FakeFeedServer) -> None:
    async with Harness.open(tmp_path, allow_private_feeds=("localhost",)) as h:
        replies = await h.say("org", f"/import {server.url(host='localhost')} intranet")
        assert "Imported “intranet”: 3 events" in replies[-1]
        replies = await h.say("org", f"/import {server.url()} other")
        assert "(refused: private address)" in replies[-1]


# --------------------------------------------------------------------------- first import, removal


async def test_a_failed_first_import_stores_nothing(opened: Harness, server: FakeFeedServer) -> None:
    for path in ("/status/404", "/login", "/text"):
        await opened.say("org", f"/import {server.url(path)} broken")
        assert await opened.app.store.calendars.get_calendar("broken") is None
    hits = len(server.hits)
    await opened.restart()
    await opened.advance(timedelta(minutes=20))
    assert len(server.hits) == hits  # nothing is followed after a restart either
    assert "broken" not in "".join(await opened.say("org", "/calendars", chat=opened.adapter.dm("org")))


def test_a_failed_first_import_on_the_command_line_stores_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(database_for(tmp_path))
    assert main(["--db", db, "import", "http://127.0.0.1:1/feed.ics", "--calendar", "inside"]) == 1
    assert "(refused: private address)" in capsys.readouterr().err
    main(["--db", db, "calendars"])
    assert "inside" not in capsys.readouterr().out


async def subscribe_everyone(h: Harness) -> None:
    people = h.app.store.people
    await people.subscribe(Subscription("fake:alice", SubscriptionScope.SERIES, series_id("sww", SERIES_UID)))
    await people.subscribe(Subscription("fake:bob", SubscriptionScope.OCCURRENCE, oid(WORKSHOP_UID)))
    await people.subscribe(Subscription("fake:carol", SubscriptionScope.ALL, calendar="sww"))
    await people.subscribe(Subscription("fake:dave", SubscriptionScope.ALL, calendar="other"))


async def test_removing_a_calendar_takes_its_sessions_and_tells_subscribers(
        opened: Harness, server: FakeFeedServer) -> None:
    await opened.say("org", f"/import {server.url()} sww")
    await subscribe_everyone(opened)
    assert "Only organisers" in (await opened.say("eve", "/calendars remove sww"))[0]
    opened.adapter.clear()
    reply = (await opened.say("org", "/calendars remove sww"))[-1]
    assert reply == "Removed “sww”. 8 sessions to come were cancelled and their subscribers told."
    await opened.advance(timedelta(seconds=1))
    for person, count in (("alice", 6), ("bob", 1), ("carol", 8)):
        [notice] = opened.adapter.to(person)
        assert notice.kind == "notice" and notice.text.count("is cancelled") == min(count, 10)
    assert opened.adapter.to("dave") == []
    store = opened.app.store
    assert await store.calendars.get_calendar("sww") is None
    assert await store.calendars.get_occurrence(oid(KEYNOTE_UID)) is None
    assert await store.calendars.list_series("sww") == []
    assert [s.calendar for s in await store.people.all_subscriptions()] == ["other"]
    # No longer followed: the feed is not read again, in this process or after a restart.
    hits = len(server.hits)
    await opened.advance(timedelta(minutes=30))
    await opened.restart()
    await opened.advance(timedelta(minutes=30))
    assert len(server.hits) == hits
    assert "no calendar called" in (await opened.say("org", "/calendars remove sww"))[0]


async def test_a_removal_cut_short_is_finished_without_telling_anyone_twice(
        opened: Harness, server: FakeFeedServer) -> None:
    await service_of(opened).sync("sww", server.url())
    await subscribe_everyone(opened)
    repo = opened.app.store.calendars
    real_remove = repo.remove_calendar

    async def crash(name: str) -> bool:
        raise RuntimeError("power cut")

    repo.remove_calendar = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await service_of(opened).remove("sww")
    repo.remove_calendar = real_remove  # type: ignore[method-assign]
    keynote = await repo.get_occurrence(oid(KEYNOTE_UID))
    assert keynote is not None and keynote.status is EventStatus.CANCELLED
    told = len(opened.adapter.sent)
    report = await service_of(opened).remove("sww")
    assert report.cancelled == [] and len(opened.adapter.sent) == told
    assert await repo.get_calendar("sww") is None


async def test_a_calendar_removed_by_another_process_is_not_brought_back(
        opened: Harness, server: FakeFeedServer) -> None:
    await opened.say("org", f"/import {server.url()} sww")
    # The command line removes it while this bot keeps its refresh alarm.
    await opened.app.store.calendars.remove_calendar("sww")
    await opened.advance(timedelta(minutes=15))
    assert await opened.app.store.calendars.get_calendar("sww") is None


async def test_configured_feeds_are_removed_in_the_config(tmp_path: Path, server: FakeFeedServer) -> None:
    feeds = (FeedConfig(name="sww", source=server.url(), refresh_minutes=15),)
    async with Harness.open(tmp_path, feeds=feeds, allow_private_feeds=FakeFeedServer.ALLOW) as h:
        await h.advance(timedelta(minutes=1))
        [reply] = await h.say("org", "/calendars remove sww")
        assert "config file" in reply and await h.app.store.calendars.get_calendar("sww") is not None


def test_command_line_removal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_calendars import upcoming_calendar

    db = str(database_for(tmp_path))
    feed = tmp_path / "sww.ics"
    feed.write_bytes(upcoming_calendar())
    assert main(["--db", db, "import", str(feed), "--calendar", "sww"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "calendars", "--remove", "sww"]) == 0
    assert "Removed “sww”, with 8 sessions to come" in capsys.readouterr().out
    assert main(["--db", db, "calendars", "--remove", "sww"]) == 1
    assert "no calendar called “sww”" in capsys.readouterr().err


# --------------------------------------------------------------------------- secret addresses


async def test_calendars_are_listed_privately_with_secret_addresses_hidden(
        tmp_path: Path, server: FakeFeedServer, caplog: pytest.LogCaptureFixture) -> None:
    secret = server.url(SECRET_PATH, host="calendar.example.org")

    async def dns(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with Harness.open(tmp_path, allow_private_feeds=("calendar.example.org",)) as h:
        h.app.services.calendars.fetcher.policy.resolver = dns  # type: ignore[union-attr]
        caplog.set_level(logging.WARNING)
        [_, imported] = await h.say("org", f"/import {secret} sww")
        assert "Imported" in imported and "private-" not in imported
        server.feed = b"garbage"
        await h.advance(timedelta(minutes=15))
        h.adapter.clear()
        replies = await h.say("org", "/calendars")
        assert h.adapter.in_chat() == []  # nothing in the group
        [listing] = h.adapter.to("org")
        assert f"source http://calendar.example.org:{server.port}/…" in listing.text
        assert "last error" in listing.text and "private-" not in listing.text
        assert "refused" in caplog.text and "private-" not in caplog.text
        assert replies == [listing.text]


async def test_calendars_in_a_group_without_private_messages_says_where_to_ask(
        tmp_path: Path, server: FakeFeedServer) -> None:
    from adapters.fake import FakeAdapter

    adapter = FakeAdapter(capabilities=frozenset())
    async with Harness.open(tmp_path, adapter=adapter, allow_private_feeds=FakeFeedServer.ALLOW) as h:
        await service_of(h).sync("sww", server.url())
        [reply] = await h.say("org", "/calendars")
        assert "private chat" in reply and "127.0.0.1" not in reply
        [reply] = await h.say("org", "/calendars", chat=ChatRef("fake:dm-org", ChatKind.PRIVATE, "org"))
        assert "sww: 3 events" in reply


def test_only_show_urls_reveals_a_secret_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from bot.app import open_app
    from bot.config import Config
    from bot.ports import CalendarInfo

    db = tmp_path / "bot.db"
    secret = "https://calendar.google.com" + SECRET_PATH

    async def store() -> None:
        async with open_app(Config(db=db)) as app:
            await app.store.calendars.save_calendar(CalendarInfo(name="sww", source=secret))

    asyncio.run(store())
    main(["--db", str(db), "calendars"])
    out = capsys.readouterr().out
    assert "source https://calendar.google.com/…" in out and "private-" not in out
    main(["--db", str(db), "calendars", "--show-urls"])
    assert secret in capsys.readouterr().out


def test_a_key_in_the_address_is_not_taken_as_the_calendar_name() -> None:
    from bot.calendars import default_calendar_name

    assert default_calendar_name("webcal://p42-caldav.icloud.com/published/2/MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0") \
        == "p42-caldav.icloud.com"
    assert default_calendar_name("https://calendar.google.com" + SECRET_PATH) == "basic"
