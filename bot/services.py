"""The services handed to command handlers and background jobs: built once, by the app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.alarms import Alarms
from bot.config import Config
from bot.messenger import Messenger
from bot.metrics import Metrics
from bot.models import Occurrence
from bot.ports import CertificateVerifier, Clock, Store

if TYPE_CHECKING:
    from bot.commands.router import Router
    from bot.reminders.service import ReminderService
    from bot.workers import Worker

PersonListener = Callable[[str], Awaitable[None]]


class Schedule(Protocol):
    """Where occurrences come from when a window may lie beyond the materialised horizon."""

    async def occurrences_between(self, start: datetime, end: datetime, *,
                                  calendar: str | None = None) -> list[Occurrence]:
        """Occurrences overlapping ``[start, end)``, expanding stored series if needed."""
        ...


@dataclass
class Services:
    config: Config
    store: Store
    clock: Clock
    messenger: Messenger
    router: Router
    alarms: Alarms
    calendars: Schedule | None = None
    reminders: ReminderService | None = None
    worker: Worker | None = None
    """This process's row among the database's workers; what it claims is claimed for it."""
    metrics: Metrics = field(default_factory=Metrics)
    """This app's counters, served at ``/metrics``; the composition root builds it."""
    verify_certificate: CertificateVerifier | None = None
    """Finds a certificate by its verification code, for ``/verify/<code>``."""
    person_listeners: list[PersonListener] = field(default_factory=list)
    private_listeners: list[PersonListener] = field(default_factory=list)

    async def person_changed(self, user_id: str) -> None:
        """Tell interested features (reminder planning) that a person's subscriptions or
        settings changed."""
        for listener in self.person_listeners:
            await listener(user_id)

    async def heard_in_private(self, user_id: str) -> None:
        """Tell interested features (reminders) that a person wrote to the bot in a private
        chat, so private messages reach them."""
        for listener in self.private_listeners:
            await listener(user_id)
