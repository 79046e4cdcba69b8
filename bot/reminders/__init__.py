"""Reminders that never go missing, never come twice, and arrive on time.

The feature: a durable outbox (``bot.store.reminders``), a planner that keeps it in step with
subscriptions, settings and the programme (``planner``), a dispatcher that claims and sends
within the platforms' limits (``dispatcher``), personal settings commands (``commands``) and
the organisers' view (``eventbot reminders``, a daily digest).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING

from bot.calendars import CalendarService, ChangeListener, SyncReport
from bot.commands.router import Router
from bot.reminders import commands
from bot.reminders.service import ReminderService

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["ReminderService", "add_cli", "register", "setup"]


def register(router: Router) -> None:
    commands.register(router)


async def setup(services: Services, stack: contextlib.AsyncExitStack) -> None:
    service = ReminderService(services)
    services.reminders = service
    services.person_listeners.append(service.person_changed)
    services.private_listeners.append(service.heard_in_private)
    if isinstance(services.calendars, CalendarService):
        services.calendars.add_listener(_follow_calendar(service))
    await service.start()
    stack.push_async_callback(service.dispatcher.close)


def _follow_calendar(service: ReminderService) -> ChangeListener:
    """After each feed refresh: new and restored sessions get reminders, moved ones move
    theirs, and cancelled or vanished ones lose theirs."""

    async def on_sync(report: SyncReport) -> None:
        changed = [o.id for o in report.added] + [c.after.id for c in report.changed + report.restored]
        await service.occurrences_changed(changed, [o.id for o in report.cancelled])

    return on_sync


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.reminders.cli import add_parser

    add_parser(subparsers)
