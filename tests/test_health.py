"""/healthz's judgement: the store answers and every adapter is connected."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.health import health
from bot.ports import ReportsConnection
from tests.adapters.test_discord import discord_bot
from tests.adapters.test_telegram import running
from tests.fakes.telegram_api import BotApiError, FakeBotApi
from tests.harness import Harness


async def test_well_when_the_store_answers_and_the_adapter_is_connected(tmp_path: Path) -> None:
    async with Harness.open(tmp_path) as h:
        assert await health(h.app) == (True, [])
        assert await health(h.app.services) == (True, [])
        h.adapter.offline = True  # the platform went away
        assert await health(h.app) == (False, ["fake: not connected"])


async def test_a_store_that_cannot_be_opened_any_more(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with Harness.open(tmp_path, db=data / "bot.db") as h:
        await h.app.store.engine.dispose()
        data.rename(tmp_path / "unmounted")  # the volume went away
        ok, reasons = await health(h.app)
        assert not ok and reasons == ["store: OperationalError"]
        (tmp_path / "unmounted").rename(data)
        assert await health(h.app) == (True, [])


class HungStore:
    """A database that takes the query and never answers."""

    async def ping(self) -> None:
        await asyncio.Event().wait()


async def test_a_store_that_hangs_is_reported_within_the_timeout(tmp_path: Path) -> None:
    async with Harness.open(tmp_path) as h:
        services = replace(h.app.services, store=HungStore())  # type: ignore[arg-type]
        assert await health(services, store_timeout=0.05) == (False, ["store: no answer in 0.05 s"])


async def test_console_is_connected_while_it_reads(tmp_path: Path) -> None:
    console = ConsoleAdapter(stdin=io.StringIO(""), stdout=io.StringIO())
    assert isinstance(console, ReportsConnection) and not console.connected
    seen: list[object] = []

    async def handle(incoming: object) -> None:
        seen.append(incoming)

    await console.start(handle)
    await console.wait_finished()
    await console.stop()
    assert not console.connected


async def test_telegram_polling_that_fails_is_not_connected_until_it_is_answered(tmp_path: Path) -> None:
    async with FakeBotApi() as api, running(tmp_path, api) as bot:
        user = api.add_user(1001, "Alice")
        assert bot.adapter.connected
        assert await health(bot.app) == (True, [])
        calls = len(api.calls_to("getUpdates"))
        api.fail_next("getUpdates", BotApiError(502, "Bad Gateway"))
        api.say(user, "/help")  # ends the long poll in flight; the next one fails
        await api.wait_call("getUpdates", calls + 2)  # the failing one, then the retry
        assert not bot.adapter.connected
        assert await health(bot.app) == (False, ["telegram: not connected"])
        calls = len(api.calls_to("getUpdates"))
        api.say(user, "/help")  # the retry is answered
        await api.wait_call("getUpdates", calls + 1)
        assert bot.adapter.connected
    assert not bot.adapter.connected


async def test_discord_is_connected_once_the_gateway_is_ready(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        assert bot.adapter.connected
        assert await health(bot.app) == (True, [])
        await bot.close()
        assert not bot.adapter.connected
        await bot.open()
        assert bot.adapter.connected
