"""Two bot processes on one database run the scheduled jobs once between them: the one holding
the scheduler lease does, and when it stops or dies the other takes over within a heartbeat."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.fake import FakeAdapter
from bot.alarms import ManualAlarms
from bot.app import App, open_app
from bot.clock import FakeClock
from bot.config import FeedConfig
from bot.ports import WorkerRepository
from bot.store.sql import SqlStore
from bot.workers import SCHEDULER_LEASE, Worker
from tests.conftest import REPO
from tests.fake_feed_server import FakeFeedServer
from tests.harness import START, Harness

SWW = (REPO / "schedules" / "social-work-week-2025.ics").read_bytes()
REFRESH = timedelta(minutes=15)


@pytest.fixture
async def server() -> AsyncIterator[FakeFeedServer]:
    async with FakeFeedServer.start(SWW) as running:
        yield running


@contextlib.asynccontextmanager
async def second_process(h: Harness) -> AsyncIterator[tuple[App, ManualAlarms]]:
    """Another bot process on the same database and clock, with alarms of its own."""
    alarms = ManualAlarms(h.clock)
    async with open_app(h.config, adapters=[FakeAdapter(clock=h.clock)], clock=h.clock, alarms=alarms) as app:
        yield app, alarms


async def advance_both(h: Harness, alarms: ManualAlarms, delta: timedelta) -> None:
    """Time passes for both processes: each runs the alarms that fell due."""
    target = h.clock.now() + delta
    while h.clock.now() < target:
        step = min(target - h.clock.now(), timedelta(minutes=1))
        await h.advance(step)
        await alarms.run_due()


async def test_a_feed_is_refreshed_once_across_two_processes(tmp_path: Path, server: FakeFeedServer) -> None:
    feeds = (FeedConfig(name="sww", source=server.url(), refresh_minutes=15),)
    async with Harness.open(tmp_path, feeds=feeds, allow_private_feeds=FakeFeedServer.ALLOW) as h, \
            second_process(h) as (other, alarms):
        assert h.app.services.worker is not None and h.app.services.worker.leads()
        assert other.services.worker is not None and not other.services.worker.leads()
        await advance_both(h, alarms, timedelta(minutes=1) + 3 * REFRESH)
        assert len(server.requests) == 4  # the first refresh and three more, each fetched once


async def test_the_other_process_takes_over_when_the_leader_stops(tmp_path: Path, server: FakeFeedServer) -> None:
    feeds = (FeedConfig(name="sww", source=server.url(), refresh_minutes=15),)
    async with Harness.open(tmp_path, feeds=feeds, allow_private_feeds=FakeFeedServer.ALLOW) as h, \
            second_process(h) as (other, alarms):
        await advance_both(h, alarms, timedelta(minutes=2))
        assert len(server.requests) == 1
        leader = h.app.services.worker
        follower = other.services.worker
        assert leader is not None and follower is not None
        await leader.stop()  # a clean stop gives the lease up at once
        assert not leader.leads()
        await follower.beat()  # its next heartbeat takes the lease
        assert follower.leads()
        await alarms.advance(REFRESH)  # only the second process's alarms run now
        assert len(server.requests) == 2


async def test_the_other_process_takes_over_when_the_leader_dies(tmp_path: Path, server: FakeFeedServer) -> None:
    feeds = (FeedConfig(name="sww", source=server.url(), refresh_minutes=15),)
    async with Harness.open(tmp_path, feeds=feeds, allow_private_feeds=FakeFeedServer.ALLOW) as h, \
            second_process(h) as (other, alarms):
        leader, follower = h.app.services.worker, other.services.worker
        assert leader is not None and follower is not None
        await follower.beat()
        assert not follower.leads()  # the leader's lease is current
        # The leader's process dies: no more heartbeats. Three missed beats later the lease
        # is the follower's.
        h.clock.advance(timedelta(seconds=leader.stale_after + 1))
        await follower.beat()
        assert follower.leads()
        await alarms.advance(timedelta(minutes=1))
        assert len(server.requests) == 1


async def test_a_poll_closing_on_its_timer_is_announced_once(tmp_path: Path) -> None:
    from bot.live.polls import close_job
    from tests.live.conftest import go_live

    async with Harness.open(tmp_path) as h:
        await go_live(h)
        await h.say("fac", '/poll "Lunch?" Yes No --close 5m')
        await h.say("alice", "/vote 1")
        # The second process starts now: it rebuilds the poll's closing alarm from the store.
        async with second_process(h) as (other, alarms):
            assert alarms.scheduled(close_job(1)) is not None
            h.adapter.clear()
            await advance_both(h, alarms, timedelta(minutes=6))
            second_adapter = other.services.messenger.adapters[0]
            assert isinstance(second_adapter, FakeAdapter)
            finals = [m for m in [*h.adapter.sent, *second_adapter.sent] if "Final results" in m.text]
            assert len(finals) == 1


class _Flaky:
    """The workers' table, reachable or not (a database lost for a while)."""

    def __init__(self, repo: WorkerRepository) -> None:
        self.repo = repo
        self.down = False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.repo, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise ConnectionError("the database is unreachable")
            return await method(*args, **kwargs)

        return call


async def test_a_leader_whose_heartbeats_fail_hears_it_leads_no_more_before_the_lease_can_pass(
        database: Path | str, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(START)
    store = await SqlStore.open(database, clock)
    elapsed = [0.0]  # this process's monotonic time, moved by hand
    repo = _Flaky(store.workers)
    worker = Worker(repo, clock, heartbeat_seconds=2, monotonic=lambda: elapsed[0])  # type: ignore[arg-type]
    heard: list[bool] = []
    try:
        await worker.register()
        await worker.hold_scheduler()
        unwatch = worker.watch_lead(heard.append)
        await worker.beat()
        assert heard == [True]
        repo.down = True
        for _ in range(2):  # two heartbeats that renew nothing
            elapsed[0] += worker.period
            clock.advance(timedelta(seconds=worker.period))
            await worker.beat()
        assert heard == [True, True, False]
        assert "worker heartbeat failed" in caplog.text
        # The lease is still this worker's on the database: nobody else could have taken it yet.
        assert await store.workers.lease_holder(SCHEDULER_LEASE) == worker.id
        other = await store.workers.register("elsewhere", 1, "", int(clock.now().timestamp()))
        assert not await store.workers.hold_lease(SCHEDULER_LEASE, other, int(clock.now().timestamp()),
                                                  worker.stale_after)
        repo.down = False
        await worker.beat()
        assert heard[-1] is True
        unwatch()
        await worker.stop()
        assert heard[-1] is True  # no longer watched
    finally:
        await worker.stop()
        await store.close()
