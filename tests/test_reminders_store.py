"""The outbox's SQL: the claim path's statements stay index lookups however large the backlog,
and migration 5 brings an older database's indexes to the current definition."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import FakeClock
from bot.models import ReminderStatus
from bot.ports import PlannedReminder, ReminderOutcome
from bot.store import schema
from bot.store.sql import SqlStore
from tests.databases import PostgresServer
from tests.harness import START


def planned(n: int, due: int) -> list[PlannedReminder]:
    return [PlannedReminder(f"fake:user{i}", "o00001", 3600, "fake", due + 3600, due + i % 50)
            for i in range(n)]


async def query_plan(conn: AsyncConnection, statement: str, parameters: Any) -> list[str]:
    """The plan's steps in the dialect's words. PostgreSQL is asked to avoid sequential scans,
    so a scan that remains means no index can serve the statement (the table is small here, and a
    planner left alone would rightly scan it)."""
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SET enable_seqscan = off")
        rows = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        return [row[0].strip().lstrip("-> ") for row in rows]
    rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
    return [row[3] for row in rows]


def walks_the_pending_set(plan: list[str], statement: str, parameters: Any) -> bool:
    """A step that reads the whole table, or every pending reminder through the status index.
    (Reading rows being sent by status alone is fine: they are the batches in flight.)"""
    where = statement.find(" WHERE ")
    # Only what the statement looks for counts, not a status it sets.
    before = len(re.findall(r"\?|\$\d+", statement[:where])) if where >= 0 else 0
    looked_for = tuple(parameters)[before:]
    pending = "pending" in looked_for
    return any(step.startswith(("SCAN reminders", "Seq Scan on reminders"))
               or (pending and (step.endswith("(status=?)")  # SQLite: by status alone
                                or (step.startswith("Index Cond:") and "'pending'" in step
                                    and " AND " not in step)))  # PostgreSQL: likewise
               for step in plan)


async def test_claim_and_record_look_rows_up_by_index(backend: Path | str) -> None:
    store = await SqlStore.open(backend, FakeClock(START))
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
                plan = await query_plan(conn, statement, parameters)
                assert not walks_the_pending_set(plan, statement, parameters), (statement, plan)
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def migrated_again(db: Path | str, version: int, *undo: str) -> AsyncIterator[SqlStore]:
    """The store opened again after ``undo`` took a database back to before migration ``version``
    (which the opening applies anew)."""
    clock = FakeClock(START)
    store = await SqlStore.open(db, clock)
    async with store.engine.begin() as conn:
        for statement in undo:
            await conn.exec_driver_sql(statement)
        await conn.exec_driver_sql(f"DELETE FROM schema_version WHERE version = {version}")
    await store.close()
    store = await SqlStore.open(db, clock)
    try:
        assert await store.schema_version() >= version
        yield store
    finally:
        await store.close()


async def test_migration_5_reindexes_an_older_outbox(backend: Path | str) -> None:
    # The outbox as migration 2 first created it.
    async with migrated_again(backend, 5, "DROP INDEX ix_reminders_status_id",
                              "CREATE INDEX ix_reminders_claim ON reminders (claim)") as store:
        async with store.engine.connect() as conn:
            names = await conn.run_sync(lambda c: {ix["name"] for ix in sa.inspect(c).get_indexes("reminders")})
        assert "ix_reminders_status_id" in names and "ix_reminders_claim" not in names


async def test_migration_25_orders_an_older_outbox_by_id_among_equals(backend: Path | str) -> None:
    # The index as it was before.
    async with migrated_again(backend, 25, "DROP INDEX ix_reminders_status_ready_id",
                              "CREATE INDEX ix_reminders_status_ready ON reminders (status, ready_ts)") as store:
        async with store.engine.connect() as conn:
            found = await conn.run_sync(lambda c: {ix["name"]: ix["column_names"]
                                                   for ix in sa.inspect(c).get_indexes("reminders")})
        assert found["ix_reminders_status_ready_id"] == ["status", "ready_ts", "id"]
        assert "ix_reminders_status_ready" not in found


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
async def test_migration_14_keeps_chat_times_past_2038(backend: Path | str) -> None:
    clock = FakeClock(START)
    store = await SqlStore.open(backend, clock)
    async with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # the int4 column migration 6 first created
            await conn.exec_driver_sql("ALTER TABLE chats ALTER COLUMN updated_ts TYPE INTEGER")
        await conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 14")
    await store.close()

    store = await SqlStore.open(backend, clock)
    try:
        after_2038 = 2**31 + 86_400
        async with store.engine.begin() as conn:
            await conn.execute(schema.chats.insert().values(chat_id="fake:room", language="cy",
                                                            updated_ts=after_2038))
            assert await conn.scalar(sa.select(schema.chats.c.updated_ts)) == after_2038
        assert await store.schema_version() >= 14
    finally:
        await store.close()


async def test_a_claim_skips_rows_another_process_is_claiming(postgres: PostgresServer) -> None:
    # Process A is in the middle of claiming the first 100 rows (its transaction holds them);
    # process B's claim takes the next 100 at once, instead of waiting behind A and finding none.
    store = await SqlStore.open(postgres.database(), FakeClock(START))
    other = await SqlStore.open(store.engine.url.render_as_string(hide_password=False), FakeClock(START))
    try:
        due = int(START.timestamp())
        await store.reminders.apply_plan(now=due, inserts=planned(300, due), updates=[], deletes=[])
        r = schema.reminders.c
        async with store.engine.begin() as a:
            held = (await a.execute(sa.select(r.id).order_by(r.ready_ts, r.id).limit(100)
                                    .with_for_update())).scalars().all()
            b = await asyncio.wait_for(other.reminders.claim("b", due + 60, {"fake": due + 60}, 100), 30)
        assert len(b) == 100 and not {x.id for x in b} & set(held)
    finally:
        await other.close()
        await store.close()


async def test_a_dead_workers_batch_is_claimed_first_among_reminders_due_with_it(backend: Path | str) -> None:
    # A fan-out: 300 reminders ready at one instant. A worker claims 100 and dies. Once its claims
    # are returned, the next claim takes them (they were planned first), not whichever pending
    # rows the database happens to return first among equals (PostgreSQL: the ones not moved by
    # an update), which would leave the dead worker's people until the end of the fan-out.
    store = await SqlStore.open(backend, FakeClock(START))
    try:
        repo = store.reminders
        due = int(START.timestamp())
        await repo.apply_plan(now=due, inserts=[PlannedReminder(f"fake:user{i}", "o00001", 3600, "fake", due + 3600,
                                                                due) for i in range(300)],
                              updates=[], deletes=[])
        dead = await store.workers.register("host", 1, "", due)
        lost = await repo.claim("dead", due, {"fake": due}, 100, worker=dead)
        assert [r.id for r in lost] == sorted(r.id for r in lost)
        assert await repo.release_stale(due - 120, due + 10, silent_since=due + 4) == 100
        taken = await repo.claim("next", due + 10, {"fake": due + 10}, 100)
        assert [r.id for r in taken] == [r.id for r in lost]
    finally:
        await store.close()
