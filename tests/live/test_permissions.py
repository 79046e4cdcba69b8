"""Who may do what in a live session."""

from __future__ import annotations

import pytest

from tests.harness import START, Harness, make_occurrence
from tests.live.conftest import go_live

OTHER = make_occurrence("Another session", START, 60, id="ev7")

FACILITATOR_ONLY = [
    "/live ev1",
    "/live end",
    '/poll "Q?" "A" "B"',
    "/closepoll",
    "/answered 1",
    "/hide 1",
    "/approve 1",
    "/qa close",
    "/qa moderate on",
    "/attendance",
    "/checkin code ABC",
]


@pytest.mark.parametrize("command", FACILITATOR_ONLY)
async def test_attendees_cannot_run_the_session(live: Harness, command: str) -> None:
    await live.say("fac", '/poll "Open?" "Yes" "No"')
    await live.say("alice", "/ask A question")
    live.adapter.clear()
    replies = await live.say("alice", command)
    assert len(replies) == 1 and replies[0].startswith("Only facilitators and organisers can use /"), replies
    # nothing changed
    assert (await live.app.store.live.get_poll(1)).is_open  # type: ignore[union-attr]
    question = await live.app.store.live.get_question("ev1", 1)
    assert question is not None and question.status.value == "open"
    assert await live.app.store.live.binding_for("fake:room") is not None


@pytest.mark.parametrize("command", FACILITATOR_ONLY)
async def test_a_facilitator_of_another_session_cannot_either(live: Harness, command: str) -> None:
    await live.add_occurrences(OTHER)
    await live.say("org", "/facilitator add fake:other ev7")
    await live.say("fac", '/poll "Open?" "Yes" "No"')
    await live.say("alice", "/ask A question")
    replies = await live.say("other", command)
    assert len(replies) == 1 and replies[0].startswith("Only facilitators and organisers can use /"), replies


async def test_organisers_and_global_facilitators_can(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with Harness.open(tmp_path) as h:
        await go_live(h)
        await h.say("org", "/facilitator add fake:global")
        assert (await h.say("global", '/poll "Q?" "A" "B"'))[0].startswith("📊 Poll 1")
        assert (await h.say("org", "/closepoll"))[-1].startswith("📊 Final results")
        await h.say("alice", "/ask Hello?")
        assert await h.say("global", "/hide 1") == ["Question 1 is hidden."]


async def test_attendees_can_take_part(live: Harness) -> None:
    await live.say("fac", '/poll "Q?" "A" "B"')
    assert (await live.say("alice", "/vote 1"))[0].startswith("Your vote")
    assert (await live.say("alice", "/results"))[0].startswith("📊 Results so far")
    assert (await live.say("alice", "/ask Why?"))[0].startswith("❓")
    assert (await live.say("bob", "/upvote 1"))[0].startswith("👍")
    assert (await live.say("bob", "/questions"))[0].startswith("Questions for")
    assert (await live.say("bob", "/checkin"))[0].startswith("✅")
    assert await live.say("bob", "/mycpd") != []


async def test_a_facilitator_of_another_session_cannot_take_over_a_live_room(live: Harness) -> None:
    await live.add_occurrences(OTHER)
    await live.say("org", "/facilitator add fake:other ev7")
    assert await live.say("other", "/live ev7") == [
        "Only facilitators of “Safeguarding adults”, live in this chat now, and organisers can switch it "
        "to another session."]
    binding = await live.app.store.live.binding_for("fake:room")
    assert binding is not None and binding.occurrence_id == "ev1"
    # The room's own facilitator keeps control, and check-ins still count for the session live here.
    assert (await live.say("alice", "/checkin"))[0].startswith("✅")
    assert [c.user_id for c in await live.app.store.live.attendance("ev1")] == ["fake:alice"]
    assert await live.app.store.live.attendance("ev7") == []
    assert (await live.say("fac", "/live end"))[-1].startswith("⏹")
    # Once the room is free, the other facilitator may take it; an organiser may switch it any time.
    assert any("Now live: Another session" in r for r in await live.say("other", "/live ev7"))
    assert any("Now live: Safeguarding adults" in r for r in await live.say("org", "/live ev1"))


async def test_only_the_live_sessions_facilitators_set_the_rooms_language(live: Harness) -> None:
    await live.add_occurrences(OTHER)
    await live.say("org", "/facilitator add fake:other ev7")
    refusal = ["Only organisers, and facilitators of the session live in this chat, can set the language "
               "of a chat."]
    assert await live.say("other", "/language cy --here") == refusal
    assert await live.app.store.people.chat_language("fake:room") is None
    assert (await live.say("fac", "/language cy --here"))[0].startswith("O hyn ymlaen")
    await live.say("fac", "/live end")
    # nothing is live here any more (and the room now speaks Welsh)
    assert await live.say("fac", "/language en --here") == [
        "Dim ond trefnwyr, a hwyluswyr y sesiwn sy’n fyw yn y sgwrs hon, all osod iaith sgwrs."]
    assert await live.app.store.people.chat_language("fake:room") == "cy"
