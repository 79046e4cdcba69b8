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
