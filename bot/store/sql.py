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

from bot.errors import StoreUnavailable
from bot.ports import Clock
from bot.store import schema
from bot.store.adapter_state import SqlAdapterState
from bot.store.batching import WriteGate
from bot.store.budget import SqlRateBudget
from bot.store.calendars import SqlCalendarRepository
from bot.store.certificates import SqlCertificateRepository
from bot.store.links import SqlLinkRepository
from bot.store.live import SqlLiveRepository
from bot.store.migrations import pending
from bot.store.people import SqlPeopleRepository
from bot.store.reminders import SqlReminderRepository
from bot.store.workers import SqlWorkerRepository

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


#: The extra that installs each dialect's async driver, for the one-line error when it is missing.
DRIVER_EXTRAS = {"postgresql": "postgres"}
#: A URL that names no driver gets the asyncio one (``postgresql://`` means ``postgresql+asyncpg://``).
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg",
                 "postgres": "postgresql+asyncpg"}


def sqlite_url(path: Path | str) -> str:
    return f"sqlite+aiosqlite:///{Path(path)}"


def database_url(target: Path | str) -> str:
    """A SQLAlchemy URL for ``target``: a URL as it is, anything else a path to a SQLite file."""
    return str(target) if "://" in str(target) else sqlite_url(target)


def describe_database(target: Path | str) -> str:
    """``target`` fit for a log line or a message: a URL's password is never shown."""
    if "://" not in str(target):
        return str(target)
    try:
        return sa.engine.make_url(str(target)).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return str(target).partition("://")[0] + "://…"


def create_engine(target: Path | str) -> AsyncEngine:
    """An engine for ``target``, or ``StoreUnavailable`` in one line naming what to install."""
    url = database_url(target)
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreUnavailable(f"{describe_database(target)} is not a database URL or a file path") from exc
    parsed = parsed.set(drivername=ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername))
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_async_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite")
    except sa.exc.NoSuchModuleError as exc:
        raise StoreUnavailable(f"no database dialect {parsed.drivername!r} "
                               "(use sqlite:///PATH or postgresql+asyncpg://…)") from exc
    except ImportError as exc:
        extra = DRIVER_EXTRAS.get(parsed.get_backend_name())
        hint = f": install eventbot[{extra}]" if extra else ""
        raise StoreUnavailable(f"the {parsed.get_driver_name()} driver is not installed{hint}") from exc
    except sa.exc.InvalidRequestError as exc:  # a driver that is installed but not asyncio
        raise StoreUnavailable(f"{parsed.drivername} is not an asyncio driver "
                               "(use postgresql+asyncpg://…)") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
    return engine


class SqlStore:
    """``ports.Store`` on SQLAlchemy. Open with ``await SqlStore.open(url_or_path, clock)``."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.calendars = SqlCalendarRepository(engine)
        # Votes and newcomers' names, the writes a crowd makes at once, take turns.
        gate = WriteGate(engine)
        self.people = SqlPeopleRepository(engine, gate)
        self.links = SqlLinkRepository(engine)
        self.reminders = SqlReminderRepository(engine)
        self.live = SqlLiveRepository(engine, gate)
        self.workers = SqlWorkerRepository(engine)
        self.rate_budget = SqlRateBudget(engine)
        self.adapter_state = SqlAdapterState(engine)
        self.certificates = SqlCertificateRepository(engine)

    @classmethod
    async def open(cls, target: Path | str, clock: Clock) -> SqlStore:
        """Open (creating if needed) and migrate the database.

        ``target`` is a SQLAlchemy URL or a path to a SQLite file.
        """
        # aiosqlite logs every statement with its parameters at DEBUG: people's ids beside the
        # keys of their anonymous votes and questions. Not even -vv writes that down.
        logging.getLogger("aiosqlite").setLevel(logging.INFO)
        store = cls(create_engine(target), clock)
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

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.scalar(sa.select(1))

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
