"""What adapters keep across restarts (migration 20), on every store backend."""

from __future__ import annotations

from pathlib import Path

from bot.clock import FakeClock
from bot.store.sql import SqlStore
from tests.harness import START


async def test_adapter_state_is_kept_per_adapter_and_replaced(backend: Path | str) -> None:
    store = await SqlStore.open(backend, FakeClock(START))
    try:
        state = store.adapter_state
        assert await state.get_state("matrix", "next_batch:@bot:x") is None
        await state.set_state("matrix", "next_batch:@bot:x", "s1")
        await state.set_state("matrix", "next_batch:@bot:x", "s2")
        await state.set_state("other", "next_batch:@bot:x", "o1")
        assert await state.get_state("matrix", "next_batch:@bot:x") == "s2"
        assert await state.get_state("other", "next_batch:@bot:x") == "o1"
        assert await state.delete_state("matrix", "next_batch:@bot:x")
        assert not await state.delete_state("matrix", "next_batch:@bot:x")
        assert await state.get_state("other", "next_batch:@bot:x") == "o1"
    finally:
        await store.close()
