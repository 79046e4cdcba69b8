"""People on a real Synapse, as matrix-nio clients, and the bot beside them.

A ``Person`` syncs only when a test waits for something, collecting every timeline event it
sees; ``wait_for`` syncs until a predicate holds or a deadline passes (no blind sleeping).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    RoomCreateResponse,
    RoomSendResponse,
    SyncResponse,
)

from adapters.matrix import MatrixAdapter
from bot.alarms import Alarms, ManualAlarms
from bot.app import App, open_app
from bot.clock import FakeClock
from bot.config import Config
from bot.ports import ChatAdapter, Clock
from tests.harness import START
from tests.synapse import PEOPLE, Account, Synapse

_FIRST_SYNCS = itertools.count()
DEADLINE = 60.0  # seconds; a loaded CI runner is slow, a working bot answers in well under one


async def eventually(check: Callable[[], Awaitable[Any]], what: str, deadline: float = DEADLINE) -> Any:
    """Await ``check()`` until it gives something truthy (the bot works beside the test)."""
    end = time.monotonic() + deadline
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what} (last: {result!r})")
        await asyncio.sleep(0.05)  # polling the store the bot writes from its own task


@dataclass(frozen=True)
class Seen:
    room_id: str
    event: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.event.get("type"))

    @property
    def sender(self) -> str:
        return str(self.event.get("sender"))

    @property
    def content(self) -> dict[str, Any]:
        return dict(self.event.get("content") or {})

    @property
    def body(self) -> str:
        return str(self.content.get("body", ""))

    @property
    def event_id(self) -> str:
        return str(self.event.get("event_id"))


@dataclass
class Person:
    account: Account
    client: AsyncClient
    seen: list[Seen] = field(default_factory=list)
    next_batch: str | None = None

    @property
    def user_id(self) -> str:
        return self.account.user_id

    @classmethod
    @contextlib.asynccontextmanager
    async def signed_in(cls, synapse: Synapse, account: Account) -> AsyncIterator[Person]:
        client = AsyncClient(synapse.url, account.user_id, device_id=account.device_id, store_path=None,
                             config=AsyncClientConfig(max_limit_exceeded=None, max_timeouts=3))
        client.access_token = account.access_token
        person = cls(account, client)
        try:
            # From now on: what happened before the test is not "seen". The timeout of its own
            # keeps Synapse from answering with a /sync response it cached for this account
            # (two minutes), whose position would be behind (an initial sync never waits anyway).
            await person.sync(1 + next(_FIRST_SYNCS))
            person.seen.clear()
            yield person
        finally:
            await client.close()

    async def sync(self, timeout_ms: int = 500) -> None:
        response = await self.client.sync(timeout=timeout_ms, since=self.next_batch,
                                          sync_filter={"room": {"timeline": {"limit": 200}}})
        assert isinstance(response, SyncResponse), response
        self.next_batch = response.next_batch
        for room_id in response.rooms.invite:
            joined = await self.client.join(room_id)
            assert isinstance(joined, JoinResponse), joined
        for room_id, info in response.rooms.join.items():
            self.seen += [Seen(room_id, e.source) for e in info.timeline.events]

    async def wait_for(self, found: Callable[[list[Seen]], Any], what: str = "", deadline: float = DEADLINE) -> Any:
        end = time.monotonic() + deadline
        while True:
            result = found(self.seen)
            if result:
                return result
            if time.monotonic() > end:
                raise AssertionError(f"{self.user_id} never saw {what or found}: "
                                     f"{[(s.type, s.body[:60]) for s in self.seen[-10:]]}")
            await self.sync()

    async def from_bot(self, bot_id: str, room_id: str, text: str, what: str = "") -> Seen:
        """The first message from the bot in the room whose body holds ``text``."""
        def match(seen: list[Seen]) -> Seen | None:
            return next((s for s in seen if s.room_id == room_id and s.sender == bot_id
                         and s.type == "m.room.message" and text in s.body), None)
        return await self.wait_for(match, what or text)  # type: ignore[no-any-return]

    async def say(self, room_id: str, text: str, **extra: Any) -> str:
        content = {"msgtype": "m.text", "body": text, **extra}
        return await self.send(room_id, "m.room.message", content)

    async def send(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        response = await self.client.room_send(room_id, event_type, content)
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def create_room(self, *, invite: list[str], direct: bool = False, encrypted: bool = False,
                          name: str | None = None) -> str:
        state = [{"type": "m.room.encryption", "state_key": "",
                  "content": {"algorithm": "m.megolm.v1.aes-sha2"}}] if encrypted else []
        response = await self.client.room_create(is_direct=direct, invite=invite, name=name, initial_state=state)
        assert isinstance(response, RoomCreateResponse), response
        return str(response.room_id)


@dataclass
class MatrixBot:
    """The core with a real MatrixAdapter on the test Synapse."""

    config: Config
    account: Account
    synapse: Synapse
    clock: Clock
    alarms: Alarms | None
    others: Sequence[Callable[[Config], ChatAdapter]] = ()
    """Other platforms' adapters beside Matrix in the one app, each made anew on every open."""
    app: App = field(init=False)
    adapter: MatrixAdapter = field(init=False)
    _stack: contextlib.AsyncExitStack = field(init=False, default_factory=contextlib.AsyncExitStack)

    @property
    def user_id(self) -> str:
        return self.account.user_id

    async def open(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self.adapter = MatrixAdapter(self.synapse.url, self.account.user_id, token=self.account.access_token,
                                     rate=self.config.matrix_rate, organisers=self.config.organisers,
                                     sync_timeout_ms=1000)
        self.app = await self._stack.enter_async_context(open_app(
            self.config, adapters=[self.adapter, *(make(self.config) for make in self.others)], clock=self.clock, alarms=self.alarms))

    async def close(self) -> None:
        await self._stack.aclose()

    async def restart(self) -> None:
        await self.close()
        await self.open()


@contextlib.asynccontextmanager
async def matrix_bot(tmp_path: Path, synapse: Synapse, account: Account, *, real_time: bool = False,
                     others: Sequence[Callable[[Config], ChatAdapter]] = (),
                     **settings: Any) -> AsyncIterator[MatrixBot]:
    """The bot on its own database; on a fake clock moved by hand unless ``real_time``."""
    config = replace(Config(), db=tmp_path / "bot.db", **{"outbox_check_seconds": 0, "matrix_rate": 1000.0,
                                                            **settings})
    clock: Clock
    alarms: Alarms | None
    if real_time:
        from bot.clock import SystemClock
        clock, alarms = SystemClock(), None
    else:
        fake = FakeClock(START)
        clock, alarms = fake, ManualAlarms(fake)
    bot = MatrixBot(config, account, synapse, clock, alarms, others)
    await bot.open()
    try:
        yield bot
    finally:
        await bot.close()


@dataclass
class World:
    synapse: Synapse
    bot: MatrixBot
    alice: Person
    bob: Person
    carol: Person

    @property
    def people(self) -> tuple[Person, ...]:
        return (self.alice, self.bob, self.carol)

    async def direct_chat(self, person: Person) -> str:
        """The person starts a direct chat with the bot, as Element's "Start chat" does."""
        room = await person.create_room(invite=[self.bot.user_id], direct=True)
        await person.wait_for(lambda seen: any(s.room_id == room and s.type == "m.room.member"
                                               and s.event.get("state_key") == self.bot.user_id
                                               and s.content.get("membership") == "join" for s in seen),
                              "the bot joining the direct chat")
        return room

    async def group(self, *members: Person, name: str = "Workshop", by: Person | None = None) -> str:
        """Alice (or ``by``) makes a room and invites the bot and the others; all of them join."""
        maker = by or self.alice
        room = await maker.create_room(invite=[self.bot.user_id, *(m.user_id for m in members)], name=name)
        for member in members:
            await member.wait_for(lambda seen: any(s.room_id == room for s in seen), f"joining {name}")
        await maker.wait_for(lambda seen: any(
            s.room_id == room and s.event.get("state_key") == self.bot.user_id
            and s.content.get("membership") == "join" for s in seen), "the bot joining")
        return room


@contextlib.asynccontextmanager
async def world(tmp_path: Path, synapse: Synapse, *, bot: str = "eventbot", real_time: bool = False,
                organisers: tuple[str, ...] | None = None, **settings: Any) -> AsyncIterator[World]:
    """Alice, Bob and Carol signed in, and the bot running; Matrix Alice organises unless told otherwise."""
    if organisers is None:
        organisers = (f"matrix:{synapse.accounts['alice'].user_id}",)
    async with contextlib.AsyncExitStack() as stack:
        people = [await stack.enter_async_context(Person.signed_in(synapse, synapse.accounts[n])) for n in PEOPLE]
        the_bot = await stack.enter_async_context(matrix_bot(
            tmp_path, synapse, synapse.accounts[bot], real_time=real_time, organisers=organisers, **settings))
        yield World(synapse, the_bot, *people)
