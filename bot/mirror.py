"""Mirror the programme into platforms that show events natively (Discord's Scheduled Events).

The store stays the source of truth: every run hands each mirroring adapter the sessions on
now and coming up, and the adapter makes its copy match. Runs every 15 minutes, so a feed
refresh (a new time, a cancellation) reaches the mirror within one interval; call
``mirror_now`` after a refresh to make it immediate.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from bot.commands.router import Router
from bot.ports import SupportsEventMirror
from bot.services import Services
from bot.workers import once_across

log = logging.getLogger(__name__)

INTERVAL = timedelta(minutes=15)
FIRST_RUN = timedelta(minutes=1)  # after the adapters have connected
LIMIT = 100  # Discord allows 100 active scheduled events per server


async def mirror_now(services: Services) -> int:
    """Hand the current programme to every mirroring adapter; return how many sessions."""
    mirrors = [a for a in services.messenger.adapters if isinstance(a, SupportsEventMirror)]
    if not mirrors:
        return 0
    now = services.clock.now()
    found = await services.store.calendars.occurrences_between(
        now, now + timedelta(days=services.config.horizon_days))
    found = found[:LIMIT]
    for adapter in mirrors:
        try:
            await adapter.mirror_occurrences(found, now)
        except Exception:
            log.exception("could not mirror %d sessions to %s", len(found), getattr(adapter, "name", adapter))
    return len(found)


def register(router: Router) -> None:
    """No chat commands: the mirror follows the store."""


async def setup(services: Services, stack: contextlib.AsyncExitStack) -> None:
    if not any(isinstance(a, SupportsEventMirror) for a in services.messenger.adapters):
        return

    async def run() -> None:
        await mirror_now(services)

    services.alarms.every("mirror-events", INTERVAL, once_across(services, "mirror-events", run),
                          first=services.clock.now() + FIRST_RUN)
