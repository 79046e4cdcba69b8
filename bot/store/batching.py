"""Coalescing reads: many concurrent look-ups of single keys become one ``IN (…)`` query.

Under a burst (two thousand people voting within a second) every message looks its sender
up; one query per message would queue thousands of round trips to the database thread.
``BatchLoader.load(key)`` instead waits for the next batch: one flusher task at a time
takes every key asked for so far and loads them together. A key asked for while a batch
is in flight goes into the next batch, so a read requested after a write always sees it.

Writes are grouped the same way (``WriteBatcher``), and the busiest writers take turns
through a ``WriteGate`` rather than on SQLite's sleeping lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchLoader(Generic[K, V]):
    def __init__(self, load_many: Callable[[list[K]], Awaitable[dict[K, V]]]) -> None:
        self._load_many = load_many
        self._pending: dict[K, list[asyncio.Future[V]]] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def load(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V] = loop.create_future()
        self._pending.setdefault(key, []).append(future)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                found = await self._load_many(list(batch))
            except Exception as exc:
                for futures in batch.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for key, futures in batch.items():
                for future in futures:
                    if future.done():
                        continue
                    if key in found:
                        future.set_result(found[key])
                    else:
                        future.set_exception(KeyError(key))


T = TypeVar("T")


class WriteBatcher(Generic[T]):
    """Group commit: ``submit(item)`` returns once the batch holding ``item`` is committed.

    One flusher task at a time hands everything queued to ``write_many`` (one transaction);
    items submitted meanwhile form the next batch. If a batch fails, its items are retried
    one by one so that one bad item fails alone.
    """

    def __init__(self, write_many: Callable[[list[T]], Awaitable[None]]) -> None:
        self._write_many = write_many
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._write_many([item for item, _ in batch])
            except Exception:
                for item, future in batch:
                    try:
                        await self._write_many([item])
                    except Exception as exc:
                        if not future.done():
                            future.set_exception(exc)
                    else:
                        if not future.done():
                            future.set_result(None)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)


class WriteGate:
    """Turns for the store's busiest writers, on SQLite.

    SQLite lets one connection write at a time and makes the others wait by sleeping (1, 2,
    5, 10 … up to 100 ms between tries). When a crowd's first messages store their names
    while their votes are counted, the two batchers would meet on that lock all the time
    and sleep. Taking turns on an asyncio lock first, they queue without sleeping.
    PostgreSQL locks rows, not the database: there the gate is open.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """``engine.begin()``, once it is this writer's turn."""
        async with contextlib.AsyncExitStack() as stack:
            if self._lock is not None:
                await stack.enter_async_context(self._lock)
            yield await stack.enter_async_context(self._engine.begin())
