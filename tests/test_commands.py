"""The core driven end to end through the fake adapter: what a person types, what they read."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.models import SubscriptionScope
from tests.harness import START, Harness, make_occurrence

IDENTITY = make_occurrence("Consistent values and changing roles", START + timedelta(hours=2), id="aaa111",
                           series_id="sss111")
MORAL = make_occurrence("Moral injury in social work", START + timedelta(days=3, hours=2), id="bbb222",
                        series_id="sss222")


async def test_subscribe_and_unsubscribe_by_id_words_and_all(harness: Harness) -> None:
    await harness.add_occurrences(IDENTITY, MORAL)
    people = harness.app.store.people

    assert await harness.say("alice", "/subscribe aaa111") == ["Subscribed to “Consistent values and changing roles”."]
    assert await harness.say("alice", "/subscribe aaa111") == ["You already follow “Consistent values and changing roles”."]
    assert await harness.say("alice", "/subscribe moral injury") == ["Subscribed to “Moral injury in social work”."]
    subs = await people.subscriptions_of("fake:alice")
    assert {(s.scope, s.target) for s in subs} == {(SubscriptionScope.OCCURRENCE, "aaa111"),
                                                  (SubscriptionScope.OCCURRENCE, "bbb222")}

    mine = (await harness.say("alice", "/mine"))[0]
    assert "[aaa111]" in mine and "[bbb222]" in mine and "Europe/London" in mine

    assert await harness.say("alice", "/unsubscribe aaa111") == ["Unsubscribed from “Consistent values and changing roles”."]
    assert await harness.say("alice", "/unsubscribe aaa111") == [
        "You were not subscribed to “Consistent values and changing roles”."]
    assert await harness.say("alice", "/subscribe all") == ["You will be reminded of every session."]
    assert await harness.say("alice", "/unsubscribe all") == ["Unsubscribed from 2 subscriptions."]
    assert await people.subscriptions_of("fake:alice") == []


async def test_subscribe_to_a_series_by_its_id(harness: Harness) -> None:
    weekly = [make_occurrence("Weekly supervision", START + timedelta(days=7 * i), uid="weekly@x",
                              recurrence_id=f"r{i}", series_id="wkly01", id=f"wk{i:04d}") for i in range(3)]
    await harness.add_occurrences(*weekly)
    assert await harness.say("bob", "/subscribe wkly01") == ["Subscribed to every session of “Weekly supervision”."]
    # Title words matching several sessions of one series mean the series.
    assert await harness.say("carol", "/subscribe weekly") == ["Subscribed to every session of “Weekly supervision”."]
    assert await harness.app.store.people.subscribers_of(weekly[2]) == ["fake:bob", "fake:carol"]


async def test_events_lists_sessions_in_progress_and_upcoming(harness: Harness) -> None:
    now_on = make_occurrence("Already started", START - timedelta(minutes=30), id="now001")
    past = make_occurrence("Yesterday", START - timedelta(days=1), id="old001")
    await harness.add_occurrences(now_on, past, IDENTITY, MORAL)
    text = (await harness.say("alice", "/events"))[0]
    assert "[now001]" in text and "(now on)" in text
    assert "[aaa111] Mon 17 Mar 2025, 10:00 GMT–11:30 · Consistent values" in text
    assert "old001" not in text
    assert "aaa111" in (await harness.say("alice", "/events today"))[0]
    assert "bbb222" not in (await harness.say("alice", "/events today"))[0]
    assert "aaa111" in (await harness.say("alice", "/events 2025-03-17"))[0]
    assert "bbb222" in (await harness.say("alice", "/events moral"))[0]
    assert await harness.say("alice", "/events zebra") == ["No sessions found. Try /events for what is coming up."]


async def test_events_when_the_programme_is_over_shows_the_latest(harness: Harness) -> None:
    await harness.add_occurrences(IDENTITY, MORAL)
    await harness.advance(timedelta(days=30))
    assert await harness.say("alice", "/events") == ["No upcoming sessions. The most recent were:\n"
        "[aaa111] Mon 17 Mar 2025, 10:00 GMT–11:30 · Consistent values and changing roles\n"
        "[bbb222] Thu 20 Mar 2025, 10:00 GMT–11:30 · Moral injury in social work"]
    assert "not a date" in (await harness.say("alice", "/events 2025-13-45"))[0]


async def test_events_with_no_programme_says_so(harness: Harness) -> None:
    assert await harness.say("alice", "/events") == [
        "No sessions found. Organisers can load a programme with /import."]


async def test_timezone_and_offsets_change_and_are_shown_in_local_time(harness: Harness) -> None:
    await harness.add_occurrences(IDENTITY)
    assert await harness.say("alice", "/timezone america/new_york") == [
        "Your time zone is now America/New_York (it is 04:00 there)."]
    assert "06:00 EDT" in (await harness.say("alice", "/events"))[0]
    assert await harness.say("alice", "/remind 2h 10m") == [
        "You will be reminded 2h, 10m before each session you follow."]
    settings = await harness.app.store.people.get_settings("fake:alice")
    assert settings.timezone == "America/New_York"
    assert settings.offsets == (timedelta(hours=2), timedelta(minutes=10))
    assert await harness.say("alice", "/remind default") == [
        "You will be reminded 1d, 15m before each session you follow."]


async def test_bad_time_zone_and_offsets_are_refused_and_nothing_changes(harness: Harness) -> None:
    await harness.say("alice", "/timezone Europe/Paris")
    assert await harness.say("alice", "/timezone Mars/Olympus") == [
        "“Mars/Olympus” is not a time zone I know. Use a name like Europe/London or America/New_York."]
    assert await harness.say("alice", "/remind soon") == [
        "“soon” is not a duration. Use forms like 15m, 2h or 1d."]
    assert await harness.say("alice", "/remind 0m") == ["Reminder offsets must be between 1 minute and 4 weeks."]
    settings = await harness.app.store.people.get_settings("fake:alice")
    assert settings.timezone == "Europe/Paris" and settings.offsets is None


async def test_garbage_gets_a_usage_line_never_an_exception(harness: Harness) -> None:
    assert await harness.say("alice", "/frobnicate now") == ["Unknown command “/frobnicate”. Send /help for the list."]
    assert await harness.say("alice", "/subscribe") == ["Usage: /subscribe EVENT|all"]
    assert await harness.say("alice", "/timezone") == ["Usage: /timezone ZONE"]
    assert await harness.say("alice", "/language fr") == ["Usage: /language en|cy [--here]"]
    assert await harness.say("alice", '/subscribe "unclosed') == ["A quote is not closed."]
    assert await harness.say("alice", "/subscribe nothing-like-this") == [
        "No session matches “nothing-like-this”. Try /events to see their ids."]
    assert await harness.say("alice", "/") == ["Unknown command “/”. Send /help for the list."]
    assert await harness.say("alice", "just chatting") == []
    assert await harness.press("alice", "bogus:1") == ["That button is no longer valid."]


async def test_only_organisers_name_facilitators(harness: Harness) -> None:
    await harness.add_occurrences(IDENTITY)
    await harness.say("bob", "hello")  # the bot learns bob's name
    assert await harness.say("alice", "/facilitator add bob") == ["Only organisers can use /facilitator."]
    assert await harness.say("org", "/facilitator add @bob aaa111") == [
        "fake:bob (@bob) now facilitates “Consistent values and changing roles”."]
    assert await harness.say("org", "/facilitator add fake:carol") == ["fake:carol now facilitates every session."]
    assert await harness.say("org", "/facilitator add nobody") == [
        "I don't know “nobody” yet. Ask them to message me first, or use their id (like telegram:1001)."]
    listing = (await harness.say("org", "/facilitator list"))[0]
    assert "fake:bob (@bob) — aaa111" in listing and "fake:carol — every session" in listing
    assert await harness.say("org", "/facilitator remove fake:carol") == [
        "fake:carol no longer facilitates every session."]


async def test_help_shows_only_what_the_person_may_use(harness: Harness) -> None:
    attendee = (await harness.say("alice", "/help"))[0]
    organiser = (await harness.say("org", "/help"))[0]
    assert "/subscribe" in attendee and "/facilitator" not in attendee
    assert "/facilitator" in organiser


async def test_restart_keeps_subscriptions_settings_and_roles(harness: Harness) -> None:
    await harness.add_occurrences(IDENTITY)
    await harness.say("alice", "/subscribe aaa111")
    await harness.say("alice", "/timezone Asia/Tokyo")
    await harness.say("alice", "/remind 3h")
    await harness.say("alice", "/language cy")
    await harness.say("org", "/facilitator add fake:bob")
    await harness.restart()
    settings = await harness.app.store.people.get_settings("fake:alice")
    assert (settings.timezone, settings.offsets, settings.language) == ("Asia/Tokyo", (timedelta(hours=3),), "cy")
    assert [s.target for s in await harness.app.store.people.subscriptions_of("fake:alice")] == ["aaa111"]
    assert "every session" in (await harness.say("org", "/facilitator list"))[0]


async def test_language_choice_is_remembered(harness: Harness) -> None:
    assert await harness.say("alice", "/language cy") == [
        "O hyn ymlaen, byddaf yn ysgrifennu atoch yn yr iaith hon: Cymraeg."]
    assert (await harness.app.store.people.get_settings("fake:alice")).language == "cy"


async def test_schema_is_versioned(tmp_path: Path) -> None:
    async with Harness.open(tmp_path) as h:
        version = await h.app.store.schema_version()
    assert version >= 1
    async with Harness.open(tmp_path) as h:  # reopening applies nothing twice
        assert await h.app.store.schema_version() == version
