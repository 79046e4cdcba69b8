"""A fake chat platform for tests: push messages in, read what the bot sent.

Failures are injected per recipient (``unreachable``), as a queue (``fail_next``), or as a
rate limit the fake enforces itself (``enforce_rate``), so delivery policy can be tested
without a real platform.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bot.config import Config
from bot.errors import DeliveryFailed, RateLimited, RecipientUnreachable
from bot.models import ChatKind, ChatRef, Delivered, Incoming, Outgoing, UserRef
from bot.ports import Capability, Clock, MessageHandler, RateLimits


@dataclass
class SentRecord:
    message: Outgoing
    at: datetime | None


@dataclass
class FakeAdapter:
    """Capabilities and limits are settable per test; ``name`` is the id namespace."""

    name: str = "fake"
    capabilities: frozenset[Capability] = frozenset({Capability.DIRECT_MESSAGES, Capability.BUTTONS})
    limits: RateLimits = field(default_factory=RateLimits)
    clock: Clock | None = None
    room: ChatRef = field(default_factory=lambda: ChatRef("fake:room", ChatKind.GROUP, "room"))
    records: list[SentRecord] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)
    failures: list[Exception] = field(default_factory=list)
    _handler: MessageHandler | None = None
    _counter: int = 0

    @classmethod
    def from_config(cls, config: Config) -> FakeAdapter:
        return cls()

    def __post_init__(self) -> None:
        if self.room.id == "fake:room" and self.name != "fake":
            self.room = ChatRef(f"{self.name}:room", ChatKind.GROUP, "room")

    async def start(self, on_message: MessageHandler) -> None:
        self._handler = on_message

    async def stop(self) -> None:
        self._handler = None

    # -- driving the bot ------------------------------------------------------------

    def user(self, name: str) -> UserRef:
        return UserRef(f"{self.name}:{name}", name)

    def dm(self, name: str) -> ChatRef:
        return ChatRef(f"{self.name}:dm-{name}", ChatKind.PRIVATE, name)

    async def push(self, incoming: Incoming) -> list[Outgoing]:
        """Deliver an incoming message and return what the bot sent while handling it."""
        if self._handler is None:
            raise RuntimeError("adapter not started")
        before = len(self.records)
        await self._handler(incoming)
        return [r.message for r in self.records[before:]]

    async def say(self, user: str, text: str, *, chat: ChatRef | None = None,
                  locale: str | None = None) -> list[str]:
        """``user`` sends ``text`` (in the shared room by default); returns the reply texts."""
        sent = await self.push(Incoming(user=self.user(user), chat=chat or self.room, text=text, locale=locale))
        return [m.text for m in sent]

    async def press(self, user: str, action: str, *, chat: ChatRef | None = None) -> list[str]:
        sent = await self.push(Incoming(user=self.user(user), chat=chat or self.room, action=action))
        return [m.text for m in sent]

    # -- what was sent -----------------------------------------------------------------

    @property
    def sent(self) -> list[Outgoing]:
        return [r.message for r in self.records]

    def to(self, user: str) -> list[Outgoing]:
        """Messages sent privately to ``user`` (a bare name or a namespaced id)."""
        uid = user if ":" in user else f"{self.name}:{user}"
        return [m for m in self.sent if m.user is not None and m.user.id == uid]

    def in_chat(self, chat_id: str | None = None) -> list[Outgoing]:
        cid = chat_id or self.room.id
        return [m for m in self.sent if m.chat is not None and m.chat.id == cid]

    def texts(self, messages: Iterable[Outgoing] | None = None) -> list[str]:
        return [m.text for m in (self.sent if messages is None else messages)]

    def clear(self) -> None:
        self.records.clear()

    def fail_next(self, *errors: Exception) -> None:
        self.failures.extend(errors)

    # -- the port --------------------------------------------------------------------------

    async def send(self, message: Outgoing) -> Delivered:
        await asyncio.sleep(0)  # a real adapter yields to the loop while it sends
        if self.failures:
            error = self.failures.pop(0)
            raise error
        if message.user is not None and message.user.id in self.unreachable:
            raise RecipientUnreachable(message.user.id, "blocked the bot")
        self.records.append(SentRecord(message, self.clock.now() if self.clock else None))
        self._counter += 1
        return Delivered(message_id=str(self._counter))


__all__ = ["DeliveryFailed", "FakeAdapter", "RateLimited", "SentRecord"]
