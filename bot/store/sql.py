"""The SQL store: SQLAlchemy Core (async) over aiosqlite, with numbered migrations.

Only portable Core constructs are used, so a PostgreSQL URL would work without touching the
repositories; the SQLite-specific tuning (WAL, busy timeout) is applied on connect.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.ports import Clock
from bot.store import schema
from bot.store.calendars import SqlCalendarRepository
from bot.store.live import SqlLiveRepository
from bot.store.migrations import pending
from bot.store.people import SqlPeopleRepository
from bot.store.reminders import SqlReminderRepository
from bot.store.workers import SqlWorkerRepository

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


def sqlite_url(path: Path | str) -> str:
    return f"sqlite+aiosqlite:///{Path(path)}"


class SqlStore:
    """``ports.Store`` on SQLAlchemy. Open with ``await SqlStore.open(url_or_path, clock)``."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.calendars = SqlCalendarRepository(engine)
        self.people = SqlPeopleRepository(engine)
        self.reminders = SqlReminderRepository(engine)
        self.live = SqlLiveRepository(engine)
        self.workers = SqlWorkerRepository(engine)

    @classmethod
    async def open(cls, target: Path | str, clock: Clock) -> SqlStore:
        """Open (creating if needed) and migrate the database.

        ``target`` is a SQLAlchemy URL or a path to a SQLite file.
        """
        url = str(target) if "://" in str(target) else sqlite_url(target)
        if url.startswith("sqlite"):
            db_path = url.split("///", 1)[-1]
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        # aiosqlite logs every statement with its parameters at DEBUG: people's ids beside the
        # keys of their anonymous votes and questions. Not even -vv writes that down.
        logging.getLogger("aiosqlite").setLevel(logging.INFO)
        engine = create_async_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _tune_sqlite)
        store = cls(engine, clock)
        await store.migrate()
        return store

    async def migrate(self) -> list[int]:
        """Apply pending migrations; return the versions applied."""
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda c: schema.schema_version.create(c, checkfirst=True))
            rows = await conn.execute(sa.select(schema.schema_version.c.version))
            applied = {r[0] for r in rows}
            done = []
            for migration in pending(applied):
                await conn.run_sync(migration.apply)
                await conn.execute(schema.schema_version.insert().values(
                    version=migration.version, name=migration.name,
                    applied_at=int(self.clock.now().timestamp())))
                done.append(migration.version)
        if done:
            log.info("applied migrations %s", done)
        return done

    async def schema_version(self) -> int:
        async with self.engine.connect() as conn:
            value = await conn.scalar(sa.select(sa.func.max(schema.schema_version.c.version)))
        return int(value or 0)

    async def close(self) -> None:
        await self.engine.dispose()


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted and overwritten bytes are zeroed, so an erased salt or key leaves no trace in
    # free space (bot.store.anonymity).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
