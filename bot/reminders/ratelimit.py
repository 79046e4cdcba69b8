"""Pacing sends under an adapter's declared limits.

Each limit is a bucket that hands out send slots no closer together than ``1 / rate``
(a burst of one): per adapter (messages/s), per chat (messages/s) and per group chat
(messages/min). A send takes the earliest slot free in every bucket it touches, so the
declared limits are never exceeded, however many sends are in flight. ``RateLimited`` from
the platform pauses the bucket it names (the whole adapter when it names none).

The buckets are held in the store (``RateBudget``), so every process sending through the same
account takes its slots from one budget: one process alone uses the whole limit, two share it
as their work comes, and a process that dies holds nothing (a slot is reserved only for the send
about to go). A fixed ``share`` (config ``rate_share``) instead keeps the buckets in this process
and takes that share of every limit: the old way, kept as an override.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.ports import RateBudget, RateLimits

Key = tuple[str, str]

BLOCK_SECONDS = 0.5
"""How much of a platform's shared bucket a process takes at once (a process that dies holds no
more than this)."""
_SLACK = timedelta(microseconds=1)


@dataclass
class _Bucket:
    interval: timedelta
    next_free: datetime | None = None


def _decide(overall: datetime, own: datetime, buckets: list[tuple[Key, timedelta, datetime | None]],
            ) -> tuple[tuple[datetime, bool], dict[Key, datetime]]:
    """The slot for a send given its buckets' next-free instants, and the buckets' new instants
    (none when the send must wait aside for its own chat)."""
    for (_platform, chat), _interval, next_free in buckets:
        if next_free is not None:
            if chat:
                own = max(own, next_free)
            else:
                overall = max(overall, next_free)
    if own > overall:
        return (own, False), {}
    return (overall, True), {key: overall + interval for key, interval, _ in buckets}


def _bucket_name(key: Key) -> str:
    return f"{key[0]}|{key[1]}"


def _epoch(when: datetime) -> float:
    return when.timestamp()


def _instant(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass
class Limiter:
    limits: Callable[[str], RateLimits]
    share: float = 1.0
    budget: RateBudget | None = None
    """Where the buckets live when shared by processes; None: in this process."""
    _buckets: dict[Key, _Bucket] = field(default_factory=dict)
    _paused: dict[str, datetime] = field(default_factory=dict)
    _blocks: dict[str, list[datetime]] = field(default_factory=dict)
    """Per platform, slots of its shared bucket this process holds: [next free, end)."""

    def _keys(self, platform: str, chat: str, group: bool) -> list[tuple[Key, timedelta]]:
        limits = self.limits(platform)
        share = self.share
        keys = []
        if limits.global_per_second:
            keys.append(((platform, ""), timedelta(seconds=1 / (limits.global_per_second * share))))
        if limits.per_chat_per_second:
            keys.append(((platform, chat), timedelta(seconds=1 / (limits.per_chat_per_second * share))))
        if group and limits.per_group_per_minute:
            keys.append(((platform, "group:" + chat),
                         timedelta(seconds=60 / (limits.per_group_per_minute * share))))
        return keys

    async def take(self, now: datetime, platform: str, chat: str, *, group: bool = False,
                   ) -> tuple[datetime, bool]:
        """Reserve the earliest slot at or after ``now`` for a send into ``chat``: ``(slot, True)``.

        Unless ``chat``'s own limits (its per-chat or per-group bucket, or a pause on it) free
        it later than the adapter-wide limits would: then nothing is reserved and the answer
        is ``(when the chat is free, False)``; such a send should wait aside, so that sends to
        other chats are not queued behind it.
        """
        overall = max(now, self._paused.get(platform, now))
        own = self._paused.get(chat, now)
        keys = self._keys(platform, chat, group)
        if self.budget is None or not keys:
            return self._take_here(overall, own, keys)
        # The platform's bucket is taken a block at a time (half a second of slots): a store
        # round trip per send would cap a process below the platform's rate. A group chat's own
        # buckets, which several processes may well send into at once, are taken from the store
        # send by send; a private chat's stay in this process (one person's reminders are
        # claimed and sent by one process at a time).
        chat_keys = [(key, interval) for key, interval in keys if key[1]]
        platform_keys = [(key, interval) for key, interval in keys if not key[1]]
        block: list[datetime] | None = None
        if platform_keys:
            (key, interval), = platform_keys
            block = self._blocks.get(platform)
            if block is None or max(overall, block[0]) + interval > block[1] + _SLACK:
                count = max(1, round(BLOCK_SECONDS / interval.total_seconds()))
                end = _instant(await self.budget.reserve_block(_bucket_name(key), _epoch(overall),
                                                               count * interval.total_seconds()))
                assert end is not None
                block = self._blocks[platform] = [end - count * interval, end]
            overall = max(overall, block[0])
        if group and chat_keys:
            names = {_bucket_name(key): (key, interval) for key, interval in chat_keys}

            def decide(stored: dict[str, float | None]) -> tuple[tuple[datetime, bool], dict[str, float]]:
                answer, changes = _decide(overall, own, [(key, interval, _instant(stored.get(name)))
                                                         for name, (key, interval) in names.items()])
                return answer, {_bucket_name(key): _epoch(when) for key, when in changes.items()}

            answer: tuple[datetime, bool] = await self.budget.reserve(list(names), decide)
        else:
            answer = self._take_here(overall, own, chat_keys)
        slot, reserved = answer
        if reserved and block is not None:
            block[0] = slot + platform_keys[0][1]
        return answer

    def _take_here(self, overall: datetime, own: datetime, keys: list[tuple[Key, timedelta]],
                   ) -> tuple[datetime, bool]:
        """``take`` on buckets kept in this process."""
        buckets = [self._buckets.setdefault(key, _Bucket(interval)) for key, interval in keys]
        answer, changes = _decide(overall, own, [(key, interval, bucket.next_free)
                                                 for (key, interval), bucket in zip(keys, buckets, strict=True)])
        for key, next_free in changes.items():
            self._buckets[key].next_free = next_free
        return answer

    def group_interval(self, platform: str) -> float | None:
        """Seconds between sends into one group chat, if the platform limits that."""
        per_minute = self.limits(platform).per_group_per_minute
        return 60 / (per_minute * self.share) if per_minute else None

    def paused_until(self, platform: str, chat: str) -> datetime | None:
        found = [t for t in (self._paused.get(platform), self._paused.get(chat)) if t is not None]
        return max(found) if found else None

    async def pause(self, until: datetime, platform: str, chat: str = "") -> None:
        """The platform said wait: nothing more to ``chat`` (or anywhere on it) until ``until``,
        from this process or, with a shared budget, any other."""
        key = chat or platform
        if self._paused.get(key) is None or self._paused[key] < until:
            self._paused[key] = until
        for (bucket_platform, bucket_chat), bucket in self._buckets.items():
            if bucket_platform == platform and (not chat or bucket_chat in {chat, "group:" + chat}) and (
                    bucket.next_free is None or bucket.next_free < until):
                bucket.next_free = until
        if not chat:
            self._blocks.pop(platform, None)  # slots held from before the pause are not to be used
        if self.budget is not None:
            names = [_bucket_name((platform, c)) for c in ((chat, "group:" + chat) if chat else ("",))]
            await self.budget.push_back(names, _epoch(until))

    def rate(self, platform: str) -> float | None:
        """Messages per second this process may send on the platform, if limited."""
        rate = self.limits(platform).global_per_second
        return rate * self.share if rate else None
