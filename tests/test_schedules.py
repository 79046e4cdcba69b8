"""The iCal feeds shipped in ``schedules/``: valid RFC 5545 that the bot can load as is.

Checks the raw bytes (CRLF, folding, escaping, UTF-8), the structure the bot relies on
(UIDs, DTSTAMP, times and zones, CPD hours, organiser, join link) and that recurring
expansion and round-trips give back what was written. No network, no sleeping.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

SCHEDULES = Path(__file__).resolve().parent.parent / "schedules"
SWW = SCHEDULES / "social-work-week-2025.ics"
CPD = SCHEDULES / "cpd-human-rights.ics"
FILES = [SWW, CPD]
LONDON = ZoneInfo("Europe/London")

SWW_TITLES = {
    "Consistent values and changing roles - social work identity over time",
    "“Do you get me?”",
    "Artificial Intelligence (AI) and social work - balancing innovation and integrity",
    "Relationships and professional boundaries",
    "Moral injury in social work: the what, the how, and why it matters",
    "“How do we use data to contribute to the social work profession and how it is regulated?”",
    "Neurodivergent identity in social work",
}
DISCLAIMER = (
    "The views and opinions expressed at these workshops are those of the speakers and do not "
    "necessarily reflect the views of the organisations they represent, or the views and opinions "
    "of Social Care Wales."
)
CPD_COURSE = (
    "Continuing Professional Development (CPD) Course: Human rights of Social Workers and their "
    "Human Rights Responsibilities for Service Recipients"
)
CPD_TITLES = [
    "Session 1: Human Rights, Labour Rights, and Social Work Frameworks",
    "Session 2: Learning from Practice – Case Study 1",
    "Session 3: Learning from Practice – Case Study 2",
    "Session 4: Learning from Practice – Case Study 3",
]
TEXT_PROPERTIES = {"SUMMARY", "DESCRIPTION", "LOCATION", "X-WR-CALNAME", "X-WR-CALDESC", "CATEGORIES"}


def load(path: Path) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(path.read_bytes())


def events(path: Path) -> list[icalendar.Event]:
    return list(load(path).walk("VEVENT"))


def content_lines(path: Path) -> list[str]:
    """Unfolded logical lines of the file (RFC 5545 3.1)."""
    text = path.read_bytes().decode("utf-8")
    return text.replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")[:-1]


def sww_sessions() -> list[icalendar.Event]:
    return [ev for ev in events(SWW) if isinstance(ev.DTSTART, datetime)]


# ------------------------------------------------------------------ raw RFC 5545 shape


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_crlf_line_endings(path: Path) -> None:
    raw = path.read_bytes()
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in raw.replace(b"\r\n", b""), "bare CR"
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n")
    assert raw.endswith(b"END:VCALENDAR\r\n")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_lines_folded_at_75_octets_without_splitting_characters(path: Path) -> None:
    lines = path.read_bytes().split(b"\r\n")[:-1]
    for number, line in enumerate(lines, 1):
        assert len(line) <= 75, f"line {number} is {len(line)} octets"
        # A fold must not cut a multi-octet UTF-8 character in two.
        line.decode("utf-8")
        assert not line.startswith(b"\t"), f"line {number}: fold with a tab"
    assert any(line.startswith(b" ") for line in lines), "long values are expected to be folded"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_text_values_are_escaped(path: Path) -> None:
    for line in content_lines(path):
        name = re.split(r"[;:]", line, maxsplit=1)[0]
        if name not in TEXT_PROPERTIES:
            continue
        value = line.split(":", 1)[1]
        bare = re.sub(r"\\[\\;,nN]", "", value)
        assert "\\" not in bare, f"stray backslash in {name}: {value[:60]}"
        assert ";" not in bare, f"unescaped semicolon in {name}: {value[:60]}"
        if name != "CATEGORIES":  # there a bare comma separates values
            assert "," not in bare, f"unescaped comma in {name}: {value[:60]}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_calendar_properties(path: Path) -> None:
    cal = load(path)
    assert cal["VERSION"] == "2.0"
    assert cal["PRODID"]
    assert cal["CALSCALE"] == "GREGORIAN"
    assert cal["METHOD"] == "PUBLISH"
    assert cal["X-WR-CALNAME"]
    assert cal["X-WR-TIMEZONE"] == ("Europe/London" if path == SWW else "UTC")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_event_has_the_required_properties(path: Path) -> None:
    for ev in events(path):
        for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION"):
            assert prop in ev, f"{ev.get('UID')} lacks {prop}"
        assert ev["UID"].endswith("@eventbot.socialcare.wales")
        assert ev.DTSTAMP.tzinfo is not None and ev.DTSTAMP.utcoffset() == timedelta(0)
        assert ev.DTEND > ev.DTSTART
        assert ev["STATUS"] == "CONFIRMED"
        float(ev["X-CPD-HOURS"])


# ------------------------------------------------------------------ Social Work Week 2025


def test_sww_has_seven_sessions_and_world_social_work_day() -> None:
    evs = events(SWW)
    assert len(evs) == 8
    sessions = sww_sessions()
    assert len(sessions) == 7
    assert {str(ev["SUMMARY"]) for ev in sessions} == SWW_TITLES
    uids = [str(ev["UID"]) for ev in evs]
    assert len(set(uids)) == len(uids)


def test_sww_session_times_are_in_london_during_the_week() -> None:
    slots = []
    for ev in sww_sessions():
        start, end = ev.DTSTART, ev.DTEND
        assert ev["DTSTART"].params["TZID"] == "Europe/London"
        assert ev["DTEND"].params["TZID"] == "Europe/London"
        assert start.tzinfo == LONDON
        assert date(2025, 3, 17) <= start.date() <= date(2025, 3, 21)
        assert start.weekday() < 5
        assert (start.hour, start.minute) in {(10, 0), (13, 0)}
        assert end - start == timedelta(minutes=90)
        # GMT that week: UK clocks go forward on 30 March 2025.
        assert start.utcoffset() == timedelta(0)
        assert float(ev["X-CPD-HOURS"]) == (end - start).total_seconds() / 3600
        slots.append((start, end))
    slots.sort()
    for (_, end), (start, _) in itertools.pairwise(slots):
        assert end <= start, "sessions overlap"
    assert {s.date() for s, _ in slots} == {date(2025, 3, d) for d in range(17, 22)}


def test_sww_session_details() -> None:
    for ev in sww_sessions():
        title = str(ev["SUMMARY"])
        description = str(ev["DESCRIPTION"])
        assert ev["LOCATION"] == "Online"
        url = urlparse(str(ev["URL"]))
        assert url.scheme == "https"
        assert url.hostname is not None and url.hostname.endswith("example.org")
        expected_organiser = (
            "Social Work England" if title.startswith("“How do we use data") else "Social Care Wales"
        )
        assert ev["ORGANIZER"].params["CN"] == expected_organiser
        assert str(ev["ORGANIZER"]).startswith("mailto:")
        assert [str(c) for c in ev["CATEGORIES"].cats] in (["relationships"], ["identity"], ["well-being"])
        assert "\nSpeakers:\n- " in description or "\nPresenters:\n- " in description
        assert DISCLAIMER in description
        last_sentence = description.rstrip().rsplit("\n", 1)[-1]
        assert "illustrative" in last_sentence and "gives no" in last_sentence


def test_sww_themes_cover_all_three() -> None:
    themes = {str(ev["CATEGORIES"].cats[0]) for ev in sww_sessions()}
    assert themes == {"relationships", "identity", "well-being"}


def test_world_social_work_day_is_all_day_on_18_march_2025() -> None:
    (day,) = [ev for ev in events(SWW) if ev["SUMMARY"] == "World Social Work Day"]
    start, end = day.DTSTART, day.DTEND
    assert type(start) is date and start == date(2025, 3, 18)
    assert type(end) is date and end == date(2025, 3, 19)
    assert start.weekday() == 1  # a Tuesday
    assert float(day["X-CPD-HOURS"]) == 0  # not a session: no CPD hours from its 24h duration
    assert day["TRANSP"] == "TRANSPARENT"


def test_sww_expands_to_eight_occurrences_in_the_week() -> None:
    found = recurring_ical_events.of(load(SWW)).between(date(2025, 3, 17), date(2025, 3, 22))
    assert len(found) == 8
    assert sum(1 for ev in found if ev["SUMMARY"] == "World Social Work Day") == 1


def test_london_vtimezone_matches_the_real_zone() -> None:
    (vtz,) = load(SWW).walk("VTIMEZONE")
    assert vtz["TZID"] == "Europe/London"
    rules = {sub.name: sub for sub in vtz.subcomponents}
    assert set(rules) == {"STANDARD", "DAYLIGHT"}
    assert rules["DAYLIGHT"]["RRULE"]["BYMONTH"] == [3]
    assert rules["STANDARD"]["RRULE"]["BYMONTH"] == [10]
    for rule in rules.values():
        assert rule["RRULE"]["FREQ"] == ["YEARLY"]
        assert rule["RRULE"]["BYDAY"] == ["-1SU"]
    # Build a zone from the VTIMEZONE's own rules (not the TZID lookup) and compare it,
    # hour by hour, with the system database over 2025-2026, both transitions included.
    own = vtz.to_tz(lookup_tzid=False)
    instant = datetime(2025, 1, 1, tzinfo=UTC)
    while instant < datetime(2027, 1, 1, tzinfo=UTC):
        assert instant.astimezone(own).utcoffset() == instant.astimezone(LONDON).utcoffset(), instant
        instant += timedelta(hours=1)


# ------------------------------------------------------------------ human-rights CPD course


def test_cpd_is_one_weekly_series_with_four_overrides() -> None:
    evs = events(CPD)
    assert len(evs) == 5
    assert len({str(ev["UID"]) for ev in evs}) == 1
    (master,) = [ev for ev in evs if "RECURRENCE-ID" not in ev]
    assert master["SUMMARY"] == CPD_COURSE
    rrule = master["RRULE"]
    assert rrule["FREQ"] == ["WEEKLY"] and rrule["COUNT"] == [4]
    start, end = master.DTSTART, master.DTEND
    assert start == datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    assert start.weekday() == 4  # Friday 27 March 2026
    assert end == datetime(2026, 3, 27, 13, 30, tzinfo=UTC)
    overrides = sorted(ev["RECURRENCE-ID"].dt for ev in evs if "RECURRENCE-ID" in ev)
    assert overrides == [datetime(2026, 3, 27, 12, tzinfo=UTC) + timedelta(weeks=n) for n in range(4)]


def test_cpd_times_are_utc() -> None:
    for line in content_lines(CPD):
        if re.match(r"(DTSTART|DTEND|RECURRENCE-ID|DTSTAMP)[;:]", line):
            assert re.fullmatch(r"[A-Z-]+:\d{8}T\d{6}Z", line), line
    for ev in events(CPD):
        assert ev.DTSTART.utcoffset() == timedelta(0)


def test_cpd_expands_to_four_sessions_with_override_titles() -> None:
    found = recurring_ical_events.of(load(CPD)).between(date(2026, 1, 1), date(2027, 1, 1))
    assert [str(ev["SUMMARY"]) for ev in found] == CPD_TITLES
    for n, ev in enumerate(found):
        expected = datetime(2026, 3, 27, 12, tzinfo=UTC) + timedelta(weeks=n)
        start, end = ev.DTSTART, ev.DTEND
        assert start == expected
        assert end == expected + timedelta(minutes=90)
        assert float(ev["X-CPD-HOURS"]) == 1.5
        assert ev["ORGANIZER"].params["CN"] == "OHCHR, IFSW and ILO"
        assert urlparse(str(ev["URL"])).hostname.endswith("example.org")
        assert "Zoom" in ev["LOCATION"]
        description = str(ev["DESCRIPTION"])
        assert "certificate of attendance will be provided" in description
        assert "Language: English" in description
        assert "1.15h" in description
        assert "dates of sessions 2–4 are illustrative" in description


def test_cpd_organiser_name_with_comma_is_quoted() -> None:
    assert any(line.startswith('ORGANIZER;CN="OHCHR, IFSW and ILO":') for line in content_lines(CPD))


# ------------------------------------------------------------------ non-ASCII text


NON_ASCII = {
    SWW: ["“Do you get me?”", "Social Care Wales’s", "people ‘mask’", "neurotypes – and"],
    CPD: ["social workers’ understanding", "Case Study 1", "holders of rights—including", "12:00–13:30 UTC"],
}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_round_trip_keeps_non_ascii_text(path: Path) -> None:
    original = load(path)
    again = icalendar.Calendar.from_ical(original.to_ical())
    before = [(str(ev["UID"]), str(ev["SUMMARY"]), str(ev["DESCRIPTION"])) for ev in original.walk("VEVENT")]
    after = [(str(ev["UID"]), str(ev["SUMMARY"]), str(ev["DESCRIPTION"])) for ev in again.walk("VEVENT")]
    assert before == after
    text = "\n".join(summary + "\n" + description for _, summary, description in after)
    for sample in NON_ASCII[path]:
        assert sample in text
    assert not re.search("[\ufffd]|â€", text), "mojibake"


def test_welsh_letters_survive_folding_and_round_trip() -> None:
    # The seeds carry no ŵ or ŷ; put some into a real event at every fold offset.
    welsh = "Gŵyl y Gwanwyn yn y tŷ: dŵr, “croeso”; ŷ Ŵ ŵ – "
    cal = load(SWW)
    for shift in range(4):
        ev = sww_sessions()[0]
        ev["SUMMARY"] = icalendar.vText("x" * shift + welsh * 4)
        cal.subcomponents[-1] = ev
        raw = cal.to_ical()
        for line in raw.split(b"\r\n"):
            assert len(line) <= 75
            line.decode("utf-8")
        back = icalendar.Calendar.from_ical(raw).walk("VEVENT")[-1]
        assert str(back["SUMMARY"]) == "x" * shift + welsh * 4
