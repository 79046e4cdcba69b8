"""People: settings, subscriptions and facilitator grants in SQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.models import (
    Delivery,
    FacilitatorGrant,
    Occurrence,
    Subscription,
    SubscriptionScope,
    UserSettings,
    platform_of,
)
from bot.store import identities
from bot.store.batching import BatchLoader, WriteBatcher, WriteGate
from bot.store.schema import chats, facilitators, identity_links, subscriptions, users

SNAPSHOT_TTL = 5.0
T = TypeVar("T")


class Snapshot(Generic[T]):
    """A small table read on every message and rarely changed, kept in memory. A change made
    through this process drops the copy at once; one made by another process on the same
    database is seen within ``ttl`` seconds (so a revoked facilitator never keeps rights long)."""

    def __init__(self, load: Callable[[], Awaitable[T]], ttl: float = SNAPSHOT_TTL) -> None:
        self._load = load
        self._ttl = ttl
        self._value: T | None = None
        self._loaded = 0.0
        self._changes = 0
        self._loading: asyncio.Future[T] | None = None

    def changed(self) -> None:
        self._value, self._changes, self._loading = None, self._changes + 1, None

    async def get(self) -> T:
        value = self._value
        if value is not None and time.monotonic() - self._loaded <= self._ttl:
            return value
        # One load for everyone who asks meanwhile: a crowd's first messages (a vote storm)
        # would otherwise each read the table.
        loading = self._loading
        if loading is None:
            loading = self._loading = asyncio.ensure_future(self._load_once(self._changes))
        return await asyncio.shield(loading)

    async def _load_once(self, changes: int) -> T:
        try:
            value = await self._load()
        finally:
            if self._changes == changes:
                self._loading = None
        if changes == self._changes:  # a load that raced a change is not kept
            self._value, self._loaded = value, time.monotonic()
        return value


def _settings_query() -> sa.CompoundSelect:
    """The rows that make the settings of some ids, read for every batch of messages, so in
    one statement built once: each id's own row (``link_identity`` NULL), and for each id
    that is a linked account, its link and its person's row (NULL columns if the person has
    none)."""
    ids: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)
    links = identity_links.c
    none = sa.cast(sa.null(), sa.String)
    own = sa.select(none.label("link_identity"), none.label("link_person"), *users.c).where(users.c.user_id.in_(ids))
    linked = (sa.select(links.identity, links.person, *users.c)
              .select_from(identity_links.outerjoin(users, users.c.user_id == links.person))
              .where(links.identity.in_(ids)))
    return sa.union_all(own, linked)


_SETTINGS_OF = _settings_query()


async def _settings_rows(conn: AsyncConnection, ids: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    """For ``ids``: the person of each that is a linked account, and the stored rows by user
    id (the ids' own and their persons')."""
    person_of: dict[str, str] = {}
    rows: dict[str, Any] = {}
    for i in range(0, len(ids), 500):
        for row in await conn.execute(_SETTINGS_OF, {"ids": ids[i:i + 500]}):
            if row.link_identity is not None:
                person_of[row.link_identity] = row.link_person
            if row.user_id is not None:
                rows[row.user_id] = row
    return person_of, rows


def _offsets_to_text(offsets: tuple[timedelta, ...] | None) -> str | None:
    return None if offsets is None else ",".join(str(int(o.total_seconds())) for o in offsets)


def _offsets_from_text(text: str | None) -> tuple[timedelta, ...] | None:
    if text is None:
        return None
    return tuple(timedelta(seconds=int(v)) for v in text.split(",") if v)


def name_values(settings: UserSettings) -> dict[str, Any]:
    """What is kept of an account itself, linked or not: the names it was last seen with."""
    return {"display_name": settings.display_name, "username": settings.username}


def preference_values(settings: UserSettings) -> dict[str, Any]:
    """What is kept of the person: their preferences."""
    return {
        "timezone": settings.timezone, "language": settings.language,
        "offsets": _offsets_to_text(settings.offsets), "delivery": settings.delivery.value,
        "delivery_chat": settings.delivery_chat, "quiet_start": settings.quiet_start,
        "quiet_end": settings.quiet_end, "delivery_user": settings.delivery_user,
    }


def _settings_values(settings: UserSettings) -> dict[str, Any]:
    return name_values(settings) | preference_values(settings)


def settings_from_row(r: Any) -> UserSettings:
    return UserSettings(
        user_id=r.user_id, timezone=r.timezone, language=r.language,
        offsets=_offsets_from_text(r.offsets), delivery=Delivery(r.delivery),
        delivery_chat=r.delivery_chat, quiet_start=r.quiet_start, quiet_end=r.quiet_end,
        display_name=r.display_name, username=r.username, delivery_user=r.delivery_user)


def as_account(person: UserSettings, own: UserSettings | None, account: str) -> UserSettings:
    """A linked account's settings: the person's preferences under the account's names."""
    return replace(person, user_id=account, person=person.user_id,
                   display_name=own.display_name if own else None, username=own.username if own else None)


class SqlPeopleRepository:
    def __init__(self, engine: AsyncEngine, gate: WriteGate | None = None) -> None:
        self._engine = engine
        self._gate = gate or WriteGate(engine)
        # Every message looks its sender up: concurrent look-ups share one query.
        self._settings = BatchLoader(self.get_many_settings)
        # ...and the first message of a newcomer stores their name: those writes share a commit.
        self._settings_writes = WriteBatcher(self._save_many_settings)
        # Grants and chat languages are few and read on every message.
        self._grants = Snapshot(self._load_grants)
        self._chat_languages = Snapshot(self._load_chat_languages)

    async def get_settings(self, user_id: str) -> UserSettings:
        return await self._settings.load(user_id)

    async def get_many_settings(self, user_ids: list[str]) -> dict[str, UserSettings]:
        """Settings of many people at once (defaults for those with nothing stored); a linked
        account gets its person's preferences."""
        async with self._engine.connect() as conn:
            person_of, rows = await _settings_rows(conn, user_ids)
        found = {uid: settings_from_row(row) for uid, row in rows.items()}
        settings: dict[str, UserSettings] = {}
        for uid in user_ids:
            own = found.get(uid)
            person = person_of.get(uid)
            if person is None:
                settings[uid] = own or UserSettings(user_id=uid)
            else:
                settings[uid] = as_account(found.get(person) or UserSettings(user_id=person), own, uid)
        return settings

    async def save_settings(self, settings: UserSettings) -> None:
        await self._settings_writes.submit(settings)

    async def _save_many_settings(self, batch: list[UserSettings]) -> None:
        latest = {s.user_id: s for s in batch}  # the last save of a person wins
        # A platform keeps a username unique, so whoever holds it now is the only one stored
        # with it: someone who gave it up and has not been seen since loses it (and of two
        # in one batch, the one saved later holds it).
        holders: dict[str, dict[str, str]] = {}  # platform -> username (lower case) -> account
        for s in batch:
            if latest[s.user_id] is s and s.username:
                holders.setdefault(platform_of(s.user_id), {})[s.username.lower()] = s.user_id
        for uid, s in latest.items():
            if s.username and holders[platform_of(uid)][s.username.lower()] != uid:
                latest[uid] = replace(s, username=None)
        async with self._gate.begin() as conn:
            # The first statement writes, so the write lock is taken before anything is read.
            named = [name_values(s) | {"uid": uid} for uid, s in latest.items()]
            await conn.execute(users.update().where(users.c.user_id == sa.bindparam("uid")), named)
            # Who is stored already, and which are linked accounts, whose preferences are
            # their person's (read in the transaction that writes them, so that a link made
            # a moment ago by another process counts).
            person_of, found = await _settings_rows(conn, list(latest))
            preferences = {person_of.get(uid, uid): preference_values(s) for uid, s in latest.items()}
            await conn.execute(users.update().where(users.c.user_id == sa.bindparam("uid")),
                               [values | {"uid": uid} for uid, values in preferences.items()])
            for platform, held in holders.items():
                names = list(held.items())
                for i in range(0, len(names), 200):
                    chunk = names[i:i + 200]
                    await conn.execute(users.update().where(
                        sa.func.lower(users.c.username).in_([name for name, _ in chunk]),
                        users.c.user_id.like(f"{platform}:%"),
                        users.c.user_id.not_in([uid for _, uid in chunk])).values(username=None))
            new = [(name_values(s) if uid in person_of else _settings_values(s)) | {"user_id": uid}
                   for uid, s in latest.items() if uid not in found]
            new += [values | {"user_id": person} for person, values in preferences.items()
                    if person not in found and person not in latest]
            if new:
                await conn.execute(users.insert(), new)

    async def find_user_by_name(self, name: str, platform: str | None = None) -> list[str]:
        return await self._find(sa.func.lower(users.c.display_name) == name.lower(), platform)

    async def find_user_by_username(self, username: str, platform: str | None = None) -> list[str]:
        return await self._find(sa.func.lower(users.c.username) == username.lower(), platform)

    async def _find(self, match: sa.ColumnElement[bool], platform: str | None) -> list[str]:
        query = sa.select(users.c.user_id).where(match).order_by(users.c.user_id)
        if platform:
            query = query.where(users.c.user_id.like(f"{platform}:%"))
        async with self._engine.connect() as conn:
            return [r[0] for r in await conn.execute(query)]

    # A person's subscriptions are those of all their accounts; each stays under the account
    # that made it (so /unlink leaves each account its own), and one a person already has
    # through another account is not made twice.

    async def subscribe(self, subscription: Subscription) -> bool:
        async with self._engine.begin() as conn:
            mine = await identities.accounts(conn, subscription.user_id)
            exists = await conn.scalar(sa.select(sa.func.count()).select_from(subscriptions)
                                       .where(*self._match(subscription, mine)))
            if exists:
                return False
            await conn.execute(subscriptions.insert().values(
                user_id=subscription.user_id, scope=subscription.scope.value,
                target=subscription.target, calendar=subscription.calendar))
            return True

    async def unsubscribe(self, subscription: Subscription) -> bool:
        async with self._engine.begin() as conn:
            mine = await identities.accounts(conn, subscription.user_id)
            result = await conn.execute(subscriptions.delete().where(*self._match(subscription, mine)))
            return bool(result.rowcount)

    async def unsubscribe_all(self, user_id: str) -> int:
        async with self._engine.begin() as conn:
            mine = await identities.accounts(conn, user_id)
            c = subscriptions.c
            kinds = await conn.scalar(sa.select(sa.func.count()).select_from(
                sa.select(c.scope, c.target, c.calendar).where(c.user_id.in_(mine)).distinct().subquery()))
            await conn.execute(subscriptions.delete().where(c.user_id.in_(mine)))
            return int(kinds or 0)

    @staticmethod
    def _match(s: Subscription, accounts: list[str]) -> list[sa.ColumnElement[bool]]:
        return [subscriptions.c.user_id.in_(accounts), subscriptions.c.scope == s.scope.value,
                subscriptions.c.target == s.target, subscriptions.c.calendar == s.calendar]

    async def subscriptions_of(self, user_id: str) -> list[Subscription]:
        c = subscriptions.c
        async with self._engine.connect() as conn:
            mine = await identities.accounts(conn, user_id)
            rows = await conn.execute(sa.select(c.scope, c.target, c.calendar).where(c.user_id.in_(mine))
                                      .distinct().order_by(c.scope, c.target, c.calendar))
            return [Subscription(user_id=mine[0], scope=SubscriptionScope(r.scope), target=r.target,
                                 calendar=r.calendar) for r in rows]

    async def all_subscriptions(self) -> list[Subscription]:
        """Every subscription, for planning reminders in bulk, under its person's id."""
        c = subscriptions.c
        person = identities.person_of_column(c.user_id).label("person")
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(person, c.scope, c.target, c.calendar).distinct())
            return [Subscription(user_id=r.person, scope=SubscriptionScope(r.scope), target=r.target,
                                 calendar=r.calendar) for r in rows]

    async def subscribers_of(self, occurrence: Occurrence) -> list[str]:
        c = subscriptions.c
        person = identities.person_of_column(c.user_id).label("person")
        query = sa.select(person).distinct().where(sa.or_(
            sa.and_(c.scope == SubscriptionScope.ALL.value,
                    sa.or_(c.calendar == "", c.calendar == occurrence.calendar)),
            sa.and_(c.scope == SubscriptionScope.SERIES.value, c.target == occurrence.series_id),
            sa.and_(c.scope == SubscriptionScope.OCCURRENCE.value, c.target == occurrence.id),
        )).order_by(person)
        async with self._engine.connect() as conn:
            return [r[0] for r in await conn.execute(query)]

    async def accounts_of(self, user_id: str) -> tuple[str, ...]:
        async with self._engine.connect() as conn:
            return tuple(await identities.accounts(conn, user_id))

    async def identity_groups(self, persons: list[str] | None = None) -> dict[str, tuple[str, ...]]:
        async with self._engine.connect() as conn:
            return await identities.groups(conn, persons)

    async def grant_facilitator(self, grant: FacilitatorGrant) -> bool:
        async with self._engine.begin() as conn:
            exists = await conn.scalar(sa.select(sa.func.count()).select_from(facilitators).where(
                facilitators.c.user_id == grant.user_id, facilitators.c.event == grant.event))
            if exists:
                return False
            await conn.execute(facilitators.insert().values(
                user_id=grant.user_id, event=grant.event, granted_by=grant.granted_by))
        self._grants.changed()
        return True

    async def revoke_facilitator(self, user_id: str, event: str = "") -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(facilitators.delete().where(
                facilitators.c.user_id == user_id, facilitators.c.event == event))
        self._grants.changed()
        return bool(result.rowcount)

    async def facilitator_grants(self, user_id: str | None = None) -> list[FacilitatorGrant]:
        return [g for g in await self._grants.get() if user_id is None or g.user_id == user_id]

    async def _load_grants(self) -> list[FacilitatorGrant]:
        query = sa.select(facilitators).order_by(facilitators.c.user_id, facilitators.c.event)
        async with self._engine.connect() as conn:
            return [FacilitatorGrant(user_id=r.user_id, event=r.event, granted_by=r.granted_by)
                    for r in await conn.execute(query)]

    # -- chats -----------------------------------------------------------------------------

    async def chat_language(self, chat_id: str) -> str | None:
        return (await self._chat_languages.get()).get(chat_id)

    async def set_chat_language(self, chat_id: str, language: str | None, now: int) -> None:
        async with self._engine.begin() as conn:
            updated = await conn.execute(chats.update().where(chats.c.chat_id == chat_id)
                                         .values(language=language, updated_ts=now))
            if not updated.rowcount:
                await conn.execute(chats.insert().values(chat_id=chat_id, language=language, updated_ts=now))
        self._chat_languages.changed()

    async def _load_chat_languages(self) -> dict[str, str]:
        query = sa.select(chats.c.chat_id, chats.c.language).where(chats.c.language.is_not(None))
        async with self._engine.connect() as conn:
            return {row[0]: row[1] for row in await conn.execute(query)}
