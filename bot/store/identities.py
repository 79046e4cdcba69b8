"""Linked accounts in SQL: who a person is, and which accounts are theirs.

Rows stay keyed by the account that wrote them; these helpers let a query gather a person's
rows (``accounts``) or name each row's person (``person_of_column``), in the same connection
as the rest of the query, so whatever another process linked or unlinked a moment ago counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import identity_links

links = identity_links.c


def person_of_column(column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """The person an account column belongs to: its link's person, else the account itself."""
    linked = sa.select(links.person).where(links.identity == column).scalar_subquery()
    return sa.func.coalesce(linked, column)


async def person_of(conn: AsyncConnection, account: str) -> str:
    person = await conn.scalar(sa.select(links.person).where(links.identity == account))
    return person or account


async def accounts(conn: AsyncConnection, account: str) -> list[str]:
    """Every account of ``account``'s person, the person's own id first, the rest as linked."""
    person = await person_of(conn, account)
    others = await conn.execute(sa.select(links.identity).where(links.person == person)
                                .order_by(links.linked_at, links.identity))
    return [person, *(row[0] for row in others)]


async def groups(conn: AsyncConnection, persons: Sequence[str] | None = None) -> dict[str, tuple[str, ...]]:
    """The accounts of every person with linked ones (of ``persons``, or of everyone), the
    person's own id first; a person with no links is left out."""
    query = sa.select(links.person, links.identity).order_by(links.person, links.linked_at, links.identity)
    found: dict[str, list[str]] = {}
    chunks = [None] if persons is None else [list(persons)[i:i + 500] for i in range(0, len(persons), 500)]
    for chunk in chunks:
        scoped = query if chunk is None else query.where(links.person.in_(chunk))
        for person, identity in await conn.execute(scoped):
            found.setdefault(person, [person]).append(identity)
    return {person: tuple(ids) for person, ids in found.items()}
