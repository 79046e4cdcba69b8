"""Coalescing reads: many concurrent look-ups of single keys become one ``IN (…)`` query.

Under a burst (two thousand people voting within a second) every message looks its sender
up; one query per message would queue thousands of round trips to the database thread.
``BatchLoader.load(key)`` instead waits for the next batch: one flusher task at a time
takes every key asked for so far and loads them together. A key asked for while a batch
is in flight goes into the next batch, so a read requested after a write always sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

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
