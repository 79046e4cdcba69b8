"""Per-person limits: an attendee hammering a command is told to slow down and nothing more is
stored; organisers and facilitators are never limited; buttons count as their commands."""

from __future__ import annotations

from datetime import timedelta

from bot.models import Role
from tests.harness import Harness

# Attendee commands that neither write nor do more than a lookup or two.
UNLIMITED = {"help"}
# Run by anyone, but refused in the handler unless the person facilitates the session at hand.
FACILITATOR_CHECKED = {"live", "attendance"}


async def upvotes(h: Harness) -> dict[int, int]:
    return {q.number: q.upvotes for q in await h.app.store.live.questions_of("ev1")}


async def test_an_attendee_hammering_upvote_is_told_to_slow_down(live: Harness) -> None:
    for i in range(1, 13):
        await live.say(f"asker{i}", f"/ask Question {i}")
    replies = [await live.say("alice", f"/upvote {n}") for n in range(1, 13)]
    assert all(r[0].startswith("👍") for r in replies[:10]), replies
    assert replies[10:] == [["Slow down, please: try /upvote again in 60 seconds."]] * 2
    counts = await upvotes(live)
    assert sum(counts.values()) == 10 and counts[11] == counts[12] == 0
    # The window slides on the injected clock: a minute later the next one counts.
    await live.advance(timedelta(seconds=30))
    assert await live.say("alice", "/upvote 11") == ["Slow down, please: try /upvote again in 30 seconds."]
    await live.advance(timedelta(seconds=30))
    assert await live.say("alice", "/upvote 11") == ["👍 Question 11 now has 1 upvote."]


async def test_buttons_count_against_their_command(live: Harness) -> None:
    for i in range(1, 13):
        await live.say(f"asker{i}", f"/ask Question {i}")
    for n in range(1, 6):
        await live.say("alice", f"/upvote {n}")
    pressed = [await live.press("alice", f"q:{n}:up") for n in range(6, 13)]
    assert pressed[5:] == [["Slow down, please: try /upvote again in 60 seconds."]] * 2
    assert sum((await upvotes(live)).values()) == 10


async def test_vote_changes_are_limited_and_the_last_counted_vote_stands(live: Harness) -> None:
    await live.say("fac", '/poll "Tea or coffee?" "Tea" "Coffee"')
    for i in range(10):
        await live.say("alice", f"/vote {i % 2 + 1}")
    assert await live.say("alice", "/vote 1") == ["Slow down, please: try /vote again in 60 seconds."]
    poll = await live.app.store.live.get_poll(1)
    assert poll is not None
    assert (await live.app.store.live.tally(poll)).votes == (0, 1)


async def test_facilitators_and_organisers_are_not_limited(live: Harness) -> None:
    for i in range(1, 16):
        await live.say(f"asker{i}", f"/ask Question {i}")
    for who in ("fac", "org"):
        replies = [await live.say(who, f"/upvote {n}") for n in range(1, 16)]
        assert all(r[0].startswith("👍") for r in replies), replies
        searches = [await live.say(who, "/events safeguarding") for _ in range(15)]
        assert not any("Slow down" in r[0] for r in searches)
    assert sum((await upvotes(live)).values()) == 30


async def test_limits_are_per_person_and_per_command(live: Harness) -> None:
    for _ in range(10):
        await live.say("alice", "/events safeguarding")
    assert (await live.say("alice", "/events today"))[0].startswith("Slow down")
    assert not (await live.say("bob", "/events today"))[0].startswith("Slow down")
    assert not (await live.say("alice", "/mine"))[0].startswith("Slow down")


async def test_the_slow_down_line_is_translated(live: Harness) -> None:
    await live.say("alice", "/language cy")
    for _ in range(3):
        await live.say("alice", "/ics")
    (reply,) = await live.say("alice", "/ics")
    assert "/ics" in reply and "60" in reply and "Slow down" not in reply


async def test_every_attendee_command_that_writes_or_searches_declares_a_limit(live: Harness) -> None:
    router = live.app.services.router
    for spec in router.commands():
        if spec.role is Role.ATTENDEE and spec.name not in UNLIMITED | FACILITATOR_CHECKED:
            assert spec.limit is not None, f"/{spec.name} has no per-person limit"
    for prefix, command in router.actions().items():
        if prefix != "npoll":  # the platform's own poll: its votes are paced by the platform
            assert command is not None and router.get(command) is not None, prefix
