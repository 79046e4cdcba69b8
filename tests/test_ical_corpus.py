"""The whole real-world corpus in ../shared/ical-corpus, as its MANIFEST.tsv says."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.errors import FeedError
from bot.i18n import translator
from bot.ical import ParsedFeed, expand, parse_feed
from bot.models import EventStatus, Occurrence


def _corpus_dir() -> Path | None:
    for candidate in (
        Path(__file__).resolve().parents[1].parent / "shared" / "ical-corpus",
        Path("/work/shared/ical-corpus"),
    ):
        if (candidate / "MANIFEST.tsv").is_file():
            return candidate
    return None


CORPUS = _corpus_dir()
pytestmark = pytest.mark.skipif(CORPUS is None, reason="the iCal corpus (../shared/ical-corpus) is not checked out")


def _manifest() -> list[tuple[str, str]]:
    if CORPUS is None:
        return []
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        return [(row["file"], row["valid"]) for row in csv.DictReader(handle, delimiter="\t")]


EVER_START = datetime(1990, 1, 1, tzinfo=UTC)
EVER_END = datetime(2031, 1, 1, tzinfo=UTC)

# rie__issue_28's quirks (an all-day series whose UNTIL is a UTC date-time and whose
# overrides name the day by its local midnight) are exactly those of
# icalevents__recurring_override, which the manifest lists as well-formed. Both are routine
# Exchange output with one unambiguous reading, so both import cleanly, and issue_28 is
# held to its exact occurrences instead (test_exchange_all_day_series_with_utc_until).
CLEAN_THOUGH_LISTED_PARTIAL = {"rie__issue_28_rrule_with_UTC_endinginZ.ics"}


def _load(name: str) -> ParsedFeed:
    assert CORPUS is not None
    return parse_feed((CORPUS / name).read_bytes(), calendar="corpus")


def _occurrences(name: str, start: datetime = EVER_START, end: datetime = EVER_END) -> list[Occurrence]:
    feed = _load(name)
    expansion = expand(feed.series, start, end)
    assert expansion.problems == []
    return expansion.occurrences


def test_manifest_lists_all_37_files() -> None:
    assert len(_manifest()) == 37


@pytest.mark.parametrize(("name", "valid"), _manifest())
def test_corpus_file_imports_as_the_manifest_says(name: str, valid: str) -> None:
    assert CORPUS is not None
    data = (CORPUS / name).read_bytes()
    if valid == "no":
        with pytest.raises(FeedError) as caught:
            parse_feed(data, calendar="corpus")
        message = str(caught.value)
        assert message and "\n" not in message
        assert "Traceback" not in message
        return

    feed = parse_feed(data, calendar="corpus")
    expansion = expand(feed.series, EVER_START, EVER_END)
    assert expansion.problems == []
    assert feed.series, "something must import"
    assert expansion.occurrences, "occurrences must come out"
    ids = [o.id for o in expansion.occurrences]
    assert len(ids) == len(set(ids)), "occurrence ids are unique"
    for occurrence in expansion.occurrences:
        assert occurrence.start.tzinfo is UTC and occurrence.end >= occurrence.start
    if valid == "yes" or name in CLEAN_THOUGH_LISTED_PARTIAL:
        assert feed.problems == [], [str(p) for p in feed.problems]
    else:
        assert feed.problems, "a partial file must report what it skipped or repaired"
        _ = translator("en")
        for problem in feed.problems:
            line = problem.render(_)
            assert line and "\n" not in line


def test_reimport_gives_the_same_ids() -> None:
    first = {o.id for o in _occurrences("icalevents__recurring_override.ics")}
    second = {o.id for o in _occurrences("icalevents__recurring_override.ics")}
    assert first == second


# --------------------------------------------------------------------------- exact facts


def test_exdates_written_in_utc_remove_the_local_instances() -> None:
    occurrences = _occurrences("ical4j__EXDATE-IN-UTC.ics")
    starts = {o.start for o in occurrences}
    assert datetime(2007, 5, 8, 10, 15, tzinfo=UTC) in starts
    assert datetime(2007, 5, 15, 10, 15, tzinfo=UTC) not in starts
    assert datetime(2007, 5, 22, 10, 15, tzinfo=UTC) not in starts
    assert datetime(2007, 5, 29, 10, 15, tzinfo=UTC) in starts
    # After the US DST change (4 Nov 2007) 05:15 Chicago is 11:15 UTC: same wall clock.
    chicago = ZoneInfo("America/Chicago")
    assert {o.start.astimezone(chicago).time().isoformat() for o in occurrences} == {"05:15:00"}
    assert datetime(2007, 11, 6, 11, 15, tzinfo=UTC) in starts
    assert max(starts) < datetime(2009, 1, 2, 5, 59, tzinfo=UTC)


def test_daylight_saving_keeps_the_wall_clock_time() -> None:
    occurrences = _occurrences("rie__daylight_saving_time.ics")
    berlin = ZoneInfo("Europe/Berlin")
    by_uid: dict[str, set[str]] = {}
    months: dict[str, set[int]] = {}
    for o in occurrences:
        if o.all_day or o.recurrence_id == "":
            continue
        by_uid.setdefault(o.uid, set()).add(o.start.astimezone(berlin).strftime("%H:%M"))
        months.setdefault(o.uid, set()).add(o.start.astimezone(berlin).utcoffset().total_seconds())  # type: ignore[union-attr]
    crossing = [uid for uid, offsets in months.items() if len(offsets) == 2]
    assert crossing, "some series cross a DST switch"
    # A series without overrides that crosses DST stays at one local time.
    assert any(len(by_uid[uid]) == 1 for uid in crossing)


def test_cancelled_override_is_kept_as_cancelled() -> None:
    occurrences = _occurrences("rie__issue_18_cancel_status.ics")
    assert [(o.start, o.status) for o in occurrences] == [
        (datetime(2020, 1, 28, 21, 0, tzinfo=UTC), EventStatus.CONFIRMED),
        (datetime(2020, 1, 29, 21, 0, tzinfo=UTC), EventStatus.CANCELLED),
        (datetime(2020, 1, 30, 21, 0, tzinfo=UTC), EventStatus.CONFIRMED),
    ]
    assert occurrences[1].recurrence_id == "2020-01-29T21:00:00Z"


def test_rdate_equal_to_dtstart_is_not_duplicated() -> None:
    occurrences = _occurrences("rie__rdate_hackerpublicradio.ics")
    assert len(occurrences) == 12
    assert occurrences[0].start == datetime(2013, 8, 3, 19, 0, tzinfo=UTC)
    assert occurrences[0].url.startswith("http://www.hackerpublicradio.org/eps/hpr1286/")


def test_rdate_on_until_is_not_duplicated() -> None:
    occurrences = _occurrences("rie__rdate_falls_on_rrule_until.ics")
    starts = [o.start for o in occurrences]
    assert len(starts) == len(set(starts))


def test_phoenix_has_no_daylight_saving() -> None:
    [meetup] = _occurrences("nodeical__meetup-timed-tz.ics")
    assert meetup.start == datetime(2011, 11, 10, 2, 0, tzinfo=UTC)  # 19:00 MST
    assert meetup.timezone == "America/Phoenix"
    assert meetup.url == "http://www.meetup.com/Phoenix-Drupal-User-Group/events/33627272/"
    assert meetup.cpd_hours == 2.0


def test_statuses_from_apple_calendar() -> None:
    statuses = {o.title: o.status for o in _occurrences("nodeical__tentative-apple-calendar.ics")}
    assert statuses == {
        "Tentative": EventStatus.TENTATIVE,
        "Confirmed": EventStatus.CONFIRMED,
        "Cancelled": EventStatus.CANCELLED,
        "No Status": EventStatus.CONFIRMED,
    }


def test_several_exdates_on_one_line_in_a_windows_zone() -> None:
    occurrences = _occurrences("icalevents__multi_exdate_same_line_ms.ics")
    assert [o.start for o in occurrences] == [
        datetime(2022, 3, 11, 16, 0, tzinfo=UTC),
        datetime(2022, 3, 25, 15, 0, tzinfo=UTC),
        datetime(2022, 4, 15, 15, 0, tzinfo=UTC),
        datetime(2022, 4, 22, 15, 0, tzinfo=UTC),
        datetime(2022, 4, 29, 15, 0, tzinfo=UTC),
    ]
    assert {o.timezone for o in occurrences} == {"America/New_York"}


def test_overrides_before_the_master_and_moved_times() -> None:
    occurrences = _occurrences("icalevents__recurr_id_dtstart_missmatch.ics")
    moved = next(o for o in occurrences if o.title == "Recurring Event - Exception 2")
    assert moved.recurrence_id == "2022-04-13T17:00:00Z"
    assert moved.start == datetime(2022, 4, 13, 14, 30, tzinfo=UTC)
    assert len(occurrences) == 7
    assert len({o.recurrence_id for o in occurrences}) == 7


def test_outlook_display_zone_names_map_to_iana() -> None:
    occurrences = _occurrences("nodeical__Office-2012-owa.ics")
    sydney = next(o for o in occurrences if o.title == "TEST Syd")
    assert sydney.timezone == "Australia/Sydney"
    assert sydney.start == datetime(2020, 10, 28, 2, 30, tzinfo=UTC)  # 13:30 AEDT
    before_dst_end = next(o for o in occurrences if o.title == "TEST")
    after_dst_end = next(o for o in occurrences if o.title == "TEST 3")
    assert before_dst_end.start == datetime(2020, 10, 28, 17, 30, tzinfo=UTC)  # 13:30 EDT
    assert after_dst_end.start == datetime(2020, 11, 2, 18, 30, tzinfo=UTC)  # 13:30 EST
    reasons = {str(p) for p in _load("nodeical__Office-2012-owa.ics").problems}
    assert any("(UTC-05:00) Eastern Time (US & Canada)" in r and "America/New_York" in r for r in reasons)


def test_outlook_2003_display_name_with_vtimezone() -> None:
    occurrences = _occurrences("ical4j__Standup.ics", EVER_START, datetime(2009, 3, 14, tzinfo=UTC))
    assert [o.start for o in occurrences] == [
        datetime(2009, 3, 9, 22, 30, tzinfo=UTC),  # Tue 10 March 09:30 AEDT
        datetime(2009, 3, 10, 22, 30, tzinfo=UTC),
        datetime(2009, 3, 11, 22, 30, tzinfo=UTC),
        datetime(2009, 3, 12, 22, 30, tzinfo=UTC),
    ]
    assert occurrences[0].timezone == "Australia/Sydney"
    assert occurrences[0].facilitator == "Ben.Fortuna@example.com"
    assert occurrences[0].cpd_hours == 0.25


def test_exchange_all_day_series_with_utc_until() -> None:
    occurrences = _occurrences("rie__issue_28_rrule_with_UTC_endinginZ.ics")
    black = [o for o in occurrences if o.title == "Refuse black bin"]
    blue = [o for o in occurrences if o.title == "Blue Recycle bin"]
    assert len(black) == 13 and len(blue) == 13
    assert all(o.all_day for o in occurrences)
    days = {o.start_date for o in black}
    assert date(2020, 4, 16) not in days and date(2020, 4, 17) in days  # moved by an override
    assert max(days) == date(2020, 9, 17)  # UNTIL 16 Sep 23:00Z is local midnight of the 17th
    assert max(o.start_date for o in blue if o.start_date) == date(2020, 9, 24)


def test_x_wr_timezone_with_utc_times() -> None:
    occurrences = _occurrences("rie__x_wr_timezone_simple_events_issue_59.ics")
    assert [(o.start, o.timezone) for o in occurrences] == [
        (datetime(2021, 12, 22, 17, 0, tzinfo=UTC), "America/New_York"),
        (datetime(2021, 12, 23, 2, 0, tzinfo=UTC), "America/New_York"),
    ]


def test_floating_times_take_x_wr_timezone() -> None:
    occurrences = _occurrences("nodeical__tv-show-episode.ics")
    first = occurrences[0]
    assert first.title.startswith("The Big Bang Theory")
    assert first.start == datetime(2011, 4, 1, 0, 0, tzinfo=UTC)  # 20:00 EDT
    assert first.timezone == "US/Eastern"


def test_all_day_bank_holidays() -> None:
    occurrences = _occurrences("govuk__england-and-wales.ics")
    first = occurrences[0]
    assert (first.title, first.all_day, first.start_date, first.end_date) == (
        "New Year’s Day", True, date(2012, 1, 2), date(2012, 1, 3))
    assert first.start == datetime(2012, 1, 2, tzinfo=UTC)
    assert first.cpd_hours is None
    assert len(occurrences) == 49


def test_several_vcalendars_in_one_file() -> None:
    feed = _load("ical4j__SwedishHolidays2003-2006.ics")
    assert len(feed.series) == 52
    assert any("å" in s.title or "ä" in s.title or "ö" in s.title for s in feed.series)


def test_latin1_feed_is_decoded_and_reported() -> None:
    feed = _load("icalevents__basic_latin1.ics")
    assert feed.encoding == "windows-1252"
    assert any("not UTF-8" in str(p) for p in feed.problems)
    assert len(feed.series) == 95


def test_impossible_dates_and_double_dtstart_are_skipped_by_uid() -> None:
    feed = _load("nodeical__large-file-with-late-error.ics")
    assert len(feed.series) == 394
    skipped = sorted(p.uid for p in feed.problems)
    assert len(skipped) == 7
    assert "event060@example.com" in skipped  # 30 February
    assert any("more than one start time" in str(p) for p in feed.problems)


def test_doubled_rrule_prefix_is_repaired_and_named() -> None:
    feed = _load("nodeical__badRRULE.ics")
    assert {s.title for s in feed.series} == {"Academic Time", "Brain Break", "Invalid RRULE property"}
    [problem] = feed.problems
    assert problem.kind == "repaired" and problem.title == "Academic Time"
    assert problem.uid == "11le1ep09hvog7dbotn6foj38e@google.com"
    assert str(problem).startswith("Imported “Academic Time” (UID 11le1ep09hvog7dbotn6foj38e@google.com) "
                                   "with a fix: ")
    denver = ZoneInfo("America/Denver")
    sessions = [o for o in expand(feed.series, EVER_START, EVER_END).occurrences if o.title == "Academic Time"]
    assert sessions[0].start == datetime(2020, 9, 3, 15, 50, tzinfo=UTC)
    assert {o.start.astimezone(denver).strftime("%a %H:%M") for o in sessions} == {
        f"{day} 09:50" for day in ("Mon", "Tue", "Wed", "Thu", "Fri")}
    assert date(2020, 10, 15) not in {o.start.astimezone(denver).date() for o in sessions}  # its EXDATE


def test_a_lone_series_with_an_unreadable_rule_is_refused_not_cut_to_one_session() -> None:
    # The manifest's "no": the feed's only event has "UNTL=" for "UNTIL=". Its first session
    # alone could be kept, but then a refresh would replace a weekly series with one session.
    assert CORPUS is not None
    with pytest.raises(FeedError, match="blabla"):
        parse_feed((CORPUS / "rie__bad_rrule_missing_until_event.ics").read_bytes(), calendar="c")


def test_unknown_zone_falls_back_to_the_calendar_zone_and_says_so() -> None:
    assert CORPUS is not None
    feed = parse_feed((CORPUS / "khal__event_dt_local_missing_tz.ics").read_bytes(),
                      calendar="c", default_timezone="Europe/London")
    [occurrence] = expand(feed.series, EVER_START, EVER_END).occurrences
    assert occurrence.start == datetime(2014, 4, 9, 8, 30, tzinfo=UTC)  # 09:30 BST
    assert "FOO" in str(feed.problems[0]) and "Europe/London" in str(feed.problems[0])


def test_google_date_until_under_datetime_start() -> None:
    occurrences = _occurrences("allenporter__google_dtstart_until_mismatch.ics")
    assert occurrences[-1].start == datetime(2023, 12, 28, 14, 0, tzinfo=UTC)  # last Thursday, 09:00 EST


def test_vtodos_are_reported_not_imported() -> None:
    feed = _load("ical4j__twinkle.ics")
    assert sum("VTODO" in str(p) for p in feed.problems) == 3
    assert "Chinese Chess Compeitition" in {s.title for s in feed.series}


def test_plain_reader_agrees_with_icalendar_on_every_single_event() -> None:
    from bot.ical.expansion import _expand_one, _expand_with_icalendar, plain_props

    compared = 0
    for name, valid in _manifest():
        if valid == "no":
            continue
        for record in _load(name).series:
            if record.recurring or plain_props(record.ical.split("\r\n")) is None:
                continue
            fast = list(_expand_one(record, EVER_START, EVER_END))
            slow = list(_expand_with_icalendar(record, EVER_START, EVER_END))
            assert fast == slow, (name, record.uid)
            compared += 1
    assert compared > 500


def test_fast_expansion_agrees_with_the_public_api_on_every_series() -> None:
    from bot.ical.expansion import _expand_with_components, _expand_with_icalendar

    compared = 0
    for name, valid in _manifest():
        if valid == "no":
            continue
        for record in _load(name).series:
            fast = list(_expand_with_icalendar(record, EVER_START, EVER_END))
            slow = list(_expand_with_components(record, EVER_START, EVER_END))
            assert fast == slow, (name, record.uid)
            compared += len(fast)
    assert compared > 15_000


def test_exchange_midnight_override_of_a_timed_series_replaces_that_days_session() -> None:
    # Exchange names the 14 April 2021 instance of a Wednesday 08:00 series by its midnight.
    uid = "040000008200E00074C5B7101A82E00800000000202CA5469130D701000000000000000010000000698F951EC461694EBF863670656CF6DD"
    occurrences = [o for o in _occurrences("icalevents__recurring_override.ics") if o.uid == uid]
    on_the_day = [o for o in occurrences if o.start.date() == date(2021, 4, 14)]
    assert [(o.start, o.recurrence_id) for o in on_the_day] == [
        (datetime(2021, 4, 14, 6, 0, tzinfo=UTC), "2021-04-14T06:00:00Z")]
    assert len(occurrences) == len({o.recurrence_id for o in occurrences}) == 16
