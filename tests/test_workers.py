"""Claims belong to a live process: what a dead worker claimed goes back to pending as soon as
it is known dead (at once for this host's previous incarnation, after three missed heartbeats
for anyone else), never only when the lease runs out; a worker that may be alive keeps its
claims. Driven through the fake adapter and the fake clock."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from bot.clock import FakeClock
from bot.ports import WorkerInfo
from bot.store.sql import SqlStore
from bot.workers import ProcessIdentity, Worker
from tests.harness import START, Harness, make_occurrence
from tests.test_reminders import counts, subscribe_many
from tests.test_reminders_store import migrated_again

LEASE = 120
HEARTBEAT = 2


def reminded(h: Harness) -> Counter[str]:
    return Counter(r.message.user.id for r in h.adapter.records
                   if r.message.kind == "reminder" and r.message.user is not None)


def finished_pid() -> int:
    """The pid of a process of this host that has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                           check=True, text=True)
    return int(child.stdout)


async def claim_for(h: Harness, worker: Worker, n: int) -> None:
    now = int(h.clock.now().timestamp())
    claimed = await h.app.store.reminders.claim(f"worker-{worker.id}", now, {"fake": now}, n, worker=worker.id)
    assert len(claimed) == n


async def test_a_silent_worker_elsewhere_loses_its_claims_after_three_missed_heartbeats(tmp_path: Path) -> None:
    session = make_occurrence("Safeguarding update", START + timedelta(hours=2))
    async with Harness.open(tmp_path, reminder_lease_seconds=LEASE, worker_heartbeat_seconds=HEARTBEAT) as h:
        await h.add_occurrences(session)
        await subscribe_many(h, 30)
        due = session.start - timedelta(minutes=15)
        h.clock.set(due)
        # Another process, on another machine, claims a batch.
        other = Worker(h.app.store.workers, h.clock, heartbeat_seconds=HEARTBEAT,
                       identity=ProcessIdentity("elsewhere", 4242, ""))
        await other.register()
        await claim_for(h, other, 10)

        # While it beats, its claims are its own; this process sends the rest.
        for _ in range(3):
            await h.advance(timedelta(seconds=HEARTBEAT))
            await other.beat()
        assert (await counts(h))["sending"] == 10
        assert len(reminded(h)) == 20

        # It falls silent (killed): three heartbeats later its batch goes out from here.
        last_beat = h.clock.now()
        await h.advance(timedelta(seconds=HEARTBEAT * 3 + 1))
        got = reminded(h)
        assert len(got) == 30 and set(got.values()) == {1}
        assert max(r.at for r in h.adapter.records) == last_beat + timedelta(seconds=HEARTBEAT * 3 + 1)
        assert (await counts(h))["sent"] == 30


async def test_on_restart_the_claims_of_this_hosts_previous_incarnation_come_back_at_once(
        tmp_path: Path) -> None:
    session = make_occurrence("Safeguarding update", START + timedelta(hours=2))
    async with Harness.open(tmp_path, reminder_lease_seconds=LEASE, worker_heartbeat_seconds=HEARTBEAT) as h:
        await h.add_occurrences(session)
        await subscribe_many(h, 30)
        due = session.start - timedelta(minutes=15)
        h.clock.set(due)
        # The process before this one, on this host, claimed a batch and was SIGKILLed.
        me = ProcessIdentity.current()
        before = Worker(h.app.store.workers, h.clock, identity=ProcessIdentity(
            me.host, finished_pid(), me.process_start.partition("/")[0] + "/1"))
        await before.register()
        await claim_for(h, before, 10)

        await h.restart()
        await h.advance(timedelta(0))
        got = reminded(h)
        assert len(got) == 30 and set(got.values()) == {1}
        assert {r.at for r in h.adapter.records} == {due}
        assert [w.id for w in await h.app.store.workers.workers()] == [h.app.services.worker.id]  # type: ignore[union-attr]


async def test_on_restart_a_worker_that_may_be_alive_keeps_its_claims(tmp_path: Path) -> None:
    session = make_occurrence("Safeguarding update", START + timedelta(hours=2))
    async with Harness.open(tmp_path, reminder_lease_seconds=LEASE, worker_heartbeat_seconds=HEARTBEAT) as h:
        await h.add_occurrences(session)
        await subscribe_many(h, 30)
        h.clock.set(session.start - timedelta(minutes=15))
        # A process still running on this host (the one that started the tests), beating.
        alive = Worker(h.app.store.workers, h.clock, identity=ProcessIdentity.of(os.getppid()))
        await alive.register()
        await claim_for(h, alive, 10)

        await h.restart()
        await h.advance(timedelta(seconds=1))
        assert (await counts(h))["sending"] == 10
        assert len(reminded(h)) == 20
        assert alive.id in {w.id for w in await h.app.store.workers.workers()}


async def test_a_clean_stop_leaves_no_worker_and_a_worker_taken_for_dead_registers_again(
        tmp_path: Path) -> None:
    async with Harness.open(tmp_path, worker_heartbeat_seconds=HEARTBEAT) as h:
        worker = h.app.services.worker
        assert worker is not None and worker.id is not None
        first = worker.id
        # Its event loop froze for longer than three heartbeats, and another process forgot it.
        await h.app.store.workers.forget([first])
        await worker.beat()
        assert worker.id is not None and worker.id != first
        assert [w.id for w in await h.app.store.workers.workers()] == [worker.id]
    store = await SqlStore.open(tmp_path / "bot.db", FakeClock(START))
    try:
        assert await store.workers.workers() == []
    finally:
        await store.close()


def test_only_a_process_of_this_host_known_to_have_ended_is_taken_for_gone() -> None:
    me = ProcessIdentity.current()

    def worker(identity: ProcessIdentity) -> WorkerInfo:
        return WorkerInfo(id=1, host=identity.host, pid=identity.pid, process_start=identity.process_start,
                          started_ts=0, heartbeat_ts=0)

    assert not me.is_gone(worker(me))
    assert not me.is_gone(worker(ProcessIdentity.of(os.getppid())))
    assert not me.is_gone(worker(ProcessIdentity("elsewhere", finished_pid(), "")))
    assert me.is_gone(worker(ProcessIdentity(me.host, finished_pid(), me.process_start)))
    if me.process_start:
        boot, _sep, ticks = me.process_start.partition("/")
        # Same pid, but not the process that registered: a pid handed on, or an earlier boot.
        assert me.is_gone(worker(ProcessIdentity(me.host, me.pid, f"{boot}/{int(ticks) - 1}")))
        assert me.is_gone(worker(ProcessIdentity(me.host, me.pid, f"another-boot/{ticks}")))


async def test_migration_8_gives_an_older_outbox_workers(tmp_path: Path) -> None:
    # The database as migration 6 left it.
    async with migrated_again(tmp_path / "bot.db", 8, "DROP TABLE workers",
                              "ALTER TABLE reminders DROP COLUMN claimed_by") as store:
        async with store.engine.connect() as conn:
            columns = await conn.run_sync(lambda c: {col["name"] for col in sa.inspect(c).get_columns("reminders")})
        assert "claimed_by" in columns
        assert await store.workers.register("host", 1, "", 0) > 0
