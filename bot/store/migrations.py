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


def add_column(table: sa.Table, *column_names: str) -> Callable[[Connection], None]:
    """Add columns that the table's current definition has, where the database lacks them."""

    def apply(conn: Connection) -> None:
        existing = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
        for column_name in column_names:
            if column_name in existing:
                continue
            column = table.c[column_name]
            ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))

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


def allow_null(table: sa.Table, column_name: str) -> Callable[[Connection], None]:
    """Drop a column's NOT NULL, where the database still has it. SQLite cannot alter a
    column, so there the table is rebuilt from its current definition (it must have no
    indexes or foreign keys of its own beyond the primary key)."""

    def apply(conn: Connection) -> None:
        columns = {c["name"]: c for c in sa.inspect(conn).get_columns(table.name)}
        if columns[column_name]["nullable"]:
            return
        if conn.dialect.name != "sqlite":
            conn.execute(sa.text(f"ALTER TABLE {table.name} ALTER COLUMN {column_name} DROP NOT NULL"))
            return
        old = f"{table.name}_before_rebuild"
        conn.execute(sa.text(f"ALTER TABLE {table.name} RENAME TO {old}"))
        table.create(conn)
        names = ", ".join(c.name for c in table.c if c.name in columns)
        conn.execute(sa.text(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {old}"))
        conn.execute(sa.text(f"DROP TABLE {old}"))

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
    Migration(7, "change notices in the outbox", add_column(schema.reminders, "kind", "detail")),
    Migration(8, "workers: claims belong to a live process", steps(
        create_tables(schema.workers), add_column(schema.reminders, "claimed_by"),
    )),
    Migration(9, "native poll counts", add_column(schema.polls, "platform_tally")),
    Migration(10, "held feed refreshes", add_column(
        schema.calendars, "held_since", "held_cancels", "held_upcoming", "held_hash",
    )),
    Migration(12, "usernames for grants; Q&A salts that can be erased", steps(
        add_column(schema.users, "username"), allow_null(schema.live_sessions, "salt"))),
    Migration(14, "chat times past 2038", widen_to_bigint(schema.chats, "updated_ts")),
    Migration(15, "a rate budget shared by every process", create_tables(schema.rate_slots)),
    Migration(16, "the question the projector points at", add_column(schema.live_sessions, "focus_question")),
    Migration(18, "certificates with verification codes", create_tables(schema.certificates)),
    Migration(20, "adapter state kept across restarts", create_tables(schema.adapter_state)),
    Migration(22, "one attendee across platforms: linked accounts", steps(
        create_tables(schema.identity_links, schema.link_codes, schema.link_attempts),
        add_column(schema.users, "delivery_user"))),
    Migration(24, "one process runs the scheduled jobs", create_tables(schema.leases)),
    Migration(25, "claims in planned order among reminders ready together", reindex(
        schema.reminders, create=("ix_reminders_status_ready_id",), drop=("ix_reminders_status_ready",),
    )),
]


def pending(applied: set[int]) -> list[Migration]:
    versions = [m.version for m in MIGRATIONS]
    if len(versions) != len(set(versions)):
        raise RuntimeError("two migrations share a version number")
    return sorted((m for m in MIGRATIONS if m.version not in applied), key=lambda m: m.version)
