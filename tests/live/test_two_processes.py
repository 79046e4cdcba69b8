"""Two bot processes on one database and one bot account (``EVENTBOT_RATE_SHARE``): what one
does, the other sees. Each "process" is a whole app with its own store connection and
caches, on the same SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from adapters.fake import FakeAdapter
from bot.alarms import ManualAlarms
from bot.app import App, open_app
from bot.live.polls import finish_poll
from tests.harness import START, Harness, make_occurrence


@contextlib.asynccontextmanager
async def second_process(h: Harness) -> AsyncIterator[tuple[App, FakeAdapter]]:
    adapter = FakeAdapter(clock=h.clock)
    async with open_app(h.config, adapters=[adapter], clock=h.clock, alarms=ManualAlarms(h.clock)) as app:
        yield app, adapter


async def test_a_poll_closed_in_one_process_is_closed_in_the_other(live: Harness) -> None:
    store = live.app.store.live
    async with second_process(live) as (_app, other):
        await live.say("fac", '/poll "First?" "A" "B"')
        # Process B takes a vote, and so holds poll 1 as the open poll of the room.
        assert "counted" in " ".join(await other.say("alice", "/vote 1"))
        await live.say("fac", "/closepoll")  # process A closes it...
        await live.say("fac", '/poll "Second?" "C" "D"')  # ...and opens another
        first, second = await store.get_poll(1), await store.get_poll(2)
        assert first is not None and second is not None and not first.is_open and second.is_open

        # B counts new votes into the open poll, never into the closed one.
        assert "“Second?” is counted" in " ".join(await other.say("bob", "/vote 2"))
        assert "already closed" in " ".join(await other.press("carol", "poll:1:vote:1"))
        assert (await store.tally(first)).votes == (1, 0)
        assert (await store.tally(second)).votes == (0, 1)
        assert await store.voters_by_option(second) == [[], ["fake:bob"]]


async def test_a_poll_opened_in_one_process_takes_votes_in_the_other(live: Harness) -> None:
    async with second_process(live) as (_app, other):
        assert "no open poll" in " ".join(await other.say("alice", "/vote 1"))
        await live.say("fac", '/poll "Now?" "Yes" "No"')
        assert "counted" in " ".join(await other.say("alice", "/vote 1"))


async def test_both_processes_closing_one_poll_announce_it_once(live: Harness) -> None:
    async with second_process(live) as (app, other):
        await live.say("fac", '/poll "Timed?" "Yes" "No" --close 5m')
        await other.say("alice", "/vote 2")
        closed = await asyncio.gather(finish_poll(live.app.services, 1), finish_poll(app.services, 1))
        assert sorted(closed) == [False, True]
        finals = [m for m in live.adapter.sent + other.sent if "Final results" in m.text]
        assert len(finals) == 1


async def test_the_daily_digest_goes_out_once_across_processes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    session = make_occurrence("Digest", START + timedelta(hours=2))
    async with Harness.open(tmp_path, digest_chats=("fake:organisers",), digest_hour=8,
                            offsets=(timedelta(hours=1),)) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        await h.advance(timedelta(hours=2))  # the reminder goes out; the digest is due tomorrow
        async with second_process(h) as (app, other):
            sent = await asyncio.gather(h.reminders.send_digest(), app.services.reminders.send_digest())
            assert sorted(sent) == [0, 1]
            digests = h.adapter.in_chat("fake:organisers") + other.in_chat("fake:organisers")
            assert len(digests) == 1 and digests[0].text.startswith("Reminders in the last 24 hours: 1 sent")


async def test_both_processes_writing_a_new_progress_row_at_once_both_succeed(live: Harness) -> None:
    """Each dispatcher writes the fan-out's progress row; the first two writes can come at
    once, before the row exists (on PostgreSQL nothing locks a row that is not there yet)."""
    async with second_process(live) as (app, _other):
        for i in range(30):
            await asyncio.gather(live.app.store.reminders.set_meta(f"fanout{i}", "from A"),
                                 app.store.reminders.set_meta(f"fanout{i}", "from B"))
            assert await live.app.store.reminders.get_meta(f"fanout{i}") in ("from A", "from B")
