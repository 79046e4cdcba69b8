"""Linked accounts in SQL: codes, wrong tries and locks, links, the settings choice, unlinking."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.identities import fit_to, fit_to_accounts, merge_settings
from bot.models import UserSettings, platform_of
from bot.ports import LinkResult, LinkStatus, UnlinkResult
from bot.store import identities
from bot.store.people import preference_values, settings_from_row
from bot.store.schema import identity_links, link_attempts, link_codes, users

links = identity_links.c
codes = link_codes.c
attempts = link_attempts.c


async def _settings(conn: AsyncConnection, account: str) -> UserSettings | None:
    row = (await conn.execute(sa.select(users).where(users.c.user_id == account))).first()
    return settings_from_row(row) if row is not None else None


async def _store_preferences(conn: AsyncConnection, account: str, settings: UserSettings) -> None:
    values = preference_values(settings)
    updated = await conn.execute(users.update().where(users.c.user_id == account).values(**values))
    if not updated.rowcount:
        await conn.execute(users.insert().values(user_id=account, **values))


class SqlLinkRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def locked_until(self, account: str, now: int) -> int | None:
        async with self._engine.connect() as conn:
            until = await conn.scalar(sa.select(attempts.locked_until).where(attempts.identity == account))
        return int(until) if until is not None and until > now else None

    async def issue_code(self, issuer: str, code_hash: str, expires_ts: int, now: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(link_codes.delete().where(sa.or_(codes.issuer == issuer, codes.expires_ts <= now)))
            await conn.execute(link_codes.insert().values(issuer=issuer, code_hash=code_hash, expires_ts=expires_ts))

    async def redeem(self, account: str, code_hash: str, now: int, *, lock_after: int,
                     lock_seconds: int) -> LinkResult:
        async with self._engine.begin() as conn:
            # A write first, so that the write lock is held before anything is read (SQLite),
            # and the account's row of tries exists to be locked (PostgreSQL).
            touched = await conn.execute(link_attempts.update().where(attempts.identity == account)
                                         .values(failures=attempts.failures))
            if not touched.rowcount:
                await conn.execute(link_attempts.insert().values(identity=account, failures=0))
            tries = (await conn.execute(sa.select(attempts.failures, attempts.locked_until)
                                        .where(attempts.identity == account).with_for_update())).one()
            if tries.locked_until is not None and tries.locked_until > now:
                return LinkResult(LinkStatus.LOCKED, locked_until=int(tries.locked_until))
            code = (await conn.execute(sa.select(codes.issuer).where(
                codes.code_hash == code_hash, codes.expires_ts > now).with_for_update())).first()
            if code is None:
                return await self._wrong(conn, account, LinkStatus.WRONG, tries.failures, now,
                                         lock_after, lock_seconds)
            issuer = code.issuer
            if issuer == account:
                return LinkResult(LinkStatus.OWN_CODE)
            theirs = await identities.accounts(conn, issuer)
            mine = await identities.accounts(conn, account)
            if account in theirs:
                return LinkResult(LinkStatus.ALREADY_LINKED, person=theirs[0], accounts=tuple(theirs))
            if any(platform_of(a) == platform_of(account) for a in theirs):
                return await self._wrong(conn, account, LinkStatus.NOT_FOR_YOU, tries.failures, now,
                                         lock_after, lock_seconds)
            if len(mine) > 1:
                return LinkResult(LinkStatus.LINKED_ELSEWHERE, person=mine[0], accounts=tuple(mine))
            used = await conn.execute(link_codes.delete().where(codes.issuer == issuer, codes.code_hash == code_hash))
            if not used.rowcount:  # used a moment ago, by another process
                return await self._wrong(conn, account, LinkStatus.WRONG, tries.failures, now,
                                         lock_after, lock_seconds)
            await conn.execute(link_attempts.update().where(attempts.identity == account)
                               .values(failures=0, locked_until=None))
            person = theirs[0]
            kept = await _settings(conn, person) or UserSettings(person)
            other = await _settings(conn, account) or UserSettings(account)
            merged, differences = merge_settings(kept, other)
            await conn.execute(identity_links.insert().values(
                identity=account, person=person, linked_at=now, choice_pending=bool(differences)))
            await _store_preferences(conn, person, merged)
            return LinkResult(LinkStatus.LINKED, person=person, accounts=(*theirs, account),
                              differences=tuple(differences))

    @staticmethod
    async def _wrong(conn: AsyncConnection, account: str, status: LinkStatus, failures: int, now: int,
                     lock_after: int, lock_seconds: int) -> LinkResult:
        failures += 1
        if failures >= lock_after:
            until = now + lock_seconds
            await conn.execute(link_attempts.update().where(attempts.identity == account)
                               .values(failures=0, locked_until=until))
            return LinkResult(LinkStatus.LOCKED, locked_until=until)
        await conn.execute(link_attempts.update().where(attempts.identity == account)
                           .values(failures=failures, locked_until=None))
        return LinkResult(status, tries_left=lock_after - failures)

    async def pending_choice(self, account: str) -> str | None:
        async with self._engine.connect() as conn:
            person = await identities.person_of(conn, account)
            pending: str | None = await conn.scalar(sa.select(links.identity).where(
                links.person == person, links.choice_pending.is_(True)).order_by(links.linked_at.desc()).limit(1))
            return pending

    async def choose_settings(self, account: str, platform: str) -> tuple[str, ...] | None:
        async with self._engine.begin() as conn:
            await conn.execute(identity_links.update().where(links.identity == account)
                               .values(choice_pending=links.choice_pending))  # the write lock first
            mine = await identities.accounts(conn, account)
            person = mine[0]
            pending = await conn.scalar(sa.select(links.identity).where(
                links.person == person, links.choice_pending.is_(True)).order_by(links.linked_at.desc()).limit(1))
            if pending is None:
                return None
            chosen = next((a for a in mine if platform_of(a) == platform), None)
            if chosen is None:
                raise LookupError(platform)
            if chosen == pending:
                current = await _settings(conn, person) or UserSettings(person)
                theirs = await _settings(conn, pending) or UserSettings(pending)
                merged, _differences = merge_settings(theirs, current)
                # Their settings, reminders included: privately, on their platform.
                await _store_preferences(conn, person, fit_to_accounts(
                    replace(merged, user_id=person, delivery_user=pending), mine))
            await conn.execute(identity_links.update().where(links.person == person).values(choice_pending=False))
            return tuple(mine)

    async def unlink(self, account: str) -> UnlinkResult | None:
        async with self._engine.begin() as conn:
            await conn.execute(identity_links.update().where(links.identity == account)
                               .values(person=links.person))  # the write lock first
            mine = await identities.accounts(conn, account)
            if len(mine) < 2:
                return None
            person = mine[0]
            shared = await _settings(conn, person) or UserSettings(person)
            others = [a for a in mine if a != account]
            if account == person:
                # The person's own id leaves: the account linked next names the rest.
                person = others[0]
                await conn.execute(identity_links.delete().where(links.identity == person))
                await conn.execute(identity_links.update().where(links.person == account).values(person=person))
            else:
                await conn.execute(identity_links.delete().where(links.identity == account))
            own = await _settings(conn, account)
            await _store_preferences(conn, account, fit_to(shared, account, own))
            await _store_preferences(conn, person, fit_to_accounts(shared, others))
            if len(others) == 1:
                await conn.execute(identity_links.update().where(links.person == person).values(choice_pending=False))
            return UnlinkResult(account=account, person=person, others=tuple(others))

