"""The workers table in SQL: one row per process working on the database, with its heartbeat."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ports import WorkerInfo
from bot.store.schema import leases, workers
from bot.store.upsert import insert_missing

w = workers.c


class SqlWorkerRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def register(self, host: str, pid: int, process_start: str, now: int) -> int:
        async with self._engine.begin() as conn:
            worker_id = await conn.scalar(workers.insert().values(
                host=host, pid=pid, process_start=process_start, started_ts=now, heartbeat_ts=now)
                .returning(w.id))
        return int(worker_id)

    async def beat(self, worker_id: int, now: int) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(workers.update().where(w.id == worker_id).values(heartbeat_ts=now))
        return bool(result.rowcount)

    async def workers(self) -> list[WorkerInfo]:
        query = sa.select(w.id, w.host, w.pid, w.process_start, w.started_ts, w.heartbeat_ts).order_by(w.id)
        async with self._engine.connect() as conn:
            return [WorkerInfo(id=row[0], host=row[1], pid=row[2], process_start=row[3], started_ts=int(row[4]),
                               heartbeat_ts=int(row[5])) for row in await conn.execute(query)]

    async def forget(self, worker_ids: Sequence[int]) -> int:
        if not worker_ids:
            return 0
        async with self._engine.begin() as conn:
            result = await conn.execute(workers.delete().where(w.id.in_(list(worker_ids))))
        return int(result.rowcount or 0)

    async def hold_lease(self, name: str, worker_id: int, now: int, ttl: int) -> bool:
        async with self._engine.begin() as conn:
            await insert_missing(conn, leases, [{"name": name, "worker_id": None, "expires_ts": 0}], ["name"])
            lease = leases.c
            result = await conn.execute(leases.update().where(
                lease.name == name,
                sa.or_(lease.worker_id == worker_id, lease.worker_id.is_(None), lease.expires_ts < now,
                       lease.worker_id.not_in(sa.select(w.id)))).values(worker_id=worker_id, expires_ts=now + ttl))
        return bool(result.rowcount)

    async def release_lease(self, name: str, worker_id: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(leases.update().where(leases.c.name == name, leases.c.worker_id == worker_id)
                               .values(worker_id=None, expires_ts=0))

    async def lease_holder(self, name: str) -> int | None:
        async with self._engine.connect() as conn:
            value = await conn.scalar(sa.select(leases.c.worker_id).where(leases.c.name == name))
        return None if value is None else int(value)
