"""Calendar sync end to end: a feed on 127.0.0.1 that changes between refreshes, the store,
change notices through the fake adapter, chat commands and the command line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.calendars import CalendarService, SyncReport, default_calendar_name
from bot.cli import main
from bot.config import FeedConfig
from bot.errors import FeedError
from bot.i18n import translator
from bot.ical import expand, occurrence_id, parse_feed, series_id
from bot.ical.export import add_to_calendar, build_ics
from bot.models import (
    Delivery,
    EventStatus,
    Incoming,
    Occurrence,
    Subscription,
    SubscriptionScope,
    UserSettings,
)
from tests.fake_feed_server import FakeFeedServer
from tests.harness import Harness

SERIES_UID = "supervision@sww.test"
KEYNOTE_UID = "keynote@sww.test"
WORKSHOP_UID = "workshop@sww.test"
PANEL_UID = "panel@sww.test"


def vevent(uid: str, *lines: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250301T000000Z", *lines, "END:VEVENT"])


def calendar(*events: str) -> bytes:
    return ("\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN",
                         "X-WR-CALNAME:Social Work Week", *events, "END:VCALENDAR"]) + "\r\n").encode()


SUPERVISION = vevent(SERIES_UID, "SUMMARY:Group supervision", "DTSTART;TZID=Europe/London:20250318T100000",
                     "DTEND;TZID=Europe/London:20250318T110000", "RRULE:FREQ=WEEKLY;COUNT=6",
                     "LOCATION:Room 2")
KEYNOTE = vevent(KEYNOTE_UID, "SUMMARY:Keynote", "DTSTART:20250320T140000Z", "DTEND:20250320T153000Z",
                 "LOCATION:Hall A", "URL:https://meet.example.org/keynote",
                 "ORGANIZER;CN=Prof. Rhian Davies:mailto:rhian@example.org")
WORKSHOP = vevent(WORKSHOP_UID, "SUMMARY:Workshop", "DTSTART:20250321T090000Z", "DURATION:PT2H")

V1 = calendar(SUPERVISION, KEYNOTE, WORKSHOP)
V2 = calendar(
    SUPERVISION,
    vevent(SERIES_UID, "RECURRENCE-ID;TZID=Europe/London:20250401T100000", "SUMMARY:Group supervision",
           "DTSTART;TZID=Europe/London:20250401T140000", "DTEND;TZID=Europe/London:20250401T150000",
           "LOCATION:Room 2"),
    vevent(SERIES_UID, "RECURRENCE-ID;TZID=Europe/London:20250408T100000", "SUMMARY:Group supervision",
           "DTSTART;TZID=Europe/London:20250408T100000", "DTEND;TZID=Europe/London:20250408T110000",
           "LOCATION:Room 2", "STATUS:CANCELLED"),
    KEYNOTE.replace("LOCATION:Hall A", "LOCATION:Hall B"),
    vevent(PANEL_UID, "SUMMARY:Panel", "DTSTART:20250325T130000Z", "DURATION:PT1H"),
)


def oid(uid: str, recurrence_id: str = "") -> str:
    return occurrence_id("sww", uid, recurrence_id)


@pytest.fixture
async def server() -> AsyncIterator[FakeFeedServer]:
    async with FakeFeedServer.start(V1) as running:
        yield running


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot, with the fake feed server's loopback address opened by ``allow_private_feeds``
    (as an operator opens an intranet calendar host); every other private address is refused."""
    async with Harness.open(tmp_path, allow_private_feeds=FakeFeedServer.ALLOW) as h:
        yield h


def service_of(h: Harness) -> CalendarService:
    service = h.app.services.calendars
    assert isinstance(service, CalendarService)
    return service


# --------------------------------------------------------------------------- sync


async def test_first_import_stores_series_and_occurrences(harness: Harness, server: FakeFeedServer) -> None:
    report = await service_of(harness).sync("sww", server.url())
    assert not report.unchanged and report.problems == []
    assert (report.series, report.occurrences) == (3, 8)
    assert len(report.added) == 8 and not report.changed and not report.cancelled
    info = await harness.app.store.calendars.get_calendar("sww")
    assert info is not None and info.etag == server.etag and info.last_error == ""
    keynote = await harness.app.store.calendars.get_occurrence(oid(KEYNOTE_UID))
    assert keynote is not None
    assert (keynote.facilitator, keynote.url, keynote.cpd_hours) == (
        "Prof. Rhian Davies", "https://meet.example.org/keynote", 1.5)


async def test_reimport_is_idempotent_and_unchanged_feed_short_circuits(
        harness: Harness, server: FakeFeedServer, tmp_path: Path) -> None:
    service = service_of(harness)
    await service.sync("sww", server.url())
    before = await harness.app.store.calendars.occurrences_of_calendar("sww")
    again = await service.sync("sww")
    assert again.unchanged and server.requests[-1]["If-None-Match"] == server.etag
    # A source without validators (a file) is recognised by its content hash.
    path = tmp_path / "sww.ics"
    path.write_bytes(V1)
    moved_source = await service.sync("sww", str(path))
    assert not moved_source.has_changes
    same_file = await service.sync("sww")
    assert same_file.unchanged
    assert await harness.app.store.calendars.occurrences_of_calendar("sww") == before


async def test_refresh_reports_moved_cancelled_added_and_gone(harness: Harness, server: FakeFeedServer) -> None:
    service = service_of(harness)
    await service.sync("sww", server.url())
    heard: list[SyncReport] = []

    async def listener(report: SyncReport) -> None:
        heard.append(report)

    service.add_listener(listener)
    server.feed = V2
    report = await service.sync("sww")
    assert heard == [report]
    assert [o.id for o in report.added] == [oid(PANEL_UID)]
    changed = {c.after.id: c.fields for c in report.changed}
    assert changed == {oid(SERIES_UID, "2025-04-01T09:00:00Z"): ("time",), oid(KEYNOTE_UID): ("location",)}
    moved = next(c for c in report.changed if c.fields == ("time",))
    assert moved.after.start == datetime(2025, 4, 1, 13, 0, tzinfo=UTC)
    assert {o.id for o in report.cancelled} == {oid(SERIES_UID, "2025-04-08T09:00:00Z"), oid(WORKSHOP_UID)}
    store = harness.app.store.calendars
    workshop = await store.get_occurrence(oid(WORKSHOP_UID))
    assert workshop is not None and workshop.status is EventStatus.CANCELLED
    assert await store.find_series(series_id("sww", WORKSHOP_UID)) is None
    # Cancelled sessions are not listed (so no reminders), the moved one is at its new time.
    listed = await service.occurrences_between(harness.clock.now(), harness.clock.now() + timedelta(days=60))
    ids = [o.id for o in listed]
    assert oid(WORKSHOP_UID) not in ids and oid(SERIES_UID, "2025-04-08T09:00:00Z") not in ids
    assert oid(PANEL_UID) in ids
    # Then the server says 304.
    assert (await service.sync("sww")).unchanged
    assert server.requests[-1]["If-None-Match"] == server.etag


async def test_a_session_that_comes_back_is_restored_not_duplicated(harness: Harness,
                                                                    server: FakeFeedServer) -> None:
    service = service_of(harness)
    await service.sync("sww", server.url())
    server.feed = V2
    await service.sync("sww")
    server.feed = V1
    report = await service.sync("sww")
    back = {c.after.id: c.fields for c in report.restored}
    assert back[oid(WORKSHOP_UID)] == ("status",)
    assert back[oid(SERIES_UID, "2025-04-08T09:00:00Z")] == ("status",)
    assert oid(WORKSHOP_UID) not in {o.id for o in report.added}
    assert oid(PANEL_UID) in {o.id for o in report.cancelled}
    assert len(await harness.app.store.calendars.occurrences_of_calendar("sww")) == 9


async def test_refused_feed_keeps_data_and_records_the_error(harness: Harness, server: FakeFeedServer) -> None:
    service = service_of(harness)
    await service.sync("sww", server.url())
    before = await harness.app.store.calendars.occurrences_of_calendar("sww")
    server.feed = b"<!DOCTYPE html><html><body><form>Sign in</form></body></html>"
    with pytest.raises(FeedError):
        await service.sync("sww")
    info = await harness.app.store.calendars.get_calendar("sww")
    assert info is not None and "web page" in info.last_error
    assert await harness.app.store.calendars.occurrences_of_calendar("sww") == before
    server.feed = V1
    await service.sync("sww")
    info = await harness.app.store.calendars.get_calendar("sww")
    assert info is not None and info.last_error == ""


async def test_partial_feed_imports_the_rest_and_reports(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "partial.ics"
    path.write_bytes(calendar(KEYNOTE, vevent("bad@sww.test", "SUMMARY:Bad", "DTSTART:20250230T100000Z")))
    report = await service_of(harness).sync("partial", str(path))
    assert report.series == 1 and [p.uid for p in report.problems] == ["bad@sww.test"]
    assert "Skipped “Bad” (UID bad@sww.test)" in report.render(translator("en"))


async def test_windows_beyond_the_horizon_are_expanded_from_series(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "weekly.ics"
    path.write_bytes(calendar(vevent("weekly@sww.test", "SUMMARY:Drop-in", "DTSTART;TZID=Europe/London:20250318T120000",
                                     "DURATION:PT1H", "RRULE:FREQ=WEEKLY")))
    service = service_of(harness)
    await service.sync("weekly", str(path))
    stored = await harness.app.store.calendars.occurrences_of_calendar("weekly")
    assert max(o.start for o in stored) < harness.clock.now() + timedelta(days=401)
    far = await service.occurrences_between(datetime(2030, 7, 1, tzinfo=UTC), datetime(2030, 7, 15, tzinfo=UTC))
    assert [o.start for o in far] == [datetime(2030, 7, 2, 11, 0, tzinfo=UTC), datetime(2030, 7, 9, 11, 0, tzinfo=UTC)]
    past = await service.occurrences_between(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 26, tzinfo=UTC))
    assert len(past) == 2
    # Time passes: the horizon moves forward and the new weeks are stored.
    harness.clock.advance(timedelta(days=30))
    assert await service.advance_horizon() >= 4
    stored_later = await harness.app.store.calendars.occurrences_of_calendar("weekly")
    assert max(o.start for o in stored_later) > max(o.start for o in stored) + timedelta(days=27)


# --------------------------------------------------------------------------- notices


async def test_each_subscriber_gets_one_notice_in_their_language_and_zone(
        harness: Harness, server: FakeFeedServer) -> None:
    service = service_of(harness)
    await service.sync("sww", server.url())
    people = harness.app.store.people
    await people.save_settings(UserSettings("fake:alice", timezone="America/New_York", language="cy"))
    await people.save_settings(UserSettings("fake:bob", timezone="Europe/London"))
    await people.subscribe(Subscription("fake:alice", SubscriptionScope.SERIES, series_id("sww", SERIES_UID)))
    await people.subscribe(Subscription("fake:alice", SubscriptionScope.OCCURRENCE, oid(KEYNOTE_UID)))
    await people.subscribe(Subscription("fake:bob", SubscriptionScope.OCCURRENCE, oid(WORKSHOP_UID)))
    await people.subscribe(Subscription("fake:carol", SubscriptionScope.OCCURRENCE, oid(SERIES_UID, "2025-03-25T10:00:00Z")))
    harness.adapter.clear()
    server.feed = V2
    await service.sync("sww")
    await harness.advance(timedelta(0))  # the outbox sends what the refresh planned
    [alice] = harness.adapter.to("alice")
    assert alice.kind == "notice"
    lines = alice.text.splitlines()
    assert len(lines) == 4  # heading, the keynote, the moved and the cancelled supervision
    assert "09:00 EDT" in alice.text and "05:00 EDT" in alice.text  # 14:00 and 10:00 BST, in New York
    assert "Hall B" in alice.text and "Canslwyd" in alice.text  # alice reads Welsh
    assert alice.text.startswith("Newidiadau i'r rhaglen")
    [bob] = harness.adapter.to("bob")
    assert "Workshop" in bob.text and "cancelled" in bob.text and len(bob.text.splitlines()) == 2
    assert harness.adapter.to("carol") == []


async def test_notice_failures_do_not_break_the_sync(harness: Harness, server: FakeFeedServer) -> None:
    service = service_of(harness)
    await service.sync("sww", server.url())
    await harness.app.store.people.subscribe(Subscription("fake:dave", SubscriptionScope.ALL))
    harness.adapter.unreachable.add("fake:dave")
    server.feed = V2
    report = await service.sync("sww")
    assert report.has_changes


# --------------------------------------------------------------------------- chat


async def test_import_from_chat_is_for_organisers(harness: Harness, server: FakeFeedServer) -> None:
    denied = await harness.say("eve", f"/import {server.url()} sww")
    assert "Only organisers" in denied[0]
    replies = await harness.say("org", f"/import {server.url()} sww")
    assert "Imported “sww”: 3 events, 8 sessions stored." in replies[-1]
    assert "every 15 minutes" in replies[-1]
    listing = await harness.say("org", "/calendars")
    assert "sww: 3 events, 8 sessions" in listing[0]
    bad = await harness.say("org", f"/import {server.url('/status/404')} broken")
    assert bad[-1] == "Could not fetch the feed from 127.0.0.1 (HTTP 404)."


async def test_personal_ics(harness: Harness, server: FakeFeedServer) -> None:
    await service_of(harness).sync("sww", server.url())
    assert "no sessions" in (await harness.say("alice", "/ics"))[0].lower()
    people = harness.app.store.people
    await people.subscribe(Subscription("fake:alice", SubscriptionScope.SERIES, series_id("sww", SERIES_UID)))
    await people.subscribe(Subscription("fake:alice", SubscriptionScope.OCCURRENCE, oid(KEYNOTE_UID)))
    sent = await harness.adapter.push(Incoming(user=harness.adapter.user("alice"), chat=harness.adapter.room,
                                               text="/ics"))
    [message] = sent
    assert message.attachment is not None and message.attachment.filename == "my-sessions.ics"
    again = parse_feed(message.attachment.content, calendar="mine")
    assert again.problems == []
    assert {s.title for s in again.series} == {"Group supervision", "Keynote"}
    assert any(s.recurring for s in again.series)


def test_export_round_trips(tmp_path: Path) -> None:
    parsed = parse_feed(V2, calendar="sww", default_timezone="Europe/London")
    data = build_ics(parsed.series, [], name="sww")
    again = parse_feed(data, calendar="sww")
    assert again.problems == []
    assert {s.uid for s in again.series} == {s.uid for s in parsed.series}
    assert b"BEGIN:VTIMEZONE" in data and b"TZID:Europe/London" in data


def test_default_calendar_names() -> None:
    assert default_calendar_name("https://example.org/feeds/sww-2025.ics?key=1") == "sww-2025"
    assert default_calendar_name("webcal://example.org/cpd.ics") == "cpd"
    assert default_calendar_name("/srv/feeds/course.ics") == "course"


# --------------------------------------------------------------------------- scheduler


async def test_configured_feeds_are_refreshed_on_their_interval(tmp_path: Path, server: FakeFeedServer) -> None:
    feeds = (FeedConfig(name="sww", source=server.url(), refresh_minutes=15),)
    async with Harness.open(tmp_path, feeds=feeds, allow_private_feeds=FakeFeedServer.ALLOW) as h:
        await h.advance(timedelta(minutes=1))
        info = await h.app.store.calendars.get_calendar("sww")
        assert info is not None and info.occurrences == 8 and info.refresh_minutes == 15
        server.feed = V2
        await h.advance(timedelta(minutes=14))
        assert (await h.app.store.calendars.get_occurrence(oid(PANEL_UID))) is None
        await h.advance(timedelta(minutes=1))
        assert (await h.app.store.calendars.get_occurrence(oid(PANEL_UID))) is not None
        server.feed = b"garbage"
        await h.advance(timedelta(minutes=15))
        info = await h.app.store.calendars.get_calendar("sww")
        assert info is not None and "not an iCalendar feed" in info.last_error and info.occurrences == 9


# --------------------------------------------------------------------------- command line


def upcoming_calendar() -> bytes:
    """V1 moved to start next week: the command line runs on the real clock."""
    start = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=7)
    stamp = f"{start:%Y%m%dT%H%M%S}Z"
    keynote = f"{start + timedelta(days=2):%Y%m%dT%H%M%S}Z"
    workshop = f"{start + timedelta(days=3):%Y%m%dT%H%M%S}Z"
    return calendar(
        vevent(SERIES_UID, "SUMMARY:Group supervision", f"DTSTART:{stamp}", "DURATION:PT1H",
               "RRULE:FREQ=WEEKLY;COUNT=6"),
        vevent(KEYNOTE_UID, "SUMMARY:Keynote", f"DTSTART:{keynote}", "DURATION:PT90M"),
        vevent(WORKSHOP_UID, "SUMMARY:Workshop", f"DTSTART:{workshop}", "DURATION:PT2H"))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_import_calendars_export_and_events(tmp_path: Path, database: Path | str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = str(database)
    feed = tmp_path / "sww.ics"
    feed.write_bytes(upcoming_calendar())
    code, out, _err = run_cli(capsys, "--db", db, "import", str(feed), "--calendar", "sww")
    assert code == 0 and "Imported “sww”: 3 events, 8 sessions stored." in out
    code, out, _ = run_cli(capsys, "--db", db, "import", str(feed), "--calendar", "sww")
    assert code == 0 and "up to date" in out
    code, out, _ = run_cli(capsys, "--db", db, "calendars")
    assert code == 0 and out.startswith("sww: 3 events, 8 sessions")
    exported = tmp_path / "out.ics"
    code, _, _ = run_cli(capsys, "--db", db, "export", "--calendar", "sww", "--output", str(exported))
    assert code == 0 and len(parse_feed(exported.read_bytes(), calendar="x").series) == 3
    code, out, _ = run_cli(capsys, "--db", db, "events", "--from", "2031-03-01", "--to", "2031-03-31", "--json")
    assert code == 0 and json.loads(out) == []  # the series ended in 2025
    feed.write_bytes(calendar(vevent("w@x", "SUMMARY:Weekly", "DTSTART:20250318T100000Z", "RRULE:FREQ=WEEKLY")))
    # A feed that replaces the whole programme is held until forced (tests/test_feed_hold.py).
    assert run_cli(capsys, "--db", db, "import", str(feed), "--calendar", "sww")[0] == 3
    assert run_cli(capsys, "--db", db, "import", str(feed), "--calendar", "sww", "--force")[0] == 0
    code, out, _ = run_cli(capsys, "--db", db, "events", "--from", "2031-03-01", "--to", "2031-03-14", "--json")
    assert code == 0 and [e["title"] for e in json.loads(out)] == ["Weekly", "Weekly"]


@pytest.mark.parametrize(("content", "words"), [
    (b"", "The feed is empty."),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "cut off"),
    (None, "There is no file"),
])
def test_cli_refuses_bad_sources_with_one_line(tmp_path: Path, database: Path | str,
                                               capsys: pytest.CaptureFixture[str],
                                               content: bytes | None, words: str) -> None:
    db = str(database)
    good = tmp_path / "good.ics"
    good.write_bytes(upcoming_calendar())
    assert run_cli(capsys, "--db", db, "import", str(good), "--calendar", "sww")[0] == 0
    bad = tmp_path / "bad.ics"
    if content is not None:
        bad.write_bytes(content)
    code, out, err = run_cli(capsys, "--db", db, "import", str(bad), "--calendar", "sww")
    assert code != 0 and err.startswith("error: ") and words in err and err.count("\n") == 1
    assert "Traceback" not in err
    code, out, _ = run_cli(capsys, "--db", db, "calendars")
    assert "sww: 3 events, 8 sessions" in out and "last error" in out



async def test_chat_import_takes_addresses_only(harness: Harness, tmp_path: Path) -> None:
    secret = tmp_path / "secret.ics"
    secret.write_bytes(V1)
    [reply] = await harness.say("org", f"/import {secret} sww")
    assert "http(s) or webcal" in reply
    assert await harness.app.store.calendars.get_calendar("sww") is None


async def test_chat_imported_feed_is_followed(harness: Harness, server: FakeFeedServer) -> None:
    await harness.say("org", f"/import {server.url()} sww")
    server.feed = V2
    await harness.advance(timedelta(minutes=15))
    assert await harness.app.store.calendars.get_occurrence(oid(PANEL_UID)) is not None
    # After a restart the stored address is followed again.
    await harness.restart()
    server.feed = calendar(SUPERVISION)
    await harness.advance(timedelta(minutes=15))
    keynote = await harness.app.store.calendars.get_occurrence(oid(KEYNOTE_UID))
    assert keynote is not None and keynote.status is EventStatus.CANCELLED


def test_add_to_calendar_file_for_one_session() -> None:
    [occurrence] = [o for o in expand_v1() if o.uid == KEYNOTE_UID]
    attachment = add_to_calendar(occurrence)
    assert attachment.filename == f"{occurrence.id}.ics" and attachment.mime_type == "text/calendar"
    [again] = expand(parse_feed(attachment.content, calendar="x").series,
                     datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)).occurrences
    assert (again.start, again.end, again.title, again.url, again.facilitator, again.cpd_hours) == (
        occurrence.start, occurrence.end, "Keynote", occurrence.url, "Prof. Rhian Davies", 1.5)


def expand_v1() -> list[Occurrence]:
    return expand(parse_feed(V1, calendar="sww").series, datetime(2025, 1, 1, tzinfo=UTC),
                  datetime(2026, 1, 1, tzinfo=UTC)).occurrences


CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "ical-corpus"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/ical-corpus")
REFUSED = sorted(line.split("\t")[0] for line in (CORPUS / "MANIFEST.tsv").read_text().splitlines()[1:]
                 if line.endswith("\tno")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not REFUSED, reason="the iCal corpus (../shared/ical-corpus) is not checked out")
@pytest.mark.parametrize("name", REFUSED)
async def test_refused_corpus_files_leave_the_calendar_untouched(harness: Harness, tmp_path: Path,
                                                                 name: str) -> None:
    good = tmp_path / "good.ics"
    good.write_bytes(V1)
    service = service_of(harness)
    await service.sync("sww", str(good))
    before = await harness.app.store.calendars.occurrences_of_calendar("sww")
    series_before = await harness.app.store.calendars.list_series("sww")
    with pytest.raises(FeedError) as caught:
        await service.sync("sww", str(CORPUS / name))
    assert "\n" not in str(caught.value)
    assert await harness.app.store.calendars.occurrences_of_calendar("sww") == before
    assert await harness.app.store.calendars.list_series("sww") == series_before
    info = await harness.app.store.calendars.get_calendar("sww")
    assert info is not None and info.last_error and info.source == str(good)


def test_export_pins_floating_times_to_the_calendar_zone() -> None:
    floating = calendar(vevent("f@x", "SUMMARY:Evening class", "DTSTART:20250324T190000", "DURATION:PT1H",
                               "RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE:20250331T190000"))
    parsed = parse_feed(floating, calendar="x", default_timezone="Europe/London")
    window = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    expected = [o.start for o in expand(parsed.series, *window).occurrences]
    assert expected == [datetime(2025, 3, 24, 19, 0, tzinfo=UTC), datetime(2025, 4, 7, 18, 0, tzinfo=UTC)]
    exported = build_ics(parsed.series, [], name="x")
    # Read back with another default zone: the times no longer depend on it.
    again = parse_feed(exported, calendar="x", default_timezone="America/New_York")
    assert [o.start for o in expand(again.series, *window).occurrences] == expected


async def test_a_followed_feed_that_never_loaded_shows_its_error(tmp_path: Path, server: FakeFeedServer) -> None:
    feeds = (FeedConfig(name="later", source=server.url("/status/503"), refresh_minutes=15),)
    async with Harness.open(tmp_path, feeds=feeds, allow_private_feeds=FakeFeedServer.ALLOW) as h:
        await h.advance(timedelta(minutes=1))
        info = await h.app.store.calendars.get_calendar("later")
        assert info is not None and "(HTTP 503)" in info.last_error and info.occurrences == 0
        listing = await h.say("org", "/calendars")
        assert "last error: Could not fetch the feed from 127.0.0.1 (HTTP 503)." in listing[0]


async def test_a_restamped_download_changes_nothing(harness: Harness, server: FakeFeedServer) -> None:
    service = service_of(harness)
    await service.sync("sww", server.url())
    before = await harness.app.store.calendars.list_series("sww")
    server.feed = V1.replace(b"DTSTAMP:20250301T000000Z", b"DTSTAMP:20250317T080000Z")
    report = await service.sync("sww")
    assert not report.unchanged and not report.has_changes
    assert await harness.app.store.calendars.list_series("sww") == before


async def test_channel_delivery_names_the_person(harness: Harness, server: FakeFeedServer) -> None:
    service = service_of(harness)
    await service.sync("sww", server.url())
    await harness.app.store.people.save_settings(UserSettings(
        "fake:gwen", delivery=Delivery.CHANNEL, delivery_chat="fake:room", display_name="Gwen"))
    await harness.app.store.people.subscribe(Subscription("fake:gwen", SubscriptionScope.OCCURRENCE, oid(WORKSHOP_UID)))
    harness.adapter.clear()
    server.feed = V2
    await service.sync("sww")
    await harness.advance(timedelta(0))  # the outbox sends what the refresh planned
    [notice] = harness.adapter.in_chat("fake:room")
    assert notice.text.startswith("For Gwen: Programme changes in “sww”:") and "Workshop" in notice.text
    assert harness.adapter.to("gwen") == []


async def test_someone_unreachable_privately_is_told_in_their_chat_in_its_language(
        harness: Harness, server: FakeFeedServer) -> None:
    service = service_of(harness)
    await service.sync("sww", server.url())
    await harness.app.store.people.save_settings(UserSettings("fake:gwen", delivery_chat="fake:room",
                                                              display_name="Gwen"))
    await harness.app.store.people.subscribe(Subscription("fake:gwen", SubscriptionScope.OCCURRENCE, oid(WORKSHOP_UID)))
    await harness.app.store.reminders.mark_unreachable("fake:gwen", "blocked the bot", 0)
    await harness.app.store.people.set_chat_language("fake:room", "cy", 0)
    harness.adapter.clear()
    server.feed = V2
    await service.sync("sww")
    await harness.advance(timedelta(0))  # the outbox sends what the refresh planned
    [notice] = harness.adapter.in_chat("fake:room")
    assert notice.text.startswith("Ar gyfer Gwen: ") and "Workshop" in notice.text
    assert harness.adapter.to("gwen") == []


async def test_a_long_import_reports_its_progress_by_stage(tmp_path: Path) -> None:
    """The command line draws a progress bar from these reports."""
    import io

    from bot.i18n import translator
    from bot.progress import ProgressBar

    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN"]
    for i in range(250):
        lines += ["BEGIN:VEVENT", f"UID:e{i}@t", "DTSTAMP:20250101T000000Z", f"DTSTART:2025031{i % 5}T1{i % 10}0000Z",
                  "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=2", f"SUMMARY:Session {i}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    path = tmp_path / "big.ics"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    seen: list[tuple[str, int, int]] = []
    terminal = io.StringIO()
    bar = ProgressBar(translator("en"), terminal, force=True)

    def record(stage: str, done: int, total: int) -> None:
        seen.append((stage, done, total))
        bar(stage, done, total)

    async with Harness.open(tmp_path) as h:
        service = h.app.services.calendars
        assert service is not None
        await service.sync("big", str(path), progress=record)  # type: ignore[attr-defined]
    stages = list(dict.fromkeys(stage for stage, _d, _t in seen))
    assert stages == ["fetch", "parse", "expand", "store"]
    assert ("expand", 250, 250) in seen and ("expand", 100, 250) in seen
    assert "Expanding  [" in terminal.getvalue() and "250/250" in terminal.getvalue()
