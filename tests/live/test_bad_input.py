"""Hostile and clumsy input: every one gets a one-line answer, never the catch-all, and
nothing stored changes. (The open-ended search for more lives in tests/test_fuzz_router.py.)"""

from __future__ import annotations

import pytest

from tests.harness import Harness

CATCH_ALL = "Sorry, something went wrong"

BAD = [
    # Digits that str.isdigit() accepts but int() does not.
    ("alice", "/vote ²"),
    ("alice", "/vote 1 ³"),
    ("alice", "/upvote ①"),
    ("alice", "/results ²"),
    ("fac", "/closepoll ①"),
    ("fac", "/hide ²"),
    ("fac", '/poll "Q" "A" "B" --correct ²'),
    # Numbers too large for the database, for a timedelta, or for int() itself.
    ("alice", "/upvote 99999999999999999999"),
    ("alice", "/results 99999999999999999999"),
    ("fac", "/answered 99999999999999999999"),
    ("alice", "/remind 9999999999999d"),
    ("alice", "/remind 15m 9999999999999999999999w"),
    ("fac", '/poll "Q" "A" "B" --close 9999999999999d'),
    ("alice", "/vote " + "9" * 5000),
    # Text far beyond any chat platform's message size.
    ("alice", "/events " + "x" * 50_000),
    ("alice", "/events " + "x " * 25_000),
    ("alice", "/subscribe " + "x" * 5000),
    ("alice", "/events " + "ab " * 1200),
    ("alice", "/subscribe " + "ab " * 1200),
    # Lone surrogates: what a broken client, or invalid UTF-8 read with surrogateescape, hands over.
    ("alice", "/ask hi \ud800 there"),
    ("alice", "/events \udcff"),
    ("alice", "/subscribe \udce9t\udce9"),
    ("alice", "/certificate \ud800"),
    ("fac", '/poll "Q\ud800" "A" "B"'),
    ("org", "/facilitator add \ud800"),
    ("org", "/import http://\ud800/x.ics"),
    ("alice", "/\ud800"),
    # A NUL character: no text has one, and PostgreSQL refuses to store it.
    ("alice", "/events \x00"),
    ("alice", "/ask what \x00 now"),
]


async def _state(h: Harness) -> tuple[object, ...]:
    live = h.app.store.live
    poll = await live.get_poll(1)
    assert poll is not None
    settings = await h.app.store.people.get_settings("fake:alice")
    return ((await live.tally(poll)).votes, [(q.number, q.upvotes) for q in await live.questions_of("ev1")],
            settings.offsets, await h.app.store.people.subscriptions_of("fake:alice"),
            await h.app.store.people.facilitator_grants())


@pytest.mark.parametrize(("user", "text"), BAD, ids=[f"{u}:{t[:30]!a}" for u, t in BAD])
async def test_bad_input_gets_a_one_line_answer_and_changes_nothing(live: Harness, user: str, text: str) -> None:
    await live.say("fac", '/poll "Tea or coffee?" "Tea" "Coffee"')
    await live.say("bob", "/ask Is there tea?")
    await live.say("carol", "/vote 2")
    before = await _state(live)
    live.adapter.clear()
    replies = await live.say(user, text)
    assert len(replies) == 1, replies
    answer = replies[0]
    assert CATCH_ALL not in answer
    assert "\n" not in answer and len(answer) < 300, answer
    answer.encode("utf-8")  # nothing unprintable is echoed back
    assert await _state(live) == before


async def test_usage_answers_say_what_to_type(live: Harness) -> None:
    await live.say("fac", '/poll "Tea or coffee?" "Tea" "Coffee"')
    assert await live.say("alice", "/vote ²") == ["Usage: /vote N [M …]"]
    assert await live.say("alice", "/upvote 99999999999999999999") == ["Usage: /upvote NUMBER"]
    assert await live.say("alice", "/remind 9999999999999d") == [
        "“9999999999999d” is longer than I can use: at most a year."]
    assert (await live.say("fac", '/poll "Q" "A" "B" --correct ²')) == [
        'Usage: /poll "Question?" "Option A" "Option B" … [--multi] [--anonymous] [--close 5m] [--correct N]']
    events = await live.say("alice", "/events " + "x" * 50_000)
    assert events == ["That is too long: keep a command under 4,000 characters."]
    assert await live.say("alice", "/ask hi \ud800") == [
        "Your message has characters that are not valid text; please type it again."]


async def test_bad_numbers_in_buttons_are_refused_too(live: Harness) -> None:
    await live.say("fac", '/poll "Tea or coffee?" "Tea" "Coffee"')
    for action in ("poll:1:vote:²", "poll:①:vote:1", "poll:1:vote:99999999999999999999",
                   "poll:99999999999999999999:vote:1", "q:99999999999999999999:up", "q:²:up", "q:1:up\ud800"):
        assert await live.press("alice", action) == ["That button is no longer valid."], action


async def test_commas_still_separate_choices(live: Harness) -> None:
    await live.say("fac", '/poll "Which?" "A" "B" "C" --multi')
    await live.say("alice", "/vote 1,3")
    await live.say("bob", "/vote 2, 3")
    poll = await live.app.store.live.get_poll(1)
    assert poll is not None
    assert (await live.app.store.live.tally(poll)).votes == (1, 1, 2)
