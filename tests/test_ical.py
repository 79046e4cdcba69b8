"""Focused behaviour of bot.ical on small inline feeds."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from bot.errors import FeedError
from bot.i18n import translator
from bot.ical import (
    FeedProblem,
    ParsedFeed,
    expand,
    iana_zone,
    occurrence_id,
    parse_feed,
    recurrence_key,
    series_id,
)
from bot.models import EventStatus, Occurrence

WINDOW = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


def feed(*events: str, header: str = "", encoding: str = "utf-8") -> bytes:
    body = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *filter(None, [header]),
                        *events, "END:VCALENDAR", ""])
    return body.encode(encoding)


def event(uid: str, *lines: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", *lines, "END:VEVENT"])


def parse(data: bytes, tz: str = "UTC") -> ParsedFeed:
    return parse_feed(data, calendar="cpd", default_timezone=tz)


def occurrences(data: bytes, tz: str = "UTC", window: tuple[datetime, datetime] = WINDOW) -> list[Occurrence]:
    parsed = parse(data, tz)
    assert parsed.problems == [], [str(p) for p in parsed.problems]
    expansion = expand(parsed.series, *window)
    assert expansion.problems == []
    return expansion.occurrences


# --------------------------------------------------------------------------- ids


def test_ids_are_short_lowercase_base32_and_stable() -> None:
    sid = series_id("cpd", "abc@example.org")
    oid = occurrence_id("cpd", "abc@example.org", "2025-03-17T09:30:00Z")
    for value in (sid, oid):
        assert re.fullmatch(r"[a-z2-7]{6,8}", value)
    assert sid == series_id("cpd", "abc@example.org")
    assert sid != series_id("other", "abc@example.org")
    assert oid != occurrence_id("cpd", "abc@example.org", "2025-03-24T09:30:00Z")


def test_recurrence_key_forms() -> None:
    assert recurrence_key(date(2025, 3, 17)) == "2025-03-17"
    assert recurrence_key(datetime(2025, 3, 17, 9, 30, tzinfo=UTC)) == "2025-03-17T09:30:00Z"
    with pytest.raises(ValueError):
        recurrence_key(datetime(2025, 3, 17, 9, 30))


def test_single_event_has_empty_recurrence_id_and_stable_ids() -> None:
    data = feed(event("one", "SUMMARY:Safeguarding update", "DTSTART:20250317T093000Z",
                      "DTEND:20250317T110000Z"))
    [first] = occurrences(data)
    [again] = occurrences(data)
    assert first.recurrence_id == ""
    assert first.id == occurrence_id("cpd", "one", "") == again.id
    assert first.series_id == series_id("cpd", "one")
    assert (first.start, first.end, first.cpd_hours) == (
        datetime(2025, 3, 17, 9, 30, tzinfo=UTC), datetime(2025, 3, 17, 11, 0, tzinfo=UTC), 1.5)


# --------------------------------------------------------------------------- recurrence


def test_rrule_with_local_zone_keeps_wall_clock_across_dst() -> None:
    data = feed(event("weekly", "SUMMARY:Supervision", "DTSTART;TZID=Europe/London:20250320T093000",
                      "DTEND;TZID=Europe/London:20250320T103000", "RRULE:FREQ=WEEKLY;COUNT=3"))
    starts = [o.start for o in occurrences(data)]
    assert starts == [
        datetime(2025, 3, 20, 9, 30, tzinfo=UTC),  # GMT
        datetime(2025, 3, 27, 9, 30, tzinfo=UTC),
        datetime(2025, 4, 3, 8, 30, tzinfo=UTC),  # BST: still 09:30 local
    ]


def test_rdate_adds_and_exdate_removes() -> None:
    data = feed(event("r", "SUMMARY:Drop-in", "DTSTART:20250303T100000Z", "DURATION:PT1H",
                      "RRULE:FREQ=WEEKLY;COUNT=4",
                      "RDATE:20250305T150000Z",
                      "EXDATE:20250310T100000Z,20250317T100000Z"))
    assert [o.start for o in occurrences(data)] == [
        datetime(2025, 3, 3, 10, 0, tzinfo=UTC),
        datetime(2025, 3, 5, 15, 0, tzinfo=UTC),
        datetime(2025, 3, 24, 10, 0, tzinfo=UTC),
    ]


def test_utc_exdate_matches_a_local_dtstart_by_instant() -> None:
    data = feed(event("x", "SUMMARY:Team", "DTSTART;TZID=Europe/London:20250601T100000",
                      "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=3", "EXDATE:20250602T090000Z"))
    assert [o.start.day for o in occurrences(data)] == [1, 3]


def test_overrides_listed_before_the_master_move_one_instance() -> None:
    data = feed(
        event("s", "RECURRENCE-ID;TZID=Europe/London:20250602T140000", "SUMMARY:Case review (moved)",
              "DTSTART;TZID=Europe/London:20250602T160000", "DTEND;TZID=Europe/London:20250602T170000"),
        event("s", "SUMMARY:Case review", "DTSTART;TZID=Europe/London:20250526T140000",
              "DTEND;TZID=Europe/London:20250526T150000", "RRULE:FREQ=WEEKLY;COUNT=3"),
    )
    result = occurrences(data)
    assert [(o.title, o.start.hour, o.recurrence_id) for o in result] == [
        ("Case review", 13, "2025-05-26T13:00:00Z"),
        ("Case review (moved)", 15, "2025-06-02T13:00:00Z"),
        ("Case review", 13, "2025-06-09T13:00:00Z"),
    ]
    assert len({o.id for o in result}) == 3
    assert parse(data).series[0].title == "Case review"


def test_cancelled_instance_and_tentative_event() -> None:
    data = feed(
        event("c", "SUMMARY:Reflective practice", "DTSTART:20250303T100000Z", "DURATION:PT1H",
              "RRULE:FREQ=WEEKLY;COUNT=2"),
        event("c", "RECURRENCE-ID:20250310T100000Z", "SUMMARY:Reflective practice",
              "DTSTART:20250310T100000Z", "DURATION:PT1H", "STATUS:CANCELLED"),
        event("t", "SUMMARY:Maybe", "DTSTART:20250312T100000Z", "STATUS:TENTATIVE"),
    )
    statuses = [(o.uid, o.status) for o in occurrences(data)]
    assert statuses == [("c", EventStatus.CONFIRMED), ("c", EventStatus.CANCELLED),
                        ("t", EventStatus.TENTATIVE)]


def test_all_day_event() -> None:
    data = feed(event("d", "SUMMARY:Social Work Week", "DTSTART;VALUE=DATE:20250317",
                      "DTEND;VALUE=DATE:20250322"))
    [o] = occurrences(data)
    assert (o.all_day, o.start_date, o.end_date) == (True, date(2025, 3, 17), date(2025, 3, 22))
    assert o.start == datetime(2025, 3, 17, tzinfo=UTC) and o.end == datetime(2025, 3, 22, tzinfo=UTC)
    assert o.cpd_hours is None


def test_all_day_event_with_cpd_hours() -> None:
    data = feed(event("d", "SUMMARY:Conference", "DTSTART;VALUE=DATE:20250317", "X-CPD-HOURS:6.5"))
    [o] = occurrences(data)
    assert (o.end_date, o.cpd_hours) == (date(2025, 3, 18), 6.5)


# --------------------------------------------------------------------------- zones


def test_floating_times_use_x_wr_timezone() -> None:
    data = feed(event("f", "SUMMARY:Evening", "DTSTART:20250701T190000"), header="X-WR-TIMEZONE:Europe/London")
    [o] = occurrences(data, tz="America/New_York")
    assert o.start == datetime(2025, 7, 1, 18, 0, tzinfo=UTC)
    assert o.timezone == "Europe/London"


def test_floating_times_use_the_configured_zone_without_x_wr_timezone() -> None:
    data = feed(event("f", "SUMMARY:Evening", "DTSTART:20250701T190000", "RRULE:FREQ=MONTHLY;COUNT=6"))
    result = occurrences(data, tz="Europe/London")
    assert result[0].start == datetime(2025, 7, 1, 18, 0, tzinfo=UTC)
    assert result[-1].start == datetime(2025, 12, 1, 19, 0, tzinfo=UTC)  # GMT in winter
    assert result[0].timezone == "Europe/London"


@pytest.mark.parametrize(("tzid", "iana"), [
    ("GMT Standard Time", "Europe/London"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Europe/London", "Europe/London"),
    ("Europe/Cardiff", None),  # not a real zone: Wales keeps Europe/London
    ("/freeassociation.sourceforge.net/Europe/London", "Europe/London"),
    ("(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"),
    ("(GMT+10:00) Canberra, Melbourne, Sydney", "Australia/Sydney"),
    ("Canberra, Melbourne, Sydney", "Australia/Sydney"),
    ("(UTC) Dublin, Edinburgh, Lisbon, London", "Europe/London"),
    ("(UTC-03:00) Brasília", "America/Sao_Paulo"),
    ("FOO", None),
])
def test_zone_names_map_to_iana(tzid: str, iana: str | None) -> None:
    assert iana_zone(tzid) == iana


def test_windows_zone_id_imports_cleanly() -> None:
    data = feed(event("w", "SUMMARY:Panel", 'DTSTART;TZID="GMT Standard Time":20250701T100000'))
    [o] = occurrences(data)
    assert (o.start, o.timezone) == (datetime(2025, 7, 1, 9, 0, tzinfo=UTC), "Europe/London")


def test_undefined_display_zone_is_guessed_and_reported() -> None:
    data = feed(event("o", "SUMMARY:Panel", 'DTSTART;TZID="(UTC-05:00) Eastern Time (US & Canada)":20250701T100000'))
    parsed = parse(data)
    [o] = expand(parsed.series, *WINDOW).occurrences
    assert o.start == datetime(2025, 7, 1, 14, 0, tzinfo=UTC)
    [problem] = parsed.problems
    assert problem.kind == "repaired" and problem.uid == "o"


def test_unknown_zone_is_read_in_the_calendar_zone_and_reported() -> None:
    parsed = parse(feed(event("u", "SUMMARY:Mystery", "DTSTART;TZID=Mars/Olympus:20250701T100000")),
                   tz="Europe/London")
    [o] = expand(parsed.series, *WINDOW).occurrences
    assert o.start == datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
    assert "Mars/Olympus" in str(parsed.problems[0])


def test_offset_only_zone_becomes_a_fixed_offset() -> None:
    parsed = parse(feed(event("u", "SUMMARY:Call", 'DTSTART;TZID="(UTC+04:00) Somewhere Unknown":20250701T100000')))
    [o] = expand(parsed.series, *WINDOW).occurrences
    assert o.start == datetime(2025, 7, 1, 6, 0, tzinfo=UTC)
    assert "Etc/GMT-4" in str(parsed.problems[0])


def test_custom_vtimezone_is_kept_with_the_series() -> None:
    vtimezone = "\r\n".join([
        "BEGIN:VTIMEZONE", "TZID:Customized Time Zone", "BEGIN:STANDARD", "DTSTART:16010101T000000",
        "TZOFFSETFROM:+0300", "TZOFFSETTO:+0300", "END:STANDARD", "END:VTIMEZONE"])
    data = feed(vtimezone, event("v", "SUMMARY:Remote", 'DTSTART;TZID="Customized Time Zone":20250701T100000'))
    parsed = parse(data)
    assert "BEGIN:VTIMEZONE" in parsed.series[0].ical
    [o] = expand(parsed.series, *WINDOW).occurrences
    assert o.start == datetime(2025, 7, 1, 7, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- shape of the file


def test_folded_lines_and_several_vcalendars() -> None:
    first = feed(event("a", "SUMMARY:Long title that was fol", " ded by the exporter", "DTSTART:20250301T100000Z"))
    second = feed(event("b", "DTSTART;TZ", " ID=Europe/London:20250302T100000", "SUMMARY:Second"))
    result = occurrences(first + second)
    assert [o.title for o in result] == ["Long title that was folded by the exporter", "Second"]


def test_non_utf8_bytes_are_decoded_and_reported() -> None:
    parsed = parse(feed(event("l", "SUMMARY:Gweithdy Café", "DTSTART:20250301T100000Z"), encoding="latin-1"))
    assert parsed.encoding == "windows-1252"
    assert parsed.series[0].title == "Gweithdy Café"
    assert [p.kind for p in parsed.problems] == ["note"]


def test_calendar_name_and_zone_are_read() -> None:
    parsed = parse(feed(event("a", "DTSTART:20250301T100000Z"),
                        header="X-WR-CALNAME:CPD Programme\r\nX-WR-TIMEZONE:Europe/London"))
    assert (parsed.name, parsed.timezone) == ("CPD Programme", "Europe/London")


@pytest.mark.parametrize(("data", "words"), [
    (b"", "empty"),
    (b"  \r\n", "empty"),
    (b"<!DOCTYPE html><html><body>Sign in</body></html>", "web page"),
    (b"Hello, this is not a calendar", "BEGIN:VCALENDAR"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n", "cut off"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", "damaged"),
])
def test_not_icalendar_is_refused_with_one_line(data: bytes, words: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse(data)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_feed_error_message_is_translatable() -> None:
    with pytest.raises(FeedError) as caught:
        parse(b"")
    error = caught.value
    assert translator("cy")(error.msgid, **error.params)


def test_empty_calendar_is_valid_and_empty() -> None:
    parsed = parse(feed())
    assert parsed.series == [] and parsed.problems == []


# --------------------------------------------------------------------------- broken events


@pytest.mark.parametrize(("lines", "reason"), [
    (("SUMMARY:No start", "DTEND:20250301T100000Z"), "no start time"),
    (("SUMMARY:Impossible", "DTSTART:20250230T100000Z"), "cannot be read"),
    (("SUMMARY:Two starts", "DTSTART:20250301T100000Z", "DTSTART:20250302T100000Z"), "more than one"),
    (("SUMMARY:Bad rule, bad start", "DTSTART:20250230T100000Z", "RRULE:FREQ=SOMETIMES"), "cannot be read"),
])
def test_one_broken_event_is_skipped_by_title_and_uid_and_the_rest_imports(
        lines: tuple[str, ...], reason: str) -> None:
    data = feed(event("good", "SUMMARY:Fine", "DTSTART:20250301T100000Z"), event("broken", *lines))
    parsed = parse(data)
    assert [s.uid for s in parsed.series] == ["good"]
    [problem] = parsed.problems
    assert problem.uid == "broken" and problem.kind == "skipped"
    assert reason in str(problem)
    title = lines[0].removeprefix("SUMMARY:").replace("\\,", ",")
    assert str(problem).startswith(f"Skipped “{title}” (UID broken): ")


def test_a_feed_whose_every_event_is_broken_is_refused() -> None:
    with pytest.raises(FeedError, match="Nothing in this feed could be imported"):
        parse(feed(event("b", "SUMMARY:Bad", "DTSTART:20250301T100000Z", "RRULE:FREQ=WEEKLY;UNTL=1")))


def test_a_feed_in_which_no_event_stands_as_written_is_refused() -> None:
    # Each series alone could keep its first session, but a feed with nothing readable
    # as written is a damaged one: refused whole, so it never replaces a programme.
    with pytest.raises(FeedError, match="Nothing in this feed could be imported"):
        parse(feed(event("b", "SUMMARY:Bad", "DTSTART:20250301T100000Z", "RRULE:FREQ=WEEKLY;UNTL=1"),
                   event("c", "SUMMARY:Worse", "DTSTART:20250301T100000Z", "RRULE:RRULE:FREQ=NEVER"),
                   event("d", "SUMMARY:Broken", "DTSTART:20250230T100000Z")))


def test_problems_render_through_the_translator() -> None:
    problem = FeedProblem("its repeat rule “{rule}” cannot be read", uid="u1", params={"rule": "X"})
    assert problem.render(translator("en")) == "Skipped u1: its repeat rule “X” cannot be read"
    named = FeedProblem("its repeat rule “{rule}” cannot be read", uid="u1", title="Supervision",
                        params={"rule": "X"})
    assert named.render(translator("en")) == "Skipped “Supervision” (UID u1): its repeat rule “X” cannot be read"
    assert "Supervision" in named.render(translator("cy")) and "u1" in named.render(translator("cy"))
    note = FeedProblem("the feed is not UTF-8; it was read as {encoding}", kind="note",
                       params={"encoding": "latin-1"})
    assert note.render(translator("cy")).endswith("latin-1")


def test_events_without_uid_get_a_stable_one() -> None:
    data = feed("\r\n".join(["BEGIN:VEVENT", "SUMMARY:Anonymous", "DTSTART:20250301T100000Z", "END:VEVENT"]))
    first, second = parse(data), parse(data)
    assert first.series[0].uid == second.series[0].uid
    assert first.series[0].uid.startswith("no-uid-")


# --------------------------------------------------------------------------- CPD metadata


def test_cpd_metadata_from_explicit_properties() -> None:
    data = feed(event("m", "SUMMARY:Trauma-informed practice", "DTSTART:20250301T100000Z",
                      "DTEND:20250301T120000Z", "X-CPD-HOURS:1.75",
                      "ORGANIZER;CN=Dr Siân Jones:mailto:sian@example.org",
                      "URL:https://meet.example.org/trauma",
                      "LOCATION:https://other.example.org/room"))
    [o] = occurrences(data)
    assert (o.cpd_hours, o.facilitator, o.url) == (1.75, "Dr Siân Jones", "https://meet.example.org/trauma")


def test_x_facilitator_wins_and_links_come_from_location_or_description() -> None:
    data = feed(
        event("a", "SUMMARY:A", "DTSTART:20250301T100000Z", "DURATION:PT45M", "X-FACILITATOR:Gareth Evans",
              "ORGANIZER;CN=Admin:mailto:admin@example.org", "LOCATION:Teams https://teams.example.org/j/1"),
        event("b", "SUMMARY:B", "DTSTART:20250302T100000Z", "LOCATION:Room 4",
              "DESCRIPTION:Agenda\\nJoin: https://zoom.example.org/j/42. Bring notes."),
    )
    a, b = occurrences(data)
    assert (a.facilitator, a.url, a.cpd_hours) == ("Gareth Evans", "https://teams.example.org/j/1", 0.75)
    assert (b.facilitator, b.url) == ("", "https://zoom.example.org/j/42")
    assert b.description == "Agenda\nJoin: https://zoom.example.org/j/42. Bring notes."


# --------------------------------------------------------------------------- series records


def test_series_record_is_self_contained_and_hash_is_stable() -> None:
    data = feed(event("s", "SUMMARY:Series", "DTSTART;TZID=Europe/London:20250301T100000", "RRULE:FREQ=DAILY"))
    first, second = parse(data), parse(data)
    [record] = first.series
    assert record.recurring and record.series_id == series_id("cpd", "s")
    assert record.content_hash == second.series[0].content_hash
    assert first.content_hash == second.content_hash
    # Any window can be expanded later from the record alone, far beyond any horizon.
    far = expand([record], datetime(2040, 1, 1, tzinfo=UTC), datetime(2040, 1, 3, tzinfo=UTC)).occurrences
    assert [o.start for o in far] == [datetime(2040, 1, 1, 10, 0, tzinfo=UTC),
                                      datetime(2040, 1, 2, 10, 0, tzinfo=UTC)]


def test_changed_series_changes_only_its_hash() -> None:
    a = event("a", "SUMMARY:A", "DTSTART:20250301T100000Z")
    before = parse(feed(a, event("b", "SUMMARY:B", "DTSTART:20250302T100000Z")))
    after = parse(feed(a, event("b", "SUMMARY:B moved", "DTSTART:20250303T100000Z")))
    assert before.series[0].content_hash == after.series[0].content_hash
    assert before.series[1].content_hash != after.series[1].content_hash


def test_expand_needs_aware_bounds() -> None:
    with pytest.raises(ValueError):
        expand([], datetime(2025, 1, 1), datetime(2025, 2, 1))


@pytest.mark.parametrize("lines", [
    ("SUMMARY:Two ends", "DTSTART:20250301T100000Z", "DTEND:20250301T110000Z", "DTEND:20250301T120000Z"),
    ("SUMMARY:Two ids", "DTSTART:20250301T100000Z", "RECURRENCE-ID:20250301T100000Z",
     "RECURRENCE-ID:20250302T100000Z"),
    ("SUMMARY:Broken alarm", "DTSTART:20250301T100000Z", "RRULE:FREQ=DAILY;COUNT=2", "BEGIN:VALARM",
     'TR"GGER:-PT5M', "END:VALARM"),
])
def test_strange_components_cost_only_themselves(lines: tuple[str, ...]) -> None:
    parsed = parse(feed(event("good", "SUMMARY:Fine", "DTSTART:20250301T100000Z"), event("odd", *lines)))
    assert [s.uid for s in parsed.series] == ["good"]
    assert [p.uid for p in parsed.problems] == ["odd"]


def test_custom_zones_with_the_same_name_in_different_feeds_stay_apart() -> None:
    def custom(offset: str) -> str:
        return "\r\n".join([
            "BEGIN:VTIMEZONE", "TZID:Customized Time Zone", "BEGIN:STANDARD", "DTSTART:16010101T000000",
            f"TZOFFSETFROM:{offset}", f"TZOFFSETTO:{offset}", "END:STANDARD", "END:VTIMEZONE"])

    starts = []
    for offset in ("+0300", "-0500", "+0300"):
        data = feed(custom(offset), event("v", "SUMMARY:Remote", 'DTSTART;TZID="Customized Time Zone":20250701T100000'))
        [o] = expand(parse(data).series, *WINDOW).occurrences
        starts.append(o.start.hour)
    assert starts == [7, 15, 7]


def test_a_fresh_dtstamp_does_not_change_a_series() -> None:
    first = parse(feed(event("s", "SUMMARY:Series", "DTSTART:20250301T100000Z", "RRULE:FREQ=DAILY;COUNT=3")))
    restamped = feed(event("s", "SUMMARY:Series", "DTSTART:20250301T100000Z", "RRULE:FREQ=DAILY;COUNT=3")
                     .replace("DTSTAMP:20250101T000000Z", "DTSTAMP:20250317T081500Z"))
    again = parse_feed(restamped, calendar="cpd", known={s.uid: s for s in first.series})
    assert again.content_hash != first.content_hash
    assert again.series[0] is first.series[0]  # taken as it was: nothing to check or expand


def test_the_order_of_a_series_components_does_not_matter() -> None:
    master = event("s", "SUMMARY:Series", "DTSTART:20250301T100000Z", "RRULE:FREQ=DAILY;COUNT=3")
    moved = event("s", "RECURRENCE-ID:20250302T100000Z", "SUMMARY:Series", "DTSTART:20250302T150000Z")
    cancelled = event("s", "RECURRENCE-ID:20250303T100000Z", "SUMMARY:Series", "DTSTART:20250303T100000Z",
                      "STATUS:CANCELLED")
    one = parse(feed(master, moved, cancelled)).series[0]
    other = parse(feed(cancelled, master, moved)).series[0]
    assert one.content_hash == other.content_hash


# --------------------------------------------------------------------------- what other calendar tools write


def test_a_doubled_rrule_prefix_is_repaired_and_reported_by_title_and_uid() -> None:
    data = feed(event("academic", "SUMMARY:Academic Time", "DTSTART:20250303T100000Z", "DURATION:PT1H",
                      "RRULE:RRULE:AnythingRandom;FREQ=WEEKLY;BYDAY=MO;COUNT=3"))
    parsed = parse(data)
    [record] = parsed.series
    assert [o.start.day for o in expand(parsed.series, *WINDOW).occurrences] == [3, 10, 17]
    [problem] = parsed.problems
    assert problem.kind == "repaired" and problem.uid == "academic" and problem.title == "Academic Time"
    assert str(problem) == ("Imported “Academic Time” (UID academic) with a fix: its repeat rule "
                            "“RRULE:AnythingRandom;FREQ=WEEKLY;BYDAY=MO;COUNT=3” was read as "
                            "“FREQ=WEEKLY;BYDAY=MO;COUNT=3”")
    assert "AnythingRandom" not in record.ical


@pytest.mark.parametrize("rule", [
    "FREQ=WEEKLY;UNTL=20250401",  # a typo: read as it stands, the rule would never end
    "FREQ=SOMETIMES",
    "FREQ=WEEKLY;BYDAY=XX",  # icalendar cannot read it
    "FREQ=WEEKLY;COUNT=3;UNTIL=20250401T000000Z",
    "FREQ=WEEKLY;INTERVAL=0",  # dateutil loops forever on it
    "RRULE:FREQ=WEEKLY;UNTL=20250401",  # repaired prefix, still unreadable
])
def test_an_unreadable_rule_keeps_the_session_its_start_gives_and_says_so(rule: str) -> None:
    data = feed(event("good", "SUMMARY:Fine", "DTSTART:20250301T100000Z"),
                event("sup", "SUMMARY:Supervision", "DTSTART;TZID=Europe/London:20250303T093000",
                      "DTEND;TZID=Europe/London:20250303T103000", f"RRULE:{rule}"))
    parsed = parse(data)
    assert [s.uid for s in parsed.series] == ["good", "sup"]
    [problem] = parsed.problems
    assert problem.kind == "repaired" and (problem.uid, problem.title) == ("sup", "Supervision")
    line = str(problem)
    assert line.startswith("Imported “Supervision” (UID sup) with a fix: its repeat rule “")
    assert f"“{rule}”" in line and "2025-03-03 09:30" in line
    sessions = [o for o in expand(parsed.series, *WINDOW).occurrences if o.uid == "sup"]
    assert [(o.start, o.end) for o in sessions] == [
        (datetime(2025, 3, 3, 9, 30, tzinfo=UTC), datetime(2025, 3, 3, 10, 30, tzinfo=UTC))]
    # Once the organiser fixes the rule, the session kept now is the same session.
    fixed = parse(feed(event("sup", "SUMMARY:Supervision", "DTSTART;TZID=Europe/London:20250303T093000",
                             "DTEND;TZID=Europe/London:20250303T103000", "RRULE:FREQ=WEEKLY;COUNT=2")))
    assert sessions[0].id == expand(fixed.series, *WINDOW).occurrences[0].id


def test_an_unreadable_rule_keeps_its_extra_dates_and_overrides() -> None:
    data = feed(
        event("good", "SUMMARY:Fine", "DTSTART:20250301T100000Z"),
        event("s", "SUMMARY:Clinic", "DTSTART:20250303T100000Z", "DURATION:PT1H",
              "RRULE:FREQ=WEEKLY;UNTL=20250401", "RDATE:20250305T100000Z"),
        event("s", "SUMMARY:Clinic (moved)", "RECURRENCE-ID:20250310T100000Z", "DTSTART:20250311T100000Z",
              "DURATION:PT1H"),
    )
    parsed = parse(data)
    assert [p.kind for p in parsed.problems] == ["repaired"]
    assert [(o.start.day, o.title) for o in expand(parsed.series, *WINDOW).occurrences] == [
        (1, "Fine"), (3, "Clinic"), (5, "Clinic"), (11, "Clinic (moved)")]


def test_a_series_whose_repeats_cannot_be_worked_out_keeps_its_first_session() -> None:
    data = feed(event("good", "SUMMARY:Fine", "DTSTART:20250301T100000Z"),
                event("s", "SUMMARY:Clinic", "DTSTART:20250303T100000Z", "DURATION:PT1H",
                      "RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE:2025031"))
    parsed = parse(data)
    [problem] = parsed.problems
    assert problem.kind == "repaired" and problem.title == "Clinic"
    assert str(problem) == ("Imported “Clinic” (UID s) with a fix: its repeats cannot be worked out; "
                            "only the session on 2025-03-03 10:00 UTC was kept")
    assert [o.start.day for o in expand(parsed.series, *WINDOW).occurrences] == [1, 3]


MONDAYS_IN_LONDON = event(
    "sup", "SUMMARY:Supervision", "DTSTART;TZID=GMT Standard Time:20250303T093000",
    "DTEND;TZID=GMT Standard Time:20250303T103000", "RRULE:FREQ=WEEKLY;COUNT=3")


@pytest.mark.parametrize("recurrence_id", [
    "RECURRENCE-ID;TZID=GMT Standard Time:20250310T000000",  # local midnight, Windows zone
    "RECURRENCE-ID;TZID=Europe/London:20250310T000000",
    "RECURRENCE-ID:20250310T000000Z",  # midnight in London is midnight UTC in March
    "RECURRENCE-ID;VALUE=DATE:20250310",
])
def test_exchange_override_at_midnight_moves_that_days_session(recurrence_id: str) -> None:
    plain = occurrences(feed(MONDAYS_IN_LONDON))
    moved = occurrences(feed(MONDAYS_IN_LONDON, event(
        "sup", "SUMMARY:Supervision (moved)", recurrence_id,
        "DTSTART;TZID=GMT Standard Time:20250310T110000", "DTEND;TZID=GMT Standard Time:20250310T120000")))
    assert [(o.start, o.title) for o in moved] == [
        (datetime(2025, 3, 3, 9, 30, tzinfo=UTC), "Supervision"),
        (datetime(2025, 3, 10, 11, 0, tzinfo=UTC), "Supervision (moved)"),
        (datetime(2025, 3, 17, 9, 30, tzinfo=UTC), "Supervision"),
    ]
    # The moved session is the same session (same id), so its subscribers follow it.
    assert [o.id for o in moved] == [o.id for o in plain]
    assert moved[1].recurrence_id == "2025-03-10T09:30:00Z"


def test_exchange_midnight_override_in_utc_for_a_zone_ahead_of_utc() -> None:
    series = event("w", "SUMMARY:Jour fixe", "DTSTART;TZID=W. Europe Standard Time:20250303T093000",
                   "DTEND;TZID=W. Europe Standard Time:20250303T103000", "RRULE:FREQ=WEEKLY;COUNT=3")
    cancelled = event("w", "SUMMARY:Jour fixe", "RECURRENCE-ID:20250309T230000Z", "STATUS:CANCELLED",
                      "DTSTART;TZID=W. Europe Standard Time:20250310T093000",
                      "DTEND;TZID=W. Europe Standard Time:20250310T103000")
    result = occurrences(feed(series, cancelled))
    assert [(o.start.day, o.status) for o in result] == [
        (3, EventStatus.CONFIRMED), (10, EventStatus.CANCELLED), (17, EventStatus.CONFIRMED)]


def test_a_midnight_override_stays_apart_when_that_day_has_no_session_or_several() -> None:
    stray = event("sup", "SUMMARY:Extra", "RECURRENCE-ID;TZID=Europe/London:20250311T000000",
                  "DTSTART;TZID=Europe/London:20250311T110000", "DTEND;TZID=Europe/London:20250311T120000")
    result = occurrences(feed(MONDAYS_IN_LONDON, stray))
    assert [o.title for o in result] == ["Supervision", "Supervision", "Extra", "Supervision"]
    twice = event("t", "SUMMARY:Rounds", "DTSTART:20250303T090000Z", "DURATION:PT1H",
                  "RRULE:FREQ=HOURLY;INTERVAL=6;COUNT=3")
    override = event("t", "SUMMARY:Rounds (moved)", "RECURRENCE-ID:20250303T000000Z",
                     "DTSTART:20250303T120000Z", "DURATION:PT1H")
    assert len(occurrences(feed(twice, override))) == 4


def test_a_session_at_midnight_keeps_its_own_override() -> None:
    series = event("n", "SUMMARY:Night shift", "DTSTART;TZID=Europe/London:20250303T000000",
                   "DURATION:PT8H", "RRULE:FREQ=DAILY;COUNT=2")
    override = event("n", "SUMMARY:Night shift (short)", "RECURRENCE-ID;TZID=Europe/London:20250304T000000",
                     "DTSTART;TZID=Europe/London:20250304T000000", "DURATION:PT4H")
    assert [o.title for o in occurrences(feed(series, override))] == ["Night shift", "Night shift (short)"]


def test_a_stored_series_that_no_longer_expands_is_named_by_title_and_uid() -> None:
    [record] = parse(feed(event("s", "SUMMARY:Supervision", "DTSTART:20250303T100000Z",
                                "RRULE:FREQ=WEEKLY;COUNT=2"))).series
    damaged = replace(record, ical=record.ical.replace("DTSTART:20250303T100000Z", "DTSTART:2025"))
    expansion = expand([damaged], *WINDOW)
    assert expansion.occurrences == []
    assert [str(p) for p in expansion.problems] == [
        "Skipped “Supervision” (UID s): its dates cannot be worked out"]
