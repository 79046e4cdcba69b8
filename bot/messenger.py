"""Routes outgoing messages to the adapter that owns the destination's namespace."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.errors import AdapterUnavailable, RateLimited
from bot.metrics import Metrics
from bot.models import Delivered, Outgoing, platform_of
from bot.ports import Capability, ChatAdapter, RateLimits

log = logging.getLogger(__name__)


class Messenger:
    """The core's one way out: ``send`` picks the adapter by the id's namespace."""

    def __init__(self, adapters: Iterable[ChatAdapter] = (), *, metrics: Metrics | None = None) -> None:
        self._adapters: dict[str, ChatAdapter] = {}
        self._metrics = metrics
        for adapter in adapters:
            self.add(adapter)

    def add(self, adapter: ChatAdapter) -> None:
        self._adapters[adapter.name] = adapter

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
            if self._metrics is not None:
                self._metrics.rate_limited.labels(adapter.name).inc()
            raise
