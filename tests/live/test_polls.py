"""Polls and quizzes, driven through the whole bot."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from bot.models import Incoming
from bot.store.schema import poll_votes, polls
from tests.harness import Harness
from tests.live.conftest import NativePollAdapter, last


async def tally(h: Harness, poll_id: int = 1) -> tuple[int, ...]:
    poll = await h.app.store.live.get_poll(poll_id)
    assert poll is not None
    return (await h.app.store.live.tally(poll)).votes


async def test_vote_counts_and_changing_a_vote(live: Harness) -> None:
    await live.say("fac", '/poll "Tea or coffee?" "Tea" "Coffee"')
    assert "📊 Poll 1: Tea or coffee?" in last(live).text
    await live.say("alice", "/vote 1")
    await live.say("bob", "/vote 2")
    assert await tally(live) == (1, 1)
    await live.say("alice", "/vote 2")
    assert await tally(live) == (0, 2)
    assert live.adapter.texts(live.adapter.to("alice"))[-1] == "Your vote on “Tea or coffee?” is counted: 2. Coffee."
    results = (await live.say("carol", "/results"))[0]
    assert "Coffee" in results and "2 (100%)" in results and "2 people voted." in results


async def test_buttons_carry_short_restart_safe_ids(live: Harness) -> None:
    await live.say("fac", '/poll "Pick" "A" "B" "C"')
    actions = [b.action for row in last(live).buttons for b in row]
    assert actions == ["poll:1:vote:1", "poll:1:vote:2", "poll:1:vote:3"]
    assert all(len(a.encode()) <= 64 for a in actions)
    await live.restart()
    await live.press("alice", "poll:1:vote:3")
    assert await tally(live) == (0, 0, 1)


async def test_multi_choice_by_command_and_by_toggling_buttons(live: Harness) -> None:
    await live.say("fac", '/poll "Which topics?" "Law" "Practice" "Research" --multi')
    await live.say("alice", "/vote 1 3")
    assert await tally(live) == (1, 0, 1)
    await live.say("alice", "/vote 2")
    assert await tally(live) == (0, 1, 0)
    await live.press("bob", "poll:1:vote:1")
    await live.press("bob", "poll:1:vote:2")
    assert await tally(live) == (1, 2, 0)
    await live.press("bob", "poll:1:vote:1")  # a second press takes it back
    assert await tally(live) == (0, 2, 0)
    assert "2. Practice" in live.adapter.texts(live.adapter.to("bob"))[-1]


async def test_bad_input_gets_one_line_answers(live: Harness) -> None:
    assert await live.say("alice", "/vote 1") == ["There is no open poll here."]
    one_option = await live.say("fac", '/poll "Only one?" "Yes"')
    assert len(one_option) == 1 and "2 to 12 options" in one_option[0]
    thirteen = " ".join(f'"o{i}"' for i in range(13))
    assert "2 to 12 options" in (await live.say("fac", f'/poll "Too many?" {thirteen}'))[0]
    await live.say("fac", '/poll "Tea or coffee?" "Tea" "Coffee"')
    assert await live.say("alice", "/vote 99") == ["There is no option 99: choose 1 to 2."]
    assert await live.say("alice", "/vote two") == ["Usage: /vote N [M …]"]
    assert await live.say("alice", "/vote 1 2") == ["This poll takes one choice: /vote N."]
    assert "--correct" in (await live.say("fac", '/poll "Q" "A" "B" --correct 5'))[0]
    assert "--close" in (await live.say("fac", '/poll "Q" "A" "B" --close 0m'))[0]
    assert all("\n" not in r for r in live.adapter.texts(live.adapter.in_chat()) if "vote" in r.lower()
               and "Poll" not in r)


async def test_timed_close_survives_a_restart(live: Harness) -> None:
    await live.say("fac", '/poll "Ready?" "Yes" "No" --close 5m')
    await live.say("alice", "/vote 1")
    await live.restart()
    await live.advance(timedelta(minutes=4))
    assert (await live.app.store.live.get_poll(1)).is_open  # type: ignore[union-attr]
    await live.advance(timedelta(minutes=1, seconds=1))
    assert not (await live.app.store.live.get_poll(1)).is_open  # type: ignore[union-attr]
    final = live.adapter.in_chat()[-1]
    assert final.text.startswith("📊 Final results — Ready?") and "1 (100%)" in final.text
    assert await live.say("bob", "/vote 2") == ["There is no open poll here."]


async def test_closepoll_early_and_votes_after_close(live: Harness) -> None:
    await live.say("fac", '/poll "Ready?" "Yes" "No" --close 10m')
    await live.say("alice", "/vote 2")
    replies = await live.say("fac", "/closepoll")
    assert replies[-1].startswith("📊 Final results")
    assert await live.press("bob", "poll:1:vote:1") == ["That poll has already closed."]
    assert await live.say("fac", "/closepoll") == ["There is no open poll here."]
    await live.advance(timedelta(minutes=11))  # the cancelled alarm posts nothing more
    assert sum("Final results" in t for t in live.adapter.texts()) == 1


async def test_quiz_reveals_the_answer_and_the_share_right(live: Harness) -> None:
    await live.say("fac", '/poll "Which Act covers safeguarding in Wales?" "Care Act 2014" '
                          '"SSWB (Wales) Act 2014" "Children Act 1989" --correct 2')
    assert "🧠 Quiz 1" in last(live).text
    for user, choice in (("alice", 2), ("bob", 2), ("carol", 1)):
        await live.say(user, f"/vote {choice}")
    assert "Correct" not in (await live.say("dan", "/results"))[0]  # not revealed while open
    final = (await live.say("fac", "/closepoll"))[-1]
    assert "Correct answer: 2. SSWB (Wales) Act 2014. 67% got it right." in final
    assert "✅" in final


async def test_final_results_carry_a_png_where_images_show(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.live.conftest import go_live

    async with Harness.open(tmp_path, adapter=NativePollAdapter()) as h:
        await go_live(h)
        await h.say("fac", '/poll "Rate it" "Good" "Fine" --anonymous')
        await h.press("alice", "poll:1:vote:1")
        await h.say("fac", "/closepoll")
        final = h.adapter.in_chat()[-1]
        assert final.attachment is not None and final.attachment.mime_type == "image/png"
        assert final.attachment.content.startswith(b"\x89PNG\r\n\x1a\n")


async def test_native_poll_answers_arrive_as_npoll_actions(native: Harness) -> None:
    adapter = native.adapter
    await native.say("fac", '/poll "Format?" "Online" "In person" "Hybrid" --multi')
    posted = last(native)
    assert posted.poll is not None and posted.poll.options == ("Online", "In person", "Hybrid")
    assert posted.poll.multiple and posted.buttons == ()
    assert "1. Online" in posted.text  # the text fallback is always there
    poll = await native.app.store.live.get_poll(1)
    assert poll is not None and poll.poll_ref == "native-1" and poll.message_id
    # Answers may come from a private chat: the poll is found by its reference.
    await adapter.push(Incoming(user=adapter.user("alice"), chat=adapter.dm("alice"), action="npoll:native-1:0,2"))
    await adapter.push(Incoming(user=adapter.user("bob"), chat=adapter.room, action="npoll:native-1:1"))
    assert await tally(native) == (1, 1, 1)
    await adapter.push(Incoming(user=adapter.user("alice"), chat=adapter.dm("alice"), action="npoll:native-1:2"))
    assert await tally(native) == (0, 1, 1)
    await adapter.push(Incoming(user=adapter.user("bob"), chat=adapter.room, action="npoll:native-1:"))
    assert await tally(native) == (0, 0, 1)  # retracted
    await adapter.push(Incoming(user=adapter.user("carol"), chat=adapter.room, action="npoll:unknown:0"))
    # The platform counts its own poll: a /vote it never sees would make the two disagree.
    assert "Answer in the poll above" in " ".join(await native.say("alice", "/vote 1"))
    assert await tally(native) == (0, 0, 1)
    await native.say("fac", "/closepoll")
    assert isinstance(adapter, NativePollAdapter)
    assert adapter.closed == [("fake:room", poll.message_id)]


async def test_anonymous_polls_never_go_native(native: Harness) -> None:
    await native.say("fac", '/poll "Honestly?" "Yes" "No" --anonymous')
    posted = last(native)
    assert posted.poll is None and posted.buttons
    assert (await native.app.store.live.get_poll(1)).poll_ref is None  # type: ignore[union-attr]


async def test_vote_in_private_goes_to_the_open_poll(live: Harness) -> None:
    await live.say("fac", '/poll "Tea or coffee?" "Tea" "Coffee"')
    replies = await live.say("alice", "/vote 2", chat=live.adapter.dm("alice"))
    assert replies == ["Your vote on “Tea or coffee?” is counted: 2. Coffee."]
    assert await tally(live) == (0, 1)


async def test_latest_open_poll_takes_the_vote(live: Harness) -> None:
    await live.say("fac", '/poll "First" "A" "B"')
    await live.say("fac", '/poll "Second" "C" "D" "E"')
    await live.say("alice", "/vote 3")
    assert await tally(live, 2) == (0, 0, 1)
    assert await tally(live, 1) == (0, 0)


async def test_a_storm_of_concurrent_votes_is_counted_exactly_once(live: Harness) -> None:
    await live.say("fac", '/poll "Storm?" "A" "B" "C" --anonymous')
    users = [f"user{i}" for i in range(300)]
    await asyncio.gather(*(live.say(u, f"/vote {i % 3 + 1}") for i, u in enumerate(users)))
    # and one person changing their mind many times at once
    await asyncio.gather(*(live.say("fickle", f"/vote {i % 3 + 1}") for i in range(30)))
    poll = await live.app.store.live.get_poll(1)
    assert poll is not None
    result = await live.app.store.live.tally(poll)
    assert result.voters == 301 and sum(result.votes) == 301
    async with live.app.store.engine.connect() as conn:
        rows = await conn.scalar(sa.select(sa.func.count()).select_from(poll_votes))
        salt = await conn.scalar(sa.select(polls.c.salt))
    assert rows == 301 and salt is not None
    assert not any("went wrong" in t for t in live.adapter.texts())
