"""Two bot processes on one database share a Discord bot by shards: each runs the shards its
settings name (discord.py's ``AutoShardedClient``), and the fake gateway sends each shard the
events of its guilds, and DMs to shard 0, as Discord does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import discord
import pytest

from adapters.discord import DiscordAdapter
from bot.alarms import ManualAlarms
from bot.app import open_app
from bot.clock import FakeClock
from bot.config import Config, SecretStr, load_config
from bot.errors import ConfigError
from bot.models import Incoming
from bot.ports import MessageHandler
from tests.databases import database_for
from tests.fakes.discord_api import ALICE, BOB, CAROL, GUILD_ID, SHARD0_GUILD_ID, FakeDiscord
from tests.harness import START

TOKEN = "MTAw.fake-discord-token.XYZ"


@dataclass
class Process:
    adapter: DiscordAdapter
    heard: list[Incoming] = field(default_factory=list)  # what this process's core was handed


@contextlib.asynccontextmanager
async def sharded(tmp_path: Path, api: FakeDiscord, *shard_ids: Sequence[int],
                  shard_count: int) -> AsyncIterator[list[Process]]:
    """One bot process per entry of ``shard_ids``, on one database, each running those shards."""
    config = replace(Config(), db=database_for(tmp_path), discord_token=SecretStr(TOKEN), outbox_check_seconds=0)
    clock = FakeClock(START)
    async with contextlib.AsyncExitStack() as stack:
        running = []
        for ids in shard_ids:
            adapter = DiscordAdapter(TOKEN, shard_ids=tuple(ids), shard_count=shard_count, guild_ready_timeout=0.05)
            await stack.enter_async_context(open_app(replace(config, discord_shard_ids=tuple(ids),
                                                             discord_shard_count=shard_count),
                                                     adapters=[adapter], clock=clock, alarms=ManualAlarms(clock)))
            process = Process(adapter)
            assert adapter._on_message is not None
            adapter._on_message = _recording(process.heard, adapter._on_message)
            running.append(process)
        yield running


def _recording(heard: list[Incoming], handle: MessageHandler) -> MessageHandler:
    async def recording(incoming: Incoming) -> None:
        heard.append(incoming)
        await handle(incoming)

    return recording


@pytest.fixture
async def api() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord.running() as fake:
        with fake.patched():
            yield fake


async def test_each_process_receives_the_events_of_its_own_shard(tmp_path: Path, api: FakeDiscord) -> None:
    api.guilds = [GUILD_ID, SHARD0_GUILD_ID]
    async with sharded(tmp_path, api, [0], [1], shard_count=2) as (first, second):
        assert sorted(tuple(i["shard"]) for i in api.identifies) == [(0, 2), (1, 2)]
        assert isinstance(first.adapter.client, discord.AutoShardedClient)
        assert [g.id for g in first.adapter.client.guilds] == [SHARD0_GUILD_ID]
        assert [g.id for g in second.adapter.client.guilds] == [GUILD_ID]
        # The slash commands are published once, by the process holding shard 0.
        assert len(api.find("PUT", r"applications/\d+/commands")) == 1

        await api.slash("help", user=ALICE)  # in GUILD_ID: shard 1
        await api.slash("help", user=BOB, dm=True)  # a DM: shard 0
        await api.slash("help", user=CAROL, guild=SHARD0_GUILD_ID)
        await api.wait_for(lambda: len(api.followups()) == 3)
        assert [(i.user.id, i.chat.is_private) for i in first.heard] == [
            (f"discord:{BOB.id}", True), (f"discord:{CAROL.id}", False)]
        assert [(i.user.id, i.chat.is_private) for i in second.heard] == [(f"discord:{ALICE.id}", False)]
        assert api.dispatched[-3:] == [(1, "INTERACTION_CREATE"), (0, "INTERACTION_CREATE"),
                                       (0, "INTERACTION_CREATE")]


async def test_a_process_without_shard_settings_runs_the_single_client(api: FakeDiscord) -> None:
    adapter = DiscordAdapter(TOKEN, guild_ready_timeout=0.05)
    await adapter.start(_ignore)
    try:
        assert not isinstance(adapter.client, discord.AutoShardedClient)
        assert "shard" not in api.identifies[0]
    finally:
        await adapter.stop()


def test_shards_come_from_the_settings() -> None:
    config = load_config(env={"EVENTBOT_DISCORD_TOKEN": TOKEN, "EVENTBOT_DISCORD_SHARD_COUNT": "4",
                              "EVENTBOT_DISCORD_SHARD_IDS": "2, 3"})
    assert (config.discord_shard_count, config.discord_shard_ids) == (4, (2, 3))
    adapter = DiscordAdapter.from_config(config)
    assert (adapter.shard_count, adapter.shard_ids) == (4, (2, 3))
    only_count = load_config(env={"EVENTBOT_DISCORD_SHARD_COUNT": "2"})
    assert (only_count.discord_shard_count, only_count.discord_shard_ids) == (2, ())


@pytest.mark.parametrize(("env", "message"), [
    ({"EVENTBOT_DISCORD_SHARD_IDS": "0"}, "discord_shard_count"),
    ({"EVENTBOT_DISCORD_SHARD_COUNT": "2", "EVENTBOT_DISCORD_SHARD_IDS": "0,2"}, "0 to 1"),
    ({"EVENTBOT_DISCORD_SHARD_COUNT": "0"}, "at least 1"),
    ({"EVENTBOT_DISCORD_SHARD_COUNT": "2", "EVENTBOT_DISCORD_SHARD_IDS": "one"}, "discord_shard_ids"),
])
def test_bad_shard_settings_are_one_clear_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


async def _ignore(incoming: Incoming) -> None:
    return None
