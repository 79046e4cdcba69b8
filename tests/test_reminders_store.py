"""The outbox's SQL: the claim path's statements stay index lookups however large the backlog,
and migration 5 brings an older database's indexes to the current definition."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from bot.clock import FakeClock
from bot.models import ReminderStatus
from bot.ports import PlannedReminder, ReminderOutcome
from bot.store.sql import SqlStore
from tests.harness import START


def planned(n: int, due: int) -> list[PlannedReminder]:
    return [PlannedReminder(f"fake:user{i}", "o00001", 3600, "fake", due + 3600, due + i % 50)
            for i in range(n)]


def walks_the_pending_set(plan: list[str], statement: str, parameters: Any) -> bool:
    """A step that reads the whole table, or every pending reminder through the status index.
    (Reading rows being sent by status alone is fine: they are the batches in flight.)"""
    where = statement.find(" WHERE ")
    # Only what the statement looks for counts, not a status it sets.
    looked_for = tuple(parameters)[statement[:where].count("?"):] if where >= 0 else tuple(parameters)
    return any(step.startswith("SCAN reminders")
               or (step.endswith("(status=?)") and "pending" in looked_for) for step in plan)


async def test_claim_and_record_look_rows_up_by_index(tmp_path: Path) -> None:
    store = await SqlStore.open(tmp_path / "bot.db", FakeClock(START))
    try:
        repo = store.reminders
        due = int(START.timestamp())
        await repo.apply_plan(now=due, inserts=planned(3000, due), updates=[], deletes=[])
        seen: list[tuple[str, Any]] = []

        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                    executemany: bool) -> None:
            if not executemany and statement.lstrip().upper().startswith(("UPDATE", "SELECT")):
                seen.append((statement, parameters))

        event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
        try:
            worker = await store.workers.register("host", 1, "", due)
            batch = await repo.claim("token", due + 60, {"fake": due + 60}, 100, worker=worker)
            await repo.renew("token", due + 61)
            # Every few seconds of a drain, and for every alarm: which claims are stale.
            assert await repo.release_stale(due - 60, due + 61, silent_since=due - 5, keep=worker + 1) == 0
            assert await repo.next_reclaim(lease=120, stale_after=6, keep=worker + 1) == due + 6
            await repo.record("token", due + 62, [
                ReminderOutcome(id=r.id, status=ReminderStatus.SENT, attempts=0, ready_ts=int(r.ready.timestamp()),
                                sent_ts=due + 62) for r in batch])
            await repo.ready_counts(due + 600, platform="fake", limit=200)
        finally:
            event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
        assert len(batch) == 100
        assert (await repo.counts())["sent"] == 100
        async with store.engine.connect() as conn:
            for statement, parameters in seen:
                rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                plan = [row[3] for row in rows]
                assert not walks_the_pending_set(plan, statement, parameters), (statement, plan)
    finally:
        await store.close()


async def test_migration_5_reindexes_an_older_outbox(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    clock = FakeClock(START)
    store = await SqlStore.open(db, clock)
    async with store.engine.begin() as conn:
        # The outbox as migration 2 first created it.
        await conn.exec_driver_sql("DROP INDEX ix_reminders_status_id")
        await conn.exec_driver_sql("CREATE INDEX ix_reminders_claim ON reminders (claim)")
        await conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 5")
    await store.close()

    clock.advance(timedelta(minutes=1))
    store = await SqlStore.open(db, clock)
    try:
        async with store.engine.connect() as conn:
            names = await conn.run_sync(lambda c: {ix["name"] for ix in sa.inspect(c).get_indexes("reminders")})
        assert "ix_reminders_status_id" in names and "ix_reminders_claim" not in names
        assert await store.schema_version() >= 5
    finally:
        await store.close()


async def test_migration_7_lets_an_older_outbox_hold_change_notices(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    clock = FakeClock(START)
    store = await SqlStore.open(db, clock)
    due = int(START.timestamp())
    await store.reminders.apply_plan(now=due, inserts=planned(3, due), updates=[], deletes=[])
    async with store.engine.begin() as conn:
        # The outbox as it was before notices shared it.
        await conn.exec_driver_sql("ALTER TABLE reminders DROP COLUMN kind")
        await conn.exec_driver_sql("ALTER TABLE reminders DROP COLUMN detail")
        await conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 7")
    await store.close()

    store = await SqlStore.open(db, clock)
    try:
        assert await store.schema_version() >= 7
        # The reminders already waiting are reminders still, planned and claimed as before.
        assert len(await store.reminders.planned(after=due)) == 3
        claimed = await store.reminders.claim("token", due + 3600, {"fake": due + 3600}, 10)
        assert len(claimed) == 3 and all(r.notice is None for r in claimed)
    finally:
        await store.close()
