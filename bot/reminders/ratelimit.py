"""Pacing sends under an adapter's declared limits.

Each limit is a bucket that hands out send slots no closer together than ``1 / rate``
(a burst of one): per adapter (messages/s), per chat (messages/s) and per group chat
(messages/min). A send takes the earliest slot free in every bucket it touches, so the
declared limits are never exceeded, however many sends are in flight. ``RateLimited`` from
the platform pauses the bucket it names (the whole adapter when it names none).

Buckets live in one process. Processes sharing an account each take ``share`` of every
limit (config ``rate_share``), so together they stay within it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.ports import RateLimits


@dataclass
class _Bucket:
    interval: timedelta
    next_free: datetime | None = None


@dataclass
class Limiter:
    limits: Callable[[str], RateLimits]
    share: float = 1.0
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _paused: dict[str, datetime] = field(default_factory=dict)

    def _keys(self, platform: str, chat: str, group: bool) -> list[tuple[tuple[str, str], timedelta]]:
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

    def take(self, now: datetime, platform: str, chat: str, *, group: bool = False) -> tuple[datetime, bool]:
        """Reserve the earliest slot at or after ``now`` for a send into ``chat``: ``(slot, True)``.

        Unless ``chat``'s own limits (its per-chat or per-group bucket, or a pause on it) free
        it later than the adapter-wide limits would: then nothing is reserved and the answer
        is ``(when the chat is free, False)``; such a send should wait aside, so that sends to
        other chats are not queued behind it.
        """
        overall = max(now, self._paused.get(platform, now))
        own = self._paused.get(chat, now)
        buckets = []
        for key, interval in self._keys(platform, chat, group):
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(interval)
            buckets.append(bucket)
            if bucket.next_free is not None:
                if key[1]:
                    own = max(own, bucket.next_free)
                else:
                    overall = max(overall, bucket.next_free)
        if own > overall:
            return own, False
        for bucket in buckets:
            bucket.next_free = overall + bucket.interval
        return overall, True

    def group_interval(self, platform: str) -> float | None:
        """Seconds between sends into one group chat, if the platform limits that."""
        per_minute = self.limits(platform).per_group_per_minute
        return 60 / (per_minute * self.share) if per_minute else None

    def paused_until(self, platform: str, chat: str) -> datetime | None:
        found = [t for t in (self._paused.get(platform), self._paused.get(chat)) if t is not None]
        return max(found) if found else None

    def pause(self, until: datetime, platform: str, chat: str = "") -> None:
        """The platform said wait: nothing more to ``chat`` (or anywhere on it) until ``until``."""
        key = chat or platform
        if self._paused.get(key) is None or self._paused[key] < until:
            self._paused[key] = until
        for (bucket_platform, bucket_chat), bucket in self._buckets.items():
            if bucket_platform == platform and (not chat or bucket_chat in {chat, "group:" + chat}) and (
                    bucket.next_free is None or bucket.next_free < until):
                bucket.next_free = until

    def rate(self, platform: str) -> float | None:
        """Messages per second this process may send on the platform, if limited."""
        rate = self.limits(platform).global_per_second
        return rate * self.share if rate else None
