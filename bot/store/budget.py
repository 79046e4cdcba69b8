"""The shared rate budget in SQL: one row per bucket, taken under a lock, so that processes
sending through one bot account reserve their send slots one at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.schema import rate_slots
from bot.store.upsert import insert_missing

T = TypeVar("T")
b = rate_slots.c


class SqlRateBudget:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def reserve(self, buckets: Sequence[str],
                      decide: Callable[[dict[str, float | None]], tuple[T, dict[str, float]]]) -> T:
        keys = sorted(set(buckets))  # one lock order for everyone: no deadlock between processes
        async with self._engine.begin() as conn:
            await _lock(conn, keys)
            rows = await conn.execute(sa.select(b.bucket, b.next_free).where(b.bucket.in_(keys)))
            result, changes = decide({row[0]: row[1] for row in rows})
            for bucket, next_free in changes.items():
                await conn.execute(rate_slots.update().where(b.bucket == bucket).values(next_free=next_free))
        return result

    async def reserve_block(self, bucket: str, now: float, span: float) -> float:
        async with self._engine.begin() as conn:
            await insert_missing(conn, rate_slots, [{"bucket": bucket, "next_free": None}], ["bucket"])
            start = sa.case((sa.func.coalesce(b.next_free, now) < now, now), else_=sa.func.coalesce(b.next_free, now))
            end = await conn.scalar(rate_slots.update().where(b.bucket == bucket).values(next_free=start + span)
                                    .returning(b.next_free))
        return float(end)

    async def push_back(self, buckets: Sequence[str], until: float) -> None:
        keys = sorted(set(buckets))
        async with self._engine.begin() as conn:
            await _lock(conn, keys)
            await conn.execute(rate_slots.update().where(
                b.bucket.in_(keys), sa.or_(b.next_free.is_(None), b.next_free < until)).values(next_free=until))

    async def clear(self) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(rate_slots.delete())


async def _lock(conn: AsyncConnection, keys: list[str]) -> None:
    """Make sure the buckets' rows exist and hold them until the transaction ends: row locks on
    PostgreSQL; on SQLite the first write takes the database's write lock for the transaction."""
    await insert_missing(conn, rate_slots, [{"bucket": k, "next_free": None} for k in keys], ["bucket"])
    await conn.execute(sa.select(b.bucket).where(b.bucket.in_(keys)).with_for_update())
