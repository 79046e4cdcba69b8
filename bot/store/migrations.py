"""Numbered schema migrations, tracked in ``schema_version``.

Each migration runs once, in order, inside one transaction. A migration creates the tables
it introduces (``create_tables``); a later change to an existing table gets a migration of
its own that alters it only where needed (``add_column``), so that a new database, which
gets every table from its current definition, and an old one converge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.store import schema


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def create_tables(*tables: sa.Table) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        schema.metadata.create_all(conn, tables=list(tables), checkfirst=True)

    return apply


def steps(*parts: Callable[[Connection], None]) -> Callable[[Connection], None]:
    """Several changes as one migration, in order."""

    def apply(conn: Connection) -> None:
        for part in parts:
            part(conn)

    return apply


def add_column(table: sa.Table, column_name: str) -> Callable[[Connection], None]:
    """Add a column that the table's current definition has, if the database lacks it."""

    def apply(conn: Connection) -> None:
        existing = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
        if column_name in existing:
            return
        column = table.c[column_name]
        ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))

    return apply


def add_columns(table: sa.Table, *column_names: str) -> Callable[[Connection], None]:
    """``add_column`` for several columns of one table."""
    steps = [add_column(table, name) for name in column_names]

    def apply(conn: Connection) -> None:
        for step in steps:
            step(conn)

    return apply


def reindex(table: sa.Table, *, create: tuple[str, ...] = (), drop: tuple[str, ...] = (),
            ) -> Callable[[Connection], None]:
    """Create indexes that the table's current definition has and drop ones it no longer has,
    where the database differs."""

    def apply(conn: Connection) -> None:
        existing = {ix["name"] for ix in sa.inspect(conn).get_indexes(table.name)}
        for name in create:
            if name not in existing:
                next(ix for ix in table.indexes if ix.name == name).create(conn)
        for name in drop:
            if name in existing:
                conn.execute(sa.text(f"DROP INDEX {conn.dialect.identifier_preparer.quote(name)}"))

    return apply


def widen_to_bigint(table: sa.Table, column_name: str) -> Callable[[Connection], None]:
    """Make an integer column 64-bit where the database gave it 32 (PostgreSQL's int4 ends in 2038;
    SQLite's integers are 64-bit already)."""

    def apply(conn: Connection) -> None:
        if conn.dialect.name == "sqlite":
            return
        column = conn.dialect.identifier_preparer.quote(column_name)
        conn.execute(sa.text(f"ALTER TABLE {table.name} ALTER COLUMN {column} TYPE BIGINT"))

    return apply


MIGRATIONS: list[Migration] = [
    Migration(1, "core", create_tables(
        schema.calendars, schema.series, schema.occurrences,
        schema.users, schema.subscriptions, schema.facilitators,
    )),
    Migration(2, "reminders", create_tables(
        schema.reminders, schema.reminder_unreachable, schema.reminder_meta,
    )),
    Migration(4, "live sessions", create_tables(
        schema.live_bindings, schema.live_sessions, schema.polls, schema.poll_votes,
        schema.questions, schema.question_upvotes, schema.checkins,
    )),
    Migration(5, "reminder claims by id", reindex(
        schema.reminders, create=("ix_reminders_status_id",), drop=("ix_reminders_claim",),
    )),
    Migration(6, "chat settings", create_tables(schema.chats)),
    Migration(8, "workers: claims belong to a live process", steps(
        create_tables(schema.workers), add_column(schema.reminders, "claimed_by"),
    )),
    Migration(10, "held feed refreshes", add_columns(
        schema.calendars, "held_since", "held_cancels", "held_upcoming", "held_hash",
    )),
    Migration(14, "chat times past 2038", widen_to_bigint(schema.chats, "updated_ts")),
    Migration(15, "a rate budget shared by every process", create_tables(schema.rate_slots)),
]


def pending(applied: set[int]) -> list[Migration]:
    versions = [m.version for m in MIGRATIONS]
    if len(versions) != len(set(versions)):
        raise RuntimeError("two migrations share a version number")
    return sorted((m for m in MIGRATIONS if m.version not in applied), key=lambda m: m.version)
