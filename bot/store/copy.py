"""``eventbot db copy``: move a whole database to another store (SQLite to PostgreSQL, usually).

Both ends are migrated to the current schema first; the target must be empty. Rows go across table
by table in foreign-key order, in chunks, in one transaction on the target, so a copy that fails
half-way leaves nothing behind. Afterwards every table's row count is compared, and PostgreSQL's
id sequences are moved past the copied ids so that new rows do not collide with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import SystemClock
from bot.errors import BotError
from bot.store import schema
from bot.store.sql import SqlStore, describe_database

CHUNK = 2_000

Progress = Callable[[str, int, int], None]


class CopyRefused(BotError, RuntimeError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"database copy refused: {reason}")


@dataclass(frozen=True, slots=True)
class CopyReport:
    counts: dict[str, int]
    """Rows per table, the same at both ends."""

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def _tables() -> list[sa.Table]:
    return [t for t in schema.metadata.sorted_tables if t is not schema.schema_version]


async def _counts(store: SqlStore) -> dict[str, int]:
    async with store.engine.connect() as conn:
        return {t.name: int(await conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0) for t in _tables()}


async def copy_database(source: Path | str, target: Path | str, progress: Progress | None = None) -> CopyReport:
    """Copy every row of ``source`` into the empty ``target``; raise ``CopyRefused`` if the target
    holds data or the counts differ afterwards."""
    if str(source) == str(target):
        raise CopyRefused("the source and the target are the same database")
    clock = SystemClock()
    src = await SqlStore.open(source, clock)
    try:
        dst = await SqlStore.open(target, clock)
        try:
            if any((await _counts(dst)).values()):
                raise CopyRefused(f"{describe_database(target)} already holds data; copy into an empty database")
            expected = await _counts(src)
            total, done = sum(expected.values()), 0
            async with src.engine.connect() as read, dst.engine.begin() as write:
                for table in _tables():
                    key = list(table.primary_key.columns) or list(table.columns)
                    result = await read.stream(sa.select(table).order_by(*key))
                    async for chunk in result.mappings().partitions(CHUNK):
                        await write.execute(table.insert(), [dict(row) for row in chunk])
                        done += len(chunk)
                        if progress:
                            progress(table.name, done, total)
                await _move_sequences(write)
            copied = await _counts(dst)
        finally:
            await dst.close()
    finally:
        await src.close()
    if copied != expected:
        differ = ", ".join(f"{name} {expected[name]}→{copied[name]}" for name in expected
                           if copied.get(name) != expected[name])
        raise CopyRefused(f"row counts differ after the copy ({differ})")
    return CopyReport(copied)


async def _move_sequences(conn: AsyncConnection) -> None:
    if conn.dialect.name != "postgresql":
        return  # SQLite's autoincrement follows the largest id by itself
    for table in _tables():
        for column in table.primary_key.columns:
            if column.autoincrement is True or (column.autoincrement == "auto" and isinstance(column.type, sa.Integer)
                                               and len(table.primary_key.columns) == 1):
                sequence = await conn.scalar(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                             {"t": table.name, "c": column.name})
                if sequence:
                    await conn.execute(sa.text(
                        f"SELECT setval(:s, COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"),
                        {"s": sequence})
