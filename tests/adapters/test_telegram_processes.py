"""Two bot processes on one database and one Telegram token (two apps in this test process,
the real python-telegram-bot client in each, against one fake Bot API that tells their calls
apart by a marker in each one's base URL).

Telegram lets one consumer at a time call ``getUpdates`` for a token; a second one ends the
first's long poll with 409 Conflict, as the fake does. So only the process holding the
scheduler lease polls, and the other takes over when it stops or loses the lease. With a
webhook every process receives (behind one URL) and only the leader registers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.telegram import TelegramAdapter
from bot.alarms import ManualAlarms
from bot.app import App, open_app
from bot.clock import FakeClock
from bot.workers import Worker
from tests.adapters.test_telegram import telegram_config
from tests.databases import database_for
from tests.fakes.telegram_api import DEADLINE, BotApiError, FakeBotApi, FakeUser
from tests.harness import START

HEARTBEAT = 600  # seconds: longer than any test


@dataclass
class Process:
    """One bot process: its app, its Telegram adapter and its worker (the shared clock aside)."""

    name: str
    app: App
    adapter: TelegramAdapter
    clock: FakeClock
    stack: contextlib.AsyncExitStack = field(repr=False)

    @property
    def worker(self) -> Worker:
        assert self.app.services.worker is not None
        return self.app.services.worker

    async def close(self) -> None:
        await self.stack.aclose()


@contextlib.asynccontextmanager
async def processes(tmp_path: Path, api: FakeBotApi, *names: str,
                    settings: dict[str, dict[str, Any]] | None = None) -> AsyncIterator[list[Process]]:
    """Bot processes on one database and one clock, opened in order (the first leads); each
    calls the Bot API through ``api.client_url(name)``. Their heartbeats are the tests' to
    drive (``worker.beat()``): the ones on a timer are too far apart to come during a test."""
    clock = FakeClock(START)
    db = database_for(tmp_path)
    opened: list[Process] = []
    try:
        for name in names:
            config = replace(telegram_config(tmp_path, api, telegram_base_url=api.client_url(name),
                                             worker_heartbeat_seconds=HEARTBEAT, **(settings or {}).get(name, {})),
                             db=db)
            stack = contextlib.AsyncExitStack()
            adapter = TelegramAdapter.from_config(config)
            app = await stack.enter_async_context(
                open_app(config, adapters=[adapter], clock=clock, alarms=ManualAlarms(clock)))
            opened.append(Process(name, app, adapter, clock, stack))
        yield opened
    finally:
        for process in reversed(opened):
            await process.close()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


def acknowledged(api: FakeBotApi, client: str, update_id: int) -> bool:
    """Whether ``client`` has asked for the updates after ``update_id``: it has taken it."""
    return any(int(c.get("offset") or 0) > update_id for c in api.calls_to("getUpdates", client=client))


async def test_only_the_leader_polls_and_each_update_is_handled_once(tmp_path: Path, api: FakeBotApi) -> None:
    alice = api.add_user(1001, "Alice")
    async with processes(tmp_path, api, "a", "b") as (a, b):
        assert a.worker.leads() and not b.worker.leads()
        await api.wait_call("getUpdates", client="a")
        update = api.say(alice, "/help")
        [reply] = await api.wait_call("sendMessage", chat_id=1001)
        await api.wait_until(lambda: acknowledged(api, "a", update), what="the update acknowledged")
        await b.worker.beat()  # the follower's heartbeats change nothing while the leader lives
        assert reply.client == "a"
        assert not api.calls_to("getUpdates", client="b") and not api.calls_to("deleteWebhook", client="b")
        assert len(api.calls_to("sendMessage", chat_id=1001)) == 1
        assert api.conflicts == 0
        # The follower sends all the same.
        assert await b.adapter.send(_private(1001, "from b"))
        assert api.calls_to("sendMessage", client="b")


async def test_the_follower_polls_once_the_leader_stops(tmp_path: Path, api: FakeBotApi) -> None:
    alice = api.add_user(1001, "Alice")
    async with processes(tmp_path, api, "a", "b") as (a, b):
        await api.wait_call("getUpdates", client="a")
        await a.close()  # stops polling, then gives the lease up
        polled_by_a = len(api.calls_to("getUpdates", client="a"))
        assert not b.adapter.receiving
        await b.worker.beat()  # its next heartbeat takes the lease
        assert b.worker.leads()
        await api.wait_call("getUpdates", client="b")
        update = api.say(alice, "/help")
        [reply] = await api.wait_call("sendMessage", chat_id=1001)
        await api.wait_until(lambda: acknowledged(api, "b", update), what="the update acknowledged")
        assert reply.client == "b"
        assert len(api.calls_to("getUpdates", client="a")) == polled_by_a
        assert api.conflicts == 0


async def test_a_new_leader_that_cannot_poll_yet_tries_again_at_its_next_heartbeat(
        tmp_path: Path, api: FakeBotApi, caplog: pytest.LogCaptureFixture) -> None:
    async with processes(tmp_path, api, "a", "b") as (a, b):
        await a.close()
        api.fail_next("deleteWebhook", BotApiError(502, "Bad Gateway"))
        with _logged("could not start receiving") as failed:
            await b.worker.beat()
            await asyncio.wait_for(failed.wait(), DEADLINE)
        assert not b.adapter.receiving and not api.calls_to("getUpdates", client="b")
        await b.worker.beat()
        await api.wait_call("getUpdates", client="b")
        assert api.token not in caplog.text


async def test_a_leader_that_lost_the_lease_stops_polling(tmp_path: Path, api: FakeBotApi) -> None:
    alice = api.add_user(1001, "Alice")
    async with processes(tmp_path, api, "a", "b") as (a, b):
        await api.wait_call("getUpdates", client="a")
        # The leader stops beating (a frozen loop, say): three beats later the lease is free.
        a.clock.advance(timedelta(seconds=a.worker.stale_after + 1))
        await b.worker.beat()
        assert b.worker.leads()
        await api.wait_call("getUpdates", client="b")
        await a.worker.beat()  # back: it finds the lease taken, and stops receiving
        assert not a.worker.leads()
        await api.wait_until(lambda: not a.adapter.receiving, what="the old leader stopped polling")
        polled_by_a = len(api.calls_to("getUpdates", client="a"))
        api.say(alice, "/help")
        [reply] = await api.wait_call("sendMessage", chat_id=1001)
        assert reply.client == "b"
        assert len(api.calls_to("getUpdates", client="a")) == polled_by_a


async def test_with_a_webhook_every_process_receives_and_only_the_leader_registers_it(
        tmp_path: Path, api: FakeBotApi) -> None:
    jane = api.add_user(1012, "Jane")
    jane.started = True
    ports = {"a": _free_port(), "b": _free_port()}
    hook = "https://bot.example.org/tg/hook"
    settings = {name: {"telegram_webhook_url": hook, "telegram_webhook_listen": f"127.0.0.1:{port}"}
                for name, port in ports.items()}
    async with processes(tmp_path, api, "a", "b", settings=settings) as (a, b):
        [registered] = api.calls_to("setWebhook")
        assert registered.client == "a" and registered["url"] == hook
        secret = registered["secret_token"]
        # The load balancer in front of the URL hands each update to one of them.
        await _post_update(ports["b"], secret, 1, jane, "/help")
        [reply] = await api.wait_call("sendMessage", chat_id=1012)
        assert reply.client == "b"
        await _post_update(ports["a"], secret, 2, jane, "/help")
        await api.wait_call("sendMessage", chat_id=1012, client="a")
        assert not api.calls_to("getUpdates")
        await a.close()
        await b.worker.beat()  # the new leader registers the webhook again, in case it was lost
        await api.wait_call("setWebhook", client="b")
        assert api.calls_to("setWebhook", client="b")[0]["secret_token"] == secret


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _logged(words: str) -> Iterator[asyncio.Event]:
    """An event set when a log record containing ``words`` is written."""
    seen = asyncio.Event()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if words in record.getMessage():
                seen.set()

    handler = Handler()
    logging.getLogger().addHandler(handler)
    try:
        yield seen
    finally:
        logging.getLogger().removeHandler(handler)


def _private(user_id: int, text: str) -> Any:
    from bot.models import Outgoing, UserRef

    return Outgoing(text, user=UserRef(f"telegram:{user_id}"))


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _post_update(port: int, secret: str, update_id: int, user: FakeUser, text: str) -> None:
    update = {"update_id": update_id, "message": {
        "message_id": 5 + update_id, "date": 1_742_198_400, "from": user.json(), "chat": user.private_chat(),
        "text": text, "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port}/tg/hook", json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as answer:
        assert answer.status == 200
