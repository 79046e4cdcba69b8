"""The Discord adapter, driven through the real discord.py client against a fake Discord on
127.0.0.1 (tests/fakes/discord_api.py), with the whole core behind it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from adapters.discord import DiscordAdapter
from bot.alarms import ManualAlarms
from bot.app import FEATURES, App, open_app
from bot.clock import FakeClock
from bot.config import Config, SecretStr
from tests.fakes.discord_api import ALICE, BOB, CAROL, CHANNEL_ID, GUILD_ID, FakeDiscord
from tests.harness import START, store_occurrences, make_occurrence

TOKEN = "MTAw.fake-discord-token.XYZ"


@dataclass
class DiscordBot:
    """The core with a real DiscordAdapter, talking to the fake Discord."""

    api: FakeDiscord
    config: Config
    clock: FakeClock
    features: tuple[ModuleType, ...]
    app: App = field(init=False)
    adapter: DiscordAdapter = field(init=False)
    _stack: contextlib.AsyncExitStack = field(init=False, default_factory=contextlib.AsyncExitStack)

    async def open(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self.adapter = DiscordAdapter.from_config(self.config)
        self.app = await self._stack.enter_async_context(open_app(
            self.config, adapters=[self.adapter], clock=self.clock, alarms=ManualAlarms(self.clock),
            features=self.features))

    async def close(self) -> None:
        await self._stack.aclose()

    async def restart(self) -> None:
        await self.close()
        await self.open()


@contextlib.asynccontextmanager
async def discord_bot(tmp_path: Path, *extra_features: ModuleType, **settings: Any) -> AsyncIterator[DiscordBot]:
    async with FakeDiscord.running() as api:
        with api.patched():
            config = replace(Config(), db=tmp_path / "bot.db", organisers=(f"discord:{ALICE.id}",),
                             discord_token=SecretStr(TOKEN), **settings)
            bot = DiscordBot(api, config, FakeClock(START), (*FEATURES, *extra_features))
            await bot.open()
            try:
                yield bot
            finally:
                await bot.close()


def embed_text(recorded: Any) -> str:
    return "\n".join(e.get("description", "") for e in recorded.json.get("embeds", []))


async def test_subscribe_with_a_slash_command(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        api = bot.api
        await api.slash("subscribe", user=BOB, options={"event": "all"})
        followups = await api.wait_for(api.followups)
        assert "You will be reminded of every session." in embed_text(followups[0])
        # deferred first (within Discord's 3 s), then answered as a followup to that interaction
        assert api.callbacks()[0].json["type"] == 5
        subs = await bot.app.store.people.subscriptions_of(f"discord:{BOB.id}")
        assert [s.scope.value for s in subs] == ["all"]

