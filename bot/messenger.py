"""Routes outgoing messages to the adapter that owns the destination's namespace, and keeps
the little each adapter's health needs (its last error, the rate limits it met) as it goes."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.clock import SystemClock
from bot.errors import AdapterUnavailable, DeliveryFailed, RateLimited, RecipientUnreachable
from bot.metrics import Metrics
from bot.models import Delivered, Outgoing, platform_of
from bot.ports import AdapterHealth, Capability, ChatAdapter, Clock, RateLimits, ReportsConnection

log = logging.getLogger(__name__)

RATE_WINDOW = timedelta(hours=1)


class _Seen:
    """What the messenger saw of one adapter's sends."""

    def __init__(self) -> None:
        self.running = False
        self.last_error = ""
        self.last_error_at: datetime | None = None
        self.rate_limited: deque[datetime] = deque()

    def forget_before(self, cutoff: datetime) -> None:
        while self.rate_limited and self.rate_limited[0] < cutoff:
            self.rate_limited.popleft()


class Messenger:
    """The core's one way out: ``send`` picks the adapter by the id's namespace."""

    def __init__(self, adapters: Iterable[ChatAdapter] = (), clock: Clock | None = None, *,
                 metrics: Metrics | None = None) -> None:
        self._adapters: dict[str, ChatAdapter] = {}
        self._seen: dict[str, _Seen] = {}
        self.clock: Clock = clock or SystemClock()
        self._metrics = metrics
        for adapter in adapters:
            self.add(adapter)

    def add(self, adapter: ChatAdapter) -> None:
        self._adapters[adapter.name] = adapter
        self._seen.setdefault(adapter.name, _Seen())

    @property
    def adapters(self) -> list[ChatAdapter]:
        return list(self._adapters.values())

    def adapter_for(self, namespaced_id: str) -> ChatAdapter:
        platform = platform_of(namespaced_id)
        try:
            return self._adapters[platform]
        except KeyError:
            raise AdapterUnavailable(platform, "not running") from None

    def can(self, namespaced_id: str, capability: Capability) -> bool:
        adapter = self._adapters.get(platform_of(namespaced_id))
        return adapter is not None and capability in adapter.capabilities

    def limits(self, platform: str) -> RateLimits:
        adapter = self._adapters.get(platform)
        return adapter.limits if adapter is not None else RateLimits()

    async def send(self, message: Outgoing) -> Delivered:
        """Deliver through the owning adapter; adapter errors propagate to the caller."""
        adapter = self.adapter_for(message.destination)
        try:
            return await adapter.send(message)
        except RateLimited:
            seen = self._seen[adapter.name]
            now = self.clock.now()
            seen.rate_limited.append(now)
            seen.forget_before(now - RATE_WINDOW)
            if self._metrics is not None:
                self._metrics.rate_limited.labels(adapter.name).inc()
            raise
        except RecipientUnreachable:
            raise  # the person's doing, not the platform's
        except DeliveryFailed as exc:
            seen = self._seen[adapter.name]
            seen.last_error, seen.last_error_at = exc.reason, self.clock.now()
            raise

    def running(self, name: str, running: bool) -> None:
        """Note that an adapter has started (or stopped) receiving."""
        self._seen.setdefault(name, _Seen()).running = running

    def health(self) -> list[AdapterHealth]:
        """Every adapter's state now, in the order they were added."""
        now = self.clock.now()
        found = []
        for name, adapter in self._adapters.items():
            seen = self._seen[name]
            seen.forget_before(now - RATE_WINDOW)
            connected = seen.running and (adapter.connected if isinstance(adapter, ReportsConnection) else True)
            found.append(AdapterHealth(name=name, connected=connected, last_error=seen.last_error,
                                       last_error_at=seen.last_error_at,
                                       rate_limited_last_hour=len(seen.rate_limited)))
        return found
