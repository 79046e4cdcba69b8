"""Adapter state in SQL: a key and a value per adapter, upserted portably."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.schema import adapter_state

c = adapter_state.c


class SqlAdapterState:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get_state(self, adapter: str, key: str) -> str | None:
        async with self._engine.connect() as conn:
            value = await conn.scalar(sa.select(c.value).where(c.adapter == adapter, c.key == key))
        return None if value is None else str(value)

    async def set_state(self, adapter: str, key: str, value: str) -> None:
        for _attempt in range(2):
            async with self._engine.begin() as conn:
                updated = await conn.execute(adapter_state.update().where(c.adapter == adapter, c.key == key)
                                             .values(value=value))
                if updated.rowcount:
                    return
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(adapter_state.insert().values(adapter=adapter, key=key, value=value))
                return
            except IntegrityError:  # another process made the row first: update it instead
                continue

    async def delete_state(self, adapter: str, key: str) -> bool:
        async with self._engine.begin() as conn:
            deleted = await conn.execute(adapter_state.delete().where(c.adapter == adapter, c.key == key))
        return bool(deleted.rowcount)
