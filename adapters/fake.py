"""A fake chat platform for tests: push messages in, read what the bot sent.

Failures are injected per recipient (``unreachable``), as a queue (``fail_next``), or as a
rate limit the fake enforces itself (``enforce``: token buckets on its clock that raise
``RateLimited`` like a platform's 429), so delivery policy can be tested without a real
platform.

For tests of the real process (``python -m bot run`` with ``adapters = ["fake"]``), settings
under ``[extra]`` make it deliver outside the process: ``fake_deliveries`` is a file to which
each delivery is appended as one JSON line (flushed and fsynced before ``send`` returns),
``fake_send_delay`` a per-send delay in seconds, and ``fake_rate`` a global limit it declares
and enforces (messages/s).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.clock import SystemClock
from bot.config import Config
from bot.errors import DeliveryFailed, RateLimited, RecipientUnreachable
from bot.models import ChatKind, ChatRef, Delivered, Incoming, Outgoing, UserRef
from bot.ports import Capability, Clock, MessageHandler, RateLimits


@dataclass
class _Bucket:
    """A platform-side token bucket: ``rate`` per ``per`` seconds, bursts up to ``rate``."""

    rate: float
    per: float
    tokens: float = -1.0
    at: datetime | None = None

    def take(self, now: datetime) -> float:
        """Consume one token; return 0, or the seconds to wait if there is none."""
        capacity = max(1.0, self.rate)
        if self.at is None or self.tokens < 0:
            self.tokens, self.at = capacity, now
        elapsed = max(0.0, (now - self.at).total_seconds())
        self.tokens = min(capacity, self.tokens + elapsed * self.rate / self.per)
        self.at = now
        if self.tokens >= 1 - 1e-6:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) * self.per / self.rate


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
    enforce: RateLimits | None = None
    deliveries: Path | None = None
    send_delay: float = 0.0
    rate_limited: int = 0
    connected: bool = False
    """True from ``start`` to ``stop``; a test sets it False to play a lost connection."""
    _handler: MessageHandler | None = None
    _counter: int = 0
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> FakeAdapter:
        extra = config.extra
        rate = float(extra["fake_rate"]) if extra.get("fake_rate") else None
        limits = RateLimits(global_per_second=rate)
        return cls(clock=SystemClock(), limits=limits, enforce=limits if rate else None,
                   deliveries=Path(extra["fake_deliveries"]) if extra.get("fake_deliveries") else None,
                   send_delay=float(extra.get("fake_send_delay", 0.0)))

    def __post_init__(self) -> None:
        if self.room.id == "fake:room" and self.name != "fake":
            self.room = ChatRef(f"{self.name}:room", ChatKind.GROUP, "room")

    async def start(self, on_message: MessageHandler) -> None:
        self._handler = on_message
        self.connected = True

    async def stop(self) -> None:
        self._handler = None
        self.connected = False

    # -- driving the bot ------------------------------------------------------------

    def user(self, name: str) -> UserRef:
        """A person whose handle is also their unique username."""
        return UserRef(f"{self.name}:{name}", name, username=name)

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

    def _enforce(self, message: Outgoing) -> None:
        if self.enforce is None or self.clock is None:
            return
        now = self.clock.now()
        checks: list[tuple[str, float, float]] = []
        limits = self.enforce
        if limits.global_per_second:
            checks.append(("", limits.global_per_second, 1.0))
        if limits.per_chat_per_second:
            checks.append((message.destination, limits.per_chat_per_second, 1.0))
        if limits.per_group_per_minute and message.chat is not None and not message.chat.is_private:
            checks.append(("group:" + message.destination, limits.per_group_per_minute, 60.0))
        for key, rate, per in checks:
            bucket = self._buckets.setdefault(key, _Bucket(rate, per))
            wait = bucket.take(now)
            if wait > 0:
                self.rate_limited += 1
                raise RateLimited(wait, message.destination if key else "")

    async def send(self, message: Outgoing) -> Delivered:
        if self.send_delay:
            await asyncio.sleep(self.send_delay)  # a real platform's round trip
        else:
            await asyncio.sleep(0)  # a real adapter yields to the loop while it sends
        if self.failures:
            error = self.failures.pop(0)
            raise error
        if message.user is not None and message.user.id in self.unreachable:
            raise RecipientUnreachable(message.user.id, "blocked the bot")
        self._enforce(message)
        at = self.clock.now() if self.clock else None
        if self.deliveries is not None:
            self._append(message, at)
        else:
            self.records.append(SentRecord(message, at))
        self._counter += 1
        return Delivered(message_id=str(self._counter))

    def _append(self, message: Outgoing, at: datetime | None) -> None:
        line = json.dumps({"to": message.destination, "kind": message.kind, "text": message.text,
                           "starts_at": message.starts_at.isoformat() if message.starts_at else None,
                           "at": at.isoformat() if at else None}, ensure_ascii=False)
        assert self.deliveries is not None
        with self.deliveries.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())


__all__ = ["DeliveryFailed", "FakeAdapter", "RateLimited", "SentRecord"]
