"""Q&A: numbering, ranking, upvote rules, moderation and the flood limit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.harness import Harness
from tests.live.conftest import last


async def test_questions_are_numbered_and_ranked_by_upvotes_then_age(live: Harness) -> None:
    assert (await live.say("alice", "/ask What is the threshold for a referral?"))[0].startswith("❓ Question 1:")
    await live.say("bob", "/ask How do we record consent?")
    await live.say("carol", "/ask --anonymous Is there a template?")
    await live.say("alice", "/upvote 3")
    await live.say("bob", "/upvote 3")
    await live.say("carol", "/upvote 2")
    listing = (await live.say("dan", "/questions"))[0].splitlines()
    assert listing[1].startswith("3. Is there a template? — 👍 2 · anonymous")
    assert listing[2].startswith("2. How do we record consent? — 👍 1 · bob")
    assert listing[3].startswith("1. What is the threshold for a referral? — 👍 0 · alice")
    assert [b.action for row in last(live).buttons for b in row] == ["q:3:up", "q:2:up", "q:1:up"]


async def test_upvote_rules(live: Harness) -> None:
    await live.say("alice", "/ask Named question")
    await live.say("bob", "/ask --anonymous Anonymous question")
    assert await live.say("alice", "/upvote 1") == ["You cannot upvote your own question."]
    assert await live.say("bob", "/upvote 2") == ["You cannot upvote your own question."]
    assert await live.say("carol", "/upvote 1") == ["👍 Question 1 now has 1 upvote."]
    assert await live.say("carol", "/upvote 1") == ["You have already upvoted question 1."]
    assert await live.press("carol", "q:1:up") == ["You have already upvoted question 1."]
    assert await live.press("dan", "q:2:up") == ["👍 Question 2 now has 1 upvote."]
    assert await live.say("dan", "/upvote 9") == ["There is no question 9."]
    await live.say("fac", "/hide 1")
    assert await live.say("erin", "/upvote 1") == ["There is no question 1."]


async def test_flood_limit_per_person(live: Harness) -> None:
    for i in range(3):
        assert (await live.say("alice", f"/ask Question {i}"))[0].startswith("❓")
    refused = await live.say("alice", "/ask One more")
    assert refused == ["Slow down, please: try /ask again in 60 seconds."]
    assert (await live.say("bob", "/ask Someone else can still ask"))[0].startswith("❓ Question 4")
    assert (await live.say("alice", "/ask --anonymous Hiding does not escape the limit")) == refused
    await live.advance(timedelta(seconds=61))
    assert (await live.say("alice", "/ask After a minute"))[0].startswith("❓ Question 5")


async def test_pre_moderation_and_facilitator_controls(live: Harness) -> None:
    assert await live.say("fac", "/qa moderate on") == ["Questions now wait for approval (/approve N)."]
    assert (await live.say("alice", "/ask Is this shown?"))[0].startswith("Thank you. Question 1 will show")
    attendee_view = (await live.say("bob", "/questions"))[0]
    assert "Is this shown?" not in attendee_view
    assert "Is this shown? — 👍 0 · alice (awaiting approval)" in (await live.say("fac", "/questions"))[0]
    assert await live.say("bob", "/upvote 1") == ["There is no question 1."]
    await live.say("fac", "/approve 1")
    assert "1. Is this shown?" in (await live.say("bob", "/questions"))[0]
    await live.say("fac", "/answered 1")
    assert "(answered)" in (await live.say("bob", "/questions"))[0]
    assert await live.say("fac", "/qa close") == ["Q&A is closed."]
    assert await live.say("alice", "/ask Too late?") == ["Questions are closed for this session."]
    await live.say("fac", "/qa open")
    assert (await live.say("alice", "/ask Open again?"))[0].startswith("Thank you. Question 2")


async def test_concurrent_questions_get_distinct_numbers(live: Harness) -> None:
    await asyncio.gather(*(live.say(f"user{i}", f"/ask Question from user {i}") for i in range(60)))
    occurrence_questions = await live.app.store.live.questions_of("ev1")
    assert sorted(q.number for q in occurrence_questions) == list(range(1, 61))


async def test_ask_in_private_goes_to_the_live_session(live: Harness) -> None:
    replies = await live.say("alice", "/ask --anonymous A private question", chat=live.adapter.dm("alice"))
    assert replies[0].startswith("❓ Question 1: A private question")
    assert "Tip" not in replies[0]


async def test_commands_need_a_live_chat(harness: Harness) -> None:
    replies = await harness.say("alice", "/ask Anyone?")
    assert replies == ["No session is live in this chat. A facilitator starts one with /live EVENT."]
