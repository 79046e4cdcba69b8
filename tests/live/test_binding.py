"""Live mode: /live, /live end, and chats bound automatically as a session starts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.config import FeedConfig
from tests.harness import START, Harness, make_occurrence
from tests.live.conftest import SESSION, go_live

FEEDS = (FeedConfig("sww", str(Path(__file__).with_name("missing.ics")), live_chats=("fake:room",)),)
UPCOMING = make_occurrence("Trauma-informed practice", START + timedelta(minutes=30), 60, id="ev3")


async def test_configured_chat_is_bound_at_session_start(tmp_path: Path) -> None:
    async with Harness.open(tmp_path, feeds=FEEDS) as h:
        await h.add_occurrences(UPCOMING)  # imported after start-up: the periodic scan finds it
        await h.advance(timedelta(minutes=29))
        assert await h.app.store.live.binding_for("fake:room") is None
        assert not any("Now live" in t for t in h.adapter.texts())
        await h.advance(timedelta(minutes=1))
        binding = await h.app.store.live.binding_for("fake:room")
        assert binding is not None and binding.occurrence_id == "ev3" and binding.bound_at == UPCOMING.start
        posted = h.adapter.in_chat()
        assert len(posted) == 1 and posted[0].text.startswith("🔴 Now live: Trauma-informed practice")
        await h.say("org", "/facilitator add fake:fac ev3")
        assert (await h.say("fac", '/poll "Ready?" "Yes" "No"'))[0].startswith("📊 Poll 1")
        poll = await h.app.store.live.get_poll(1)
        assert poll is not None and poll.occurrence_id == "ev3"

        # A restart mid-session neither re-announces nor re-binds after /live end.
        await h.restart()
        await h.advance(timedelta(minutes=5))
        assert sum("Now live" in t for t in h.adapter.texts()) == 1
        await h.say("fac", "/live end")
        await h.advance(timedelta(minutes=10))
        assert await h.app.store.live.binding_for("fake:room") is None


async def test_next_start_alarm_is_rebuilt_after_a_restart(tmp_path: Path) -> None:
    async with Harness.open(tmp_path, feeds=FEEDS) as h:
        await h.add_occurrences(UPCOMING)
        await h.restart()
        await h.advance(timedelta(seconds=10))  # the first scan, once the adapters are up
        assert h.alarms.scheduled("live:autobind-next") == UPCOMING.start
        await h.advance(timedelta(minutes=30))
        assert any(t.startswith("🔴 Now live") for t in h.adapter.texts())


async def test_live_status_and_end_summary(live: Harness) -> None:
    assert await live.say("alice", "/live") == ["This chat is live for “Safeguarding adults”. End with /live end."]
    await live.say("fac", '/poll "Useful?" "Yes" "No" --close 30m')
    await live.say("alice", "/vote 1")
    await live.say("alice", "/ask Where are the slides?")
    await live.say("fac", "/answered 1")
    await live.say("bob", "/checkin")
    replies = await live.say("fac", "/live end")
    assert replies[0].startswith("📊 Final results — Useful?")
    assert replies[-1].splitlines() == ["⏹ “Safeguarding adults” is no longer live here. Thank you!",
                                        "1 poll · 1 question (1 answered) · 1 check-in"]
    assert await live.say("alice", "/vote 1") == ["There is no open poll here."]
    assert await live.say("alice", "/ask More?") == [
        "No session is live in this chat. A facilitator starts one with /live EVENT."]


async def test_live_needs_a_known_session(harness: Harness) -> None:
    await harness.add_occurrences(SESSION)
    assert (await harness.say("org", "/live nothing-like-this"))[0].startswith("No session matches")
    await go_live(harness)


async def test_a_session_that_started_while_the_bot_was_down_is_bound_on_start_up(tmp_path: Path) -> None:
    async with Harness.open(tmp_path, feeds=FEEDS) as h:
        started = make_occurrence("Already on", START - timedelta(minutes=20), 60, id="ev4")
        await h.add_occurrences(started)
        await h.restart()
        await h.advance(timedelta(seconds=10))
        binding = await h.app.store.live.binding_for("fake:room")
        assert binding is not None and binding.occurrence_id == "ev4" and binding.bound_by == ""
        assert h.adapter.in_chat()[-1].text.startswith("🔴 Now live: Already on")


async def test_ending_one_of_two_live_chats_keeps_questions_open_in_the_other(live: Harness) -> None:
    other = live.adapter.room.__class__("fake:other-room", live.adapter.room.kind, "other")
    await live.say("fac", "/live ev1", chat=other)
    await live.say("fac", "/live end")
    assert (await live.say("alice", "/ask Still open?", chat=other))[0].startswith("❓ Question 1")
    await live.say("fac", "/live end", chat=other)
    assert (await live.app.store.live.get_session("ev1")).qa_open is False
