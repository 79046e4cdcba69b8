"""Is this bot process well (``/healthz``, the Docker HEALTHCHECK)?

Well means the store answers a trivial query and every adapter the app runs is connected to
its platform (``ports.ReportsConnection``). The reasons are short and safe to show to anyone
who can reach the health check: no database address, no token, no platform's own words.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from bot.ports import ReportsConnection
from bot.services import Services

log = logging.getLogger(__name__)

STORE_TIMEOUT = 5.0
"""Seconds the store has to answer; a health check must answer, even when the database hangs."""


class HasServices(Protocol):
    @property
    def services(self) -> Services: ...


async def health(target: Services | HasServices, *, store_timeout: float = STORE_TIMEOUT) -> tuple[bool, list[str]]:
    """``(ok, reasons)``: ok when the store answers and every adapter is connected; otherwise
    one line per problem, such as ``store: no answer in 5 s`` or ``telegram: not connected``.
    Takes the app or its services."""
    services = target if isinstance(target, Services) else target.services
    reasons: list[str] = []
    try:
        await asyncio.wait_for(services.store.ping(), store_timeout)
    except TimeoutError:
        reasons.append(f"store: no answer in {store_timeout:g} s")
    except Exception as exc:
        log.warning("health check: the store did not answer: %s", exc)
        reasons.append(f"store: {type(exc).__name__}")
    for adapter in services.messenger.adapters:
        if isinstance(adapter, ReportsConnection) and not adapter.connected:
            reasons.append(f"{adapter.name}: not connected")
    return not reasons, reasons
