"""Reminders end to end: planning, the dispatcher, rate limits and failure policy, driven
through the fake adapter and the fake clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.fake import FakeAdapter
from bot.errors import DeliveryFailed, RateLimited
from bot.models import (
    Delivered,
    Delivery,
    EventStatus,
    Outgoing,
    ReminderStatus,
    Subscription,
    SubscriptionScope,
    UserSettings,
)
from bot.ports import RateLimits
from bot.reminders.dispatcher import Dispatcher
from bot.reminders.ratelimit import Limiter
from bot.store.sql import SqlStore
from tests.harness import START, Harness, make_occurrence

LONDON = ZoneInfo("Europe/London")


async def counts(h: Harness) -> dict[str, int]:
    return await h.app.store.reminders.counts()


async def subscribe_many(h: Harness, n: int) -> None:
    """``n`` people follow everything (straight into the store, then one replan)."""
    for i in range(n):
        await h.app.store.people.subscribe(Subscription(f"fake:user{i}", SubscriptionScope.ALL))
    await h.reminders.replan_all()


async def test_subscriber_gets_each_default_offset_on_time(tmp_path: Path) -> None:
    session = make_occurrence("Ethics in practice", START + timedelta(days=2, hours=4),
                              url="https://meet.example/ethics")
    async with Harness.open(tmp_path) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        await h.advance(timedelta(days=3))
        got = h.reminders_to("alice")
        assert [r.at for r in got] == [session.start - timedelta(days=1), session.start - timedelta(minutes=15)]
        last = got[-1].message
        assert last.kind == "reminder" and last.starts_at == session.start
        assert last.text == ("⏰ “Ethics in practice” starts at 12:00 GMT, in 15 minutes.\n"
                             "Join: https://meet.example/ethics")
        assert "starts on Wed 19 Mar 2025, 12:00 GMT, in 1 day" in got[0].message.text
        assert (await counts(h))["sent"] == 2


async def test_spring_forward_one_day_reminder_keeps_local_time(tmp_path: Path) -> None:
    # Clocks go forward at 01:00 UTC on Sunday 30 March 2025. The 09:00 BST session on the
    # Sunday is 08:00 UTC; its 1-day reminder is at 09:00 GMT on Saturday = 09:00 UTC (23 h).
    session = make_occurrence("Sunday session", datetime(2025, 3, 30, 8, 0, tzinfo=UTC))
    monday = make_occurrence("Monday session", datetime(2025, 3, 31, 8, 0, tzinfo=UTC))
    async with Harness.open(tmp_path, start=datetime(2025, 3, 27, 12, 0, tzinfo=UTC),
                            offsets=(timedelta(days=1),)) as h:
        await h.add_occurrences(session, monday)
        await h.say("alice", "/subscribe all")
        await h.say("nina", "/timezone America/New_York")
        await h.say("nina", "/subscribe all")
        await h.advance(timedelta(days=4))
        alice = h.reminders_to("alice")
        assert [r.at for r in alice] == [datetime(2025, 3, 29, 9, 0, tzinfo=UTC),
                                         datetime(2025, 3, 30, 8, 0, tzinfo=UTC)]
        assert "09:00 BST" in alice[0].message.text
        # New York changed its clocks on 9 March: 04:00 EDT the day before is 08:00 UTC.
        nina = h.reminders_to("nina")
        assert [r.at for r in nina] == [datetime(2025, 3, 29, 8, 0, tzinfo=UTC),
                                        datetime(2025, 3, 30, 8, 0, tzinfo=UTC)]
        assert "04:00 EDT" in nina[0].message.text


async def test_fall_back_one_day_reminder_keeps_local_time(tmp_path: Path) -> None:
    # Clocks go back at 01:00 UTC on Sunday 26 October 2025: 09:00 GMT on the Sunday is
    # 09:00 UTC, and 09:00 BST on the Saturday is 08:00 UTC (25 h before).
    session = make_occurrence("Sunday session", datetime(2025, 10, 26, 9, 0, tzinfo=UTC))
    async with Harness.open(tmp_path, start=datetime(2025, 10, 23, 12, 0, tzinfo=UTC),
                            offsets=(timedelta(days=1), timedelta(minutes=15))) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        await h.say("nina", "/timezone America/New_York")
        await h.say("nina", "/subscribe all")
        await h.advance(timedelta(days=3))
        assert [r.at for r in h.reminders_to("alice")] == [
            datetime(2025, 10, 25, 8, 0, tzinfo=UTC), datetime(2025, 10, 26, 8, 45, tzinfo=UTC)]
        nina = h.reminders_to("nina")
        # 05:00 EDT on Saturday is 09:00 UTC; New York is still on summer time until 2 November.
        assert [r.at for r in nina] == [datetime(2025, 10, 25, 9, 0, tzinfo=UTC),
                                        datetime(2025, 10, 26, 8, 45, tzinfo=UTC)]
        assert "05:00 EDT" in nina[-1].message.text


async def test_offsets_changed_after_planning(tmp_path: Path) -> None:
    session = make_occurrence("Supervision skills", START + timedelta(days=3))
    async with Harness.open(tmp_path) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        assert (await counts(h))["pending"] == 2
        await h.say("alice", "/remind 2h 30m")
        assert (await counts(h))["pending"] == 2
        await h.advance(timedelta(days=4))
        assert [r.at for r in h.reminders_to("alice")] == [session.start - timedelta(hours=2),
                                                           session.start - timedelta(minutes=30)]
        await h.say("alice", "/mine")
        assert "reminders 2h, 30m before" in h.adapter.sent[-1].text


async def test_moved_and_cancelled_occurrences(tmp_path: Path) -> None:
    moved = make_occurrence("Moved session", START + timedelta(days=2))
    cancelled = make_occurrence("Cancelled session", START + timedelta(days=2, hours=3))
    async with Harness.open(tmp_path) as h:
        await h.add_occurrences(moved, cancelled)
        await h.say("alice", "/subscribe all")
        await h.say("bob", "/subscribe all")
        assert (await counts(h))["pending"] == 8
        # The calendar service updates the store, then reports what changed.
        later = replace(moved, start=moved.start + timedelta(hours=5), end=moved.end + timedelta(hours=5))
        await h.add_occurrences(later, replace(cancelled, status=EventStatus.CANCELLED))
        await h.reminders.occurrences_changed([later.id], [cancelled.id])
        assert (await counts(h))["pending"] == 4
        await h.advance(timedelta(days=3))
        for user in ("alice", "bob"):
            got = h.reminders_to(user)
            assert [r.at for r in got] == [later.start - timedelta(days=1), later.start - timedelta(minutes=15)]
            assert all("Moved session" in r.message.text for r in got)


async def test_crash_between_claim_and_send_then_resume(tmp_path: Path) -> None:
    session = make_occurrence("Safeguarding update", START + timedelta(hours=2))
    async with Harness.open(tmp_path, reminder_lease_seconds=60) as h:
        await h.add_occurrences(session)
        await subscribe_many(h, 30)
        due = session.start - timedelta(minutes=15)
        h.clock.set(due)
        # A dispatcher claims a batch and dies before sending any of it.
        claimed = await h.app.store.reminders.claim("dead-process", int(due.timestamp()), {"fake": int(
            due.timestamp())}, 10)
        assert len(claimed) == 10
        await h.restart()
        await h.advance(timedelta(seconds=1))
        assert (await counts(h))["sending"] == 10
        await h.advance(timedelta(minutes=2))
        delivered = Counter(r.message.user.id for r in h.adapter.records if r.message.kind == "reminder")
        assert len(delivered) == 30 and set(delivered.values()) == {1}
        assert (await counts(h))["sent"] == 30


async def two_dispatchers_at(h: Harness, when: datetime) -> tuple[Dispatcher, Dispatcher]:
    """Two dispatchers, as in two processes, each with its own connection to one database:
    move the clock to ``when`` and let both run until they are done."""
    second_store = await SqlStore.open(h.config.db, h.clock)
    try:
        services = h.app.services
        first = Dispatcher(services)
        second = Dispatcher(replace(services, store=second_store))
        h.clock.set(when)
        await asyncio.gather(first.run(), second.run())
    finally:
        await second_store.close()
    return first, second


async def test_two_dispatchers_on_one_database_never_double_send(tmp_path: Path) -> None:
    session = make_occurrence("Big plenary", START + timedelta(hours=3))
    async with Harness.open(tmp_path, reminder_batch=7, offsets=(timedelta(hours=1),)) as h:
        await h.add_occurrences(session)
        await subscribe_many(h, 200)
        first, second = await two_dispatchers_at(h, session.start - timedelta(hours=1))
        delivered = Counter(r.message.user.id for r in h.adapter.records if r.message.kind == "reminder")
        assert len(delivered) == 200 and set(delivered.values()) == {1}
        assert first.progress.sent + second.progress.sent == 200
        assert (await counts(h))["sent"] == 200


async def test_two_processes_sharing_an_account_stay_within_its_limit_together(tmp_path: Path) -> None:
    # Two dispatchers on one database, one account that allows 10 msg/s: each takes half.
    limits = RateLimits(global_per_second=10)
    adapter = FakeAdapter(limits=limits)
    session = make_occurrence("Shared", START + timedelta(hours=3))
    async with Harness.open(tmp_path, adapter=adapter, reminder_batch=20, rate_share=0.5,
                            offsets=(timedelta(hours=1),)) as h:
        await h.add_occurrences(session)
        await subscribe_many(h, 200)
        adapter.enforce = limits
        first, second = await two_dispatchers_at(h, session.start - timedelta(hours=1))
        assert adapter.rate_limited == 0
        delivered = Counter(r.message.user.id for r in adapter.records if r.message.kind == "reminder")
        assert len(delivered) == 200 and set(delivered.values()) == {1}
        assert first.progress.sent > 0 and second.progress.sent > 0


async def test_two_processes_take_one_budget_from_the_store_and_use_all_of_it(tmp_path: Path) -> None:
    # No fixed share: the account's 10 msg/s is one budget in the store. Both processes send, the
    # platform never refuses one, and together they use the whole limit, not half of it.
    limits = RateLimits(global_per_second=10)
    adapter = FakeAdapter(limits=limits)
    session = make_occurrence("Shared", START + timedelta(hours=3))
    async with Harness.open(tmp_path, adapter=adapter, reminder_batch=20, offsets=(timedelta(hours=1),)) as h:
        await h.add_occurrences(session)
        await subscribe_many(h, 200)
        adapter.enforce = limits
        first, second = await two_dispatchers_at(h, session.start - timedelta(hours=1))
        assert adapter.rate_limited == 0
        sent = [r for r in adapter.records if r.message.kind == "reminder"]
        assert len({r.message.user.id for r in sent}) == 200 and len(sent) == 200
        assert first.progress.sent > 0 and second.progress.sent > 0
        span = (max(r.at for r in sent) - min(r.at for r in sent)).total_seconds()
        # Half the limit would take 39.8 s. The slots are exact, but in fake time a process
        # waiting on the store for its next block can find the other has moved the clock on,
        # so the span is not: 19.9 s on SQLite, 20.1-22.4 s on PostgreSQL. How much of the
        # limit several processes use in real time is what benchmarks/scaleout.py measures.
        assert span <= 199 / (10 * 0.75)


async def test_a_429_seen_by_one_process_pauses_the_other(tmp_path: Path) -> None:
    # Two processes' limiters on one store: the platform refuses one process for 30 s, and the
    # other's next slot is after that too, not 0.1 s later.
    limits = RateLimits(global_per_second=10)
    async with Harness.open(tmp_path) as h:
        other_store = await SqlStore.open(h.config.db, h.clock)
        try:
            first = Limiter(lambda _p: limits, budget=h.app.store.rate_budget)
            second = Limiter(lambda _p: limits, budget=other_store.rate_budget)
            now = h.clock.now()
            assert await first.take(now, "fake", "fake:alice") == (now, True)
            await first.pause(now + timedelta(seconds=30), "fake")
            slot, reserved = await second.take(now, "fake", "fake:bob")
            assert reserved and slot >= now + timedelta(seconds=30)
        finally:
            await other_store.close()


async def test_storm_of_429s_loses_nothing(tmp_path: Path) -> None:
    # The platform enforces 5 msg/s but declares nothing, and adds a burst of explicit 429s.
    adapter = FakeAdapter()
    session = make_occurrence("Storm", START + timedelta(hours=1))
    async with Harness.open(tmp_path, adapter=adapter, offsets=(timedelta(minutes=30),)) as h:
        await h.add_occurrences(session)
        await subscribe_many(h, 60)
        adapter.enforce = RateLimits(global_per_second=5)
        adapter.fail_next(*[RateLimited(1.5) for _ in range(20)])
        await h.advance(timedelta(minutes=45))
        delivered = Counter(r.message.user.id for r in adapter.records if r.message.kind == "reminder")
        assert len(delivered) == 60 and set(delivered.values()) == {1}
        assert adapter.rate_limited > 0
        assert all(r.at < session.start for r in adapter.records if r.message.kind == "reminder")
        assert await counts(h) == {"pending": 0, "sending": 0, "sent": 60, "failed": 0, "expired": 0}


async def test_declared_limits_are_never_exceeded_and_fanout_lands_on_time(tmp_path: Path) -> None:
    limits = RateLimits(global_per_second=30, per_chat_per_second=1, per_group_per_minute=20)
    adapter = FakeAdapter(limits=limits)
    session = make_occurrence("Keynote", START + timedelta(hours=1))
    async with Harness.open(tmp_path, adapter=adapter, offsets=(timedelta(minutes=15),),
                            early_window_minutes=10) as h:
        await h.add_occurrences(session)
        await subscribe_many(h, 600)
        adapter.enforce = limits  # from here on the platform answers 429 to anything too fast
        await h.advance(timedelta(hours=1))
        assert adapter.rate_limited == 0
        got = [r for r in adapter.records if r.message.kind == "reminder"]
        assert len(got) == 600
        due = session.start - timedelta(minutes=15)
        assert [r.at for r in got if not due - timedelta(minutes=10) <= r.at <= due] == []
        # 600 at 30/s take 20 s, so sending began early rather than ending late.
        assert min(r.at for r in got) < due - timedelta(seconds=19)


async def test_a_full_group_waits_aside_while_private_reminders_go_on_time(tmp_path: Path) -> None:
    # Telegram's limits, enforced by the platform: 60 people get their reminder in one group
    # (20 a minute there, so 3 minutes' worth) and 100 by private message, all due at once.
    limits = RateLimits(global_per_second=30, per_chat_per_second=1, per_group_per_minute=20)
    adapter = FakeAdapter(limits=limits)
    session = make_occurrence("Plenary", START + timedelta(hours=1))
    async with Harness.open(tmp_path, adapter=adapter, offsets=(timedelta(minutes=15),),
                            early_window_minutes=10) as h:
        await h.add_occurrences(session)
        people = h.app.store.people
        for i in range(60):
            await people.subscribe(Subscription(f"fake:member{i}", SubscriptionScope.ALL))
            await people.save_settings(UserSettings(f"fake:member{i}", delivery=Delivery.CHANNEL,
                                                    delivery_chat="fake:room"))
        await subscribe_many(h, 100)
        adapter.enforce = limits
        await h.advance(timedelta(hours=1))
        assert adapter.rate_limited == 0
        got = [r for r in adapter.records if r.message.kind == "reminder"]
        private = [r for r in got if r.message.user is not None]
        room = [r for r in got if r.message.chat is not None]
        assert sorted(r.message.user.id for r in private if r.message.user) == sorted(
            f"fake:user{i}" for i in range(100))
        assert sorted(r.message.text.partition(":")[0] for r in room) == sorted(f"member{i}" for i in range(60))
        assert (await counts(h))["sent"] == 160
        due = session.start - timedelta(minutes=15)
        # Private reminders are not queued behind the group: all within their own early lead.
        assert all(due - timedelta(seconds=30) <= r.at <= due for r in private)
        # The group gets at most 20 a minute, begun early enough that the last lands on time.
        times = sorted(r.at for r in room)
        assert all(len([t for t in times if a <= t < a + timedelta(minutes=1)]) <= 20 for a in times)
        assert due - timedelta(minutes=10) <= times[0] and times[-1] <= due


async def test_stopping_returns_sends_waiting_aside_to_pending(tmp_path: Path) -> None:
    limits = RateLimits(global_per_second=30, per_chat_per_second=1, per_group_per_minute=20)
    adapter = FakeAdapter(limits=limits, enforce=limits)
    session = make_occurrence("Room only", START + timedelta(hours=1))
    async with Harness.open(tmp_path, adapter=adapter, offsets=(timedelta(minutes=15),)) as h:
        await h.add_occurrences(session)
        for i in range(10):
            await h.app.store.people.subscribe(Subscription(f"fake:member{i}", SubscriptionScope.ALL))
            await h.app.store.people.save_settings(UserSettings(f"fake:member{i}", delivery=Delivery.CHANNEL,
                                                                delivery_chat="fake:room"))
        await h.reminders.replan_all()
        dispatcher = Dispatcher(h.app.services)
        stopping: list[asyncio.Future[None]] = []
        send = adapter.send

        async def send_then_stop(message: Outgoing) -> Delivered:
            delivered = await send(message)
            if not stopping:  # the bot is asked to stop right after its first send
                stopping.append(asyncio.ensure_future(dispatcher.close(grace=30)))
            return delivered

        adapter.send = send_then_stop  # type: ignore[method-assign]
        h.clock.set(session.start - timedelta(minutes=15))
        await asyncio.ensure_future(dispatcher.run())  # a task of its own, as the alarm runs it
        await stopping[0]
        # One went; the nine waiting aside for the group were not left claimed.
        assert await counts(h) == {"pending": 9, "sending": 0, "sent": 1, "failed": 0, "expired": 0}
        adapter.send = send  # type: ignore[method-assign]
        h.reminders.dispatcher.poke()
        await h.advance(timedelta(minutes=5))
        names = Counter(r.message.text.partition(":")[0] for r in adapter.records if r.message.kind == "reminder")
        assert names == Counter(f"member{i}" for i in range(10))


async def test_a_lone_reminder_under_a_declared_rate_is_sent_not_waited_for_forever(tmp_path: Path) -> None:
    # At 30/s the time a fan-out needs is a fraction of a second that a datetime cannot hold
    # exactly; the dispatcher once waited for that last microsecond-fraction without end.
    adapter = FakeAdapter(limits=RateLimits(global_per_second=30, per_chat_per_second=1, per_group_per_minute=20))
    session = make_occurrence("Ethics", START + timedelta(days=1, hours=4))
    async with Harness.open(tmp_path, adapter=adapter) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        await asyncio.wait_for(h.advance(timedelta(days=2)), timeout=30)
        assert [r.at <= r.message.starts_at - offset for r, offset in zip(
            h.reminders_to("alice"), (timedelta(days=1), timedelta(minutes=15)), strict=True)] == [True, True]


async def test_blocked_user_is_told_once_in_the_shared_chat_and_reminded_there(tmp_path: Path) -> None:
    first = make_occurrence("First", START + timedelta(hours=2))
    second = make_occurrence("Second", START + timedelta(hours=3))
    async with Harness.open(tmp_path, offsets=(timedelta(minutes=30), timedelta(minutes=15))) as h:
        await h.add_occurrences(first, second)
        await h.say("bob", "/subscribe all")  # in the shared room: that is where he can be found
        await h.say("alice", "/subscribe all")
        h.adapter.unreachable.add("fake:bob")
        h.adapter.clear()
        await h.advance(timedelta(hours=4))
        room = h.adapter.in_chat()
        notices = [m for m in room if m.kind == "notice"]
        assert len(notices) == 1 and notices[0].text.startswith("bob, I could not send you a private reminder")
        assert "so your reminders will come here" in notices[0].text
        assert len(h.reminders_to("alice")) == 4
        # the one refused in private came to the room right after the notice, and the rest followed it
        bobs = [m for m in room if m.kind == "reminder"]
        assert [m.text.partition(":")[0] for m in bobs] == ["bob"] * 4
        assert room.index(notices[0]) < room.index(bobs[0])
        assert h.adapter.to("bob") == []
        stored = await counts(h)
        assert (stored["sent"], stored["failed"]) == (8, 0)
        # Asking for private messages again is taken at his word.
        h.adapter.unreachable.discard("fake:bob")
        third = make_occurrence("Third", h.clock.now() + timedelta(hours=2))
        await h.add_occurrences(third)
        await h.reminders.occurrences_changed([third.id], [])
        await h.say("bob", "/delivery dm", chat=h.adapter.dm("bob"))
        await h.advance(timedelta(hours=3))
        assert [m.starts_at for m in h.adapter.to("bob") if m.kind == "reminder"] == [third.start] * 2


async def test_unreachable_with_no_shared_chat_is_failed_and_shown_to_organisers(tmp_path: Path) -> None:
    first = make_occurrence("First", START + timedelta(hours=2))
    second = make_occurrence("Second", START + timedelta(hours=3))
    async with Harness.open(tmp_path, offsets=(timedelta(minutes=30), timedelta(minutes=15))) as h:
        await h.add_occurrences(first, second)
        await h.say("bob", "/subscribe all", chat=h.adapter.dm("bob"))  # never seen in a shared chat
        h.adapter.unreachable.add("fake:bob")
        h.adapter.clear()
        await h.advance(timedelta(hours=4))
        assert h.reminders_to("bob") == [] and not [m for m in h.adapter.sent if m.kind == "notice"]
        failed = await h.app.store.reminders.find(ReminderStatus.FAILED)
        # one attempt; the other three were failed without trying a closed chat again
        assert {r.user_id for r in failed} == {"fake:bob"} and len(failed) == 4
        # Switching to the room brings future reminders back, in the room.
        third = make_occurrence("Third", h.clock.now() + timedelta(hours=2))
        await h.add_occurrences(third)
        await h.reminders.occurrences_changed([third.id], [])
        await h.say("bob", "/delivery channel")
        await h.advance(timedelta(hours=3))
        assert len(h.reminders_to("bob")) == 2


async def test_writing_privately_again_brings_failed_reminders_back(tmp_path: Path) -> None:
    first = make_occurrence("First", START + timedelta(hours=2))
    second = make_occurrence("Second", START + timedelta(days=1))
    async with Harness.open(tmp_path, offsets=(timedelta(minutes=30), timedelta(minutes=15))) as h:
        await h.add_occurrences(first, second)
        await h.say("bob", "/subscribe all", chat=h.adapter.dm("bob"))  # no shared chat to fall back on
        h.adapter.unreachable.add("fake:bob")
        await h.advance(timedelta(hours=1, minutes=40))
        assert (await counts(h))["failed"] == 4  # the one tried, and the three still pending
        # Bob unblocks the bot and writes to it privately, after First's 30-minute reminder was due.
        h.adapter.unreachable.discard("fake:bob")
        await h.say("bob", "/mine", chat=h.adapter.dm("bob"))
        assert await h.app.store.reminders.unreachable(["fake:bob"]) == set()
        await h.advance(timedelta(days=1))
        got = [(r.message.text.split("”")[0], r.at) for r in h.reminders_to("bob")]
        assert got == [("⏰ “First", first.start - timedelta(minutes=15)),
                       ("⏰ “Second", second.start - timedelta(minutes=30)),
                       ("⏰ “Second", second.start - timedelta(minutes=15))]
        failed = await h.app.store.reminders.find(ReminderStatus.FAILED)
        assert [(r.occurrence_id, r.offset) for r in failed] == [(first.id, timedelta(minutes=30))]


async def test_switching_to_channel_delivery_sends_one_late_reminder_in_the_group(tmp_path: Path) -> None:
    session = make_occurrence("Soon", START + timedelta(hours=1))
    started = make_occurrence("Started", START + timedelta(minutes=40))
    async with Harness.open(tmp_path, offsets=(timedelta(minutes=30), timedelta(minutes=15))) as h:
        await h.add_occurrences(session, started)
        await h.say("bob", "/subscribe all", chat=h.adapter.dm("bob"))  # no shared chat to fall back on
        h.adapter.unreachable.add("fake:bob")
        await h.advance(timedelta(minutes=50))
        assert h.reminders_to("bob") == []
        # Every offset of Soon has passed and Started has begun: Soon's nearest comes now, once.
        await h.say("bob", "/delivery channel")
        await h.advance(timedelta(minutes=30))
        got = h.reminders_to("bob")
        assert len(got) == 1 and got[0].at == START + timedelta(minutes=50)
        assert got[0].message.text.startswith("bob: ⏰ “Soon” starts at 09:00 GMT, in 10 minutes.")
        assert got[0].message.chat is not None and got[0].message.chat.id == h.adapter.room.id


async def test_reminder_for_a_session_already_started_expires(tmp_path: Path) -> None:
    session = make_occurrence("Missed", START + timedelta(hours=1))
    async with Harness.open(tmp_path, offsets=(timedelta(minutes=1),)) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        # Attempts fail and back off past the start: it expires rather than arriving late.
        h.adapter.fail_next(*[DeliveryFailed("gateway timeout") for _ in range(4)])
        await h.advance(timedelta(hours=2))
        assert h.reminders_to("alice") == []
        expired = await h.app.store.reminders.find(ReminderStatus.EXPIRED)
        assert len(expired) == 1 and expired[0].attempts >= 1


async def test_bot_down_past_the_start_expires_instead_of_sending(tmp_path: Path) -> None:
    session = make_occurrence("While down", START + timedelta(hours=1))
    async with Harness.open(tmp_path) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        h.clock.set(session.start + timedelta(minutes=1))  # no alarms ran: the bot was down
        await h.restart()
        await h.advance(timedelta(seconds=1))
        assert h.reminders_to("alice") == []
        assert (await counts(h))["expired"] == 1


async def test_transient_failures_are_retried_then_given_up(tmp_path: Path) -> None:
    session = make_occurrence("Retry", START + timedelta(days=1))
    async with Harness.open(tmp_path, offsets=(timedelta(hours=12),)) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        await h.say("bob", "/subscribe all")
        h.adapter.fail_next(DeliveryFailed("timeout"), DeliveryFailed("timeout"))
        await h.advance(timedelta(hours=13))
        assert len(h.reminders_to("alice")) + len(h.reminders_to("bob")) == 2
        sent = await h.app.store.reminders.find(ReminderStatus.SENT)
        assert sorted(r.attempts for r in sent)[-1] >= 1
    session2 = make_occurrence("Never", START + timedelta(days=1))
    async with Harness.open(tmp_path / "b", offsets=(timedelta(hours=12),)) as h:
        await h.add_occurrences(session2)
        await h.say("carol", "/subscribe all")
        h.adapter.fail_next(*[DeliveryFailed("timeout") for _ in range(10)])
        await h.advance(timedelta(hours=13))
        failed = await h.app.store.reminders.find(ReminderStatus.FAILED)
        assert len(failed) == 1 and failed[0].attempts == 5 and failed[0].last_error == "timeout"


async def test_quiet_hours_send_just_before_they_begin(tmp_path: Path) -> None:
    # 07:45 GMT session, 9 h offset -> due 22:45, inside quiet hours 22:00-07:00: sent 21:59.
    session = make_occurrence("Early start", datetime(2025, 3, 19, 7, 45, tzinfo=UTC))
    async with Harness.open(tmp_path) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/remind 9h")
        replies = await h.say("alice", "/quiet 22:00-07:00")
        assert "just before 22:00" in replies[0]
        await h.say("alice", "/subscribe all")
        await h.advance(timedelta(days=3))
        assert [r.at for r in h.reminders_to("alice")] == [datetime(2025, 3, 18, 21, 59, tzinfo=UTC)]
        await h.say("alice", "/mine")
        assert "quiet hours 22:00–07:00" in h.adapter.sent[-1].text


async def test_subscribing_after_every_offset_gets_a_starting_soon_reminder(tmp_path: Path) -> None:
    session = make_occurrence("Soon", START + timedelta(minutes=3))
    async with Harness.open(tmp_path) as h:
        await h.add_occurrences(session)
        await h.say("you", "/subscribe all")
        await h.advance(timedelta(seconds=1))
        got = h.reminders_to("you")
        assert len(got) == 1 and "in 3 minutes" in got[0].message.text
        await h.advance(timedelta(minutes=5))
        assert len(h.reminders_to("you")) == 1


async def test_channel_delivery_and_mine(tmp_path: Path) -> None:
    session = make_occurrence("Room session", START + timedelta(hours=2))
    async with Harness.open(tmp_path, offsets=(timedelta(minutes=15),)) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        await h.say("alice", "/delivery channel")
        await h.say("alice", "/mine")
        assert "Reminders come in the chat you subscribed from; no quiet hours." in h.adapter.sent[-1].text
        await h.advance(timedelta(hours=2))
        room = [m for m in h.adapter.in_chat() if m.kind == "reminder"]
        assert len(room) == 1 and room[0].text.startswith("alice: ⏰ “Room session” starts at 10:00 GMT")


async def test_daily_digest_lists_failures_to_digest_chats(tmp_path: Path) -> None:
    session = make_occurrence("Digest", START + timedelta(hours=3))
    async with Harness.open(tmp_path, digest_chats=("fake:organisers",), digest_hour=8,
                            offsets=(timedelta(hours=1),)) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        await h.say("bob", "/subscribe all")
        h.adapter.unreachable.add("fake:bob")
        await h.advance(timedelta(days=1))
        digest = h.adapter.in_chat("fake:organisers")
        assert len(digest) == 1
        # bob's private chat is closed, so his reminder went to the room: sent, and he is named
        assert digest[0].text.startswith("Reminders in the last 24 hours: 2 sent, 0 failed, 0 expired.")
        assert "• fake:bob cannot be reached privately (blocked the bot: fake:bob)" in digest[0].text


async def test_daily_digest_lists_failed_reminders(tmp_path: Path) -> None:
    session = make_occurrence("Digest", START + timedelta(hours=3))
    async with Harness.open(tmp_path, digest_chats=("fake:organisers",), digest_hour=8,
                            offsets=(timedelta(hours=1),)) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        await h.say("bob", "/subscribe all", chat=h.adapter.dm("bob"))
        h.adapter.unreachable.add("fake:bob")
        await h.advance(timedelta(days=1))
        [digest] = h.adapter.in_chat("fake:organisers")
        assert digest.text.startswith("Reminders in the last 24 hours: 1 sent, 1 failed, 0 expired.")
        assert "• fake:bob — “Digest”: recipient unreachable: blocked the bot: fake:bob" in digest.text
        assert "eventbot reminders --status failed" in digest.text


async def test_planning_is_bulk_and_idempotent(tmp_path: Path) -> None:
    sessions = [make_occurrence(f"S{i}", START + timedelta(days=2, hours=i)) for i in range(10)]
    async with Harness.open(tmp_path) as h:
        await h.add_occurrences(*sessions)
        for i in range(50):
            await h.say(f"user{i}", "/subscribe all")
        assert (await counts(h))["pending"] == 1000
        assert await h.reminders.replan_all() == (0, 0, 0)
        await h.say("user0", "/unsubscribe all")
        assert (await counts(h))["pending"] == 980
