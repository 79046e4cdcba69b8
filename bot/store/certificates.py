"""Issued certificates in SQL, by verification code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import CertificateRecord
from bot.store.schema import certificates

c = certificates.c


def _record(row: sa.Row) -> CertificateRecord:
    return CertificateRecord(code=row.code, occurrence_id=row.occurrence_id, name=row.name, session=row.session,
                             date=date.fromisoformat(row.session_date), hours=float(row.hours),
                             organiser=row.organiser, issued_at=datetime.fromtimestamp(row.issued_ts, UTC))


class SqlCertificateRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def issue(self, record: CertificateRecord, user_id: str) -> CertificateRecord:
        values = {"name": record.name, "session": record.session, "session_date": record.date.isoformat(),
                  "hours": record.hours, "organiser": record.organiser,
                  "issued_ts": int(record.issued_at.timestamp())}
        mine = (c.occurrence_id == record.occurrence_id) & (c.user_id == user_id)
        for _attempt in range(2):
            async with self._engine.begin() as conn:
                code = await conn.scalar(sa.select(c.code).where(mine))
                if code is not None:
                    await conn.execute(certificates.update().where(c.code == code).values(**values))
                    return replace(record, code=code)
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(certificates.insert().values(
                        code=record.code, occurrence_id=record.occurrence_id, user_id=user_id, **values))
                return record
            except sa.exc.IntegrityError:
                # Another process issued this person's certificate for the session just now:
                # take its code (a clash of two random codes is not worth a thought).
                continue
        raise RuntimeError("could not issue a certificate")  # pragma: no cover

    async def by_code(self, code: str) -> CertificateRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(certificates).where(c.code == code))).first()
        return _record(row) if row is not None else None

