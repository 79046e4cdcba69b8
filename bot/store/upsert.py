"""Insert rows unless their key is there already, on either store (the one statement that
SQLAlchemy Core spells per dialect)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_missing(conn: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]],
                         key: Sequence[str]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(postgresql.insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=key))
    else:
        await conn.execute(sqlite.insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=key))
