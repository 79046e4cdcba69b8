"""The composition root: reads settings, opens the store, the alarm clock and the adapters on
one ``AsyncExitStack``, and hands them to whoever needs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from bot import live, mirror, reminders
from bot.alarms import Alarms, SchedulerAlarms
from bot.clock import SystemClock
from bot.commands import basic, calendars, roles, schedule
from bot.commands.router import Router
from bot.completion import Completer
from bot.config import Config
from bot.core import Bot
from bot.errors import AdapterUnavailable
from bot.i18n import LANGUAGES, translator
from bot.messenger import Messenger
from bot.metrics import Metrics
from bot.ports import ChatAdapter, Clock, CommandMenu, Finished, SupportsCommandMenu
from bot.services import Services
from bot.store.sql import SqlStore
from bot.workers import Worker

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "eventbot.adapters"

# Each feature module has ``register(router)`` and may have ``async setup(services, stack)``
# to start background work (rebuilding its alarms from the store) once the store is open.
FEATURES: tuple[ModuleType, ...] = (basic, schedule, roles, calendars, live, mirror, reminders)


def build_router(features: Sequence[ModuleType] = FEATURES) -> Router:
    router = Router()
    for feature in features:
        feature.register(router)
    return router


def available_adapters() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_adapter(name: str, config: Config) -> ChatAdapter:
    """Build an adapter found through the ``eventbot.adapters`` entry points.

    Raises:
        AdapterUnavailable: Unknown name, its platform SDK is not installed, or its
            settings (a token) are missing.
    """
    found = available_adapters()
    if name not in found:
        known = ", ".join(sorted(n for n in found if n != "fake")) or "none"
        raise AdapterUnavailable(name, f"unknown adapter (available: {known})")
    try:
        factory = found[name].load()
    except ImportError as exc:
        raise AdapterUnavailable(name, f"install eventbot[{name}] ({exc.name or exc})") from exc
    adapter: ChatAdapter = factory.from_config(config)
    return adapter


def default_adapters(config: Config) -> list[str]:
    if config.adapters:
        return list(config.adapters)
    chosen = []
    if config.telegram_token:
        chosen.append("telegram")
    if config.discord_token:
        chosen.append("discord")
    return chosen or ["console"]


@dataclass
class App:
    services: Services
    bot: Bot
    adapters: list[ChatAdapter] = field(default_factory=list)
    _stack: contextlib.AsyncExitStack | None = None
    # Features' ``started(services)``: work that needs the adapters up (catching up on them).
    _started: list[Callable[[Services], Awaitable[None]]] = field(default_factory=list)

    async def start_adapters(self) -> None:
        """Start receiving on every adapter, then publish the command menu where supported."""
        assert self._stack is not None
        services = self.services
        for adapter in self.adapters:
            await adapter.start(self.bot.handle)
            self._stack.push_async_callback(adapter.stop)
            log.info("adapter %s started", adapter.name)
        menu = CommandMenu(commands=services.router.commands(), languages=tuple(LANGUAGES),
                           translate=lambda msgid, lang: translator(lang)(msgid),
                           complete=Completer(services))
        for adapter in self.adapters:
            if isinstance(adapter, SupportsCommandMenu):
                try:
                    await adapter.publish_commands(menu)
                except Exception:
                    log.exception("could not publish commands to %s", adapter.name)
        for hook in self._started:
            try:
                await hook(services)
            except Exception:
                log.exception("a feature failed to catch up after start")

    @property
    def store(self) -> SqlStore:
        return self.services.store  # type: ignore[return-value]

    async def wait_finished(self) -> None:
        """Return when an adapter that can finish (the console at end of input) has finished."""
        for adapter in self.services.messenger.adapters:
            if isinstance(adapter, Finished):
                await adapter.wait_finished()
                return
        # No adapter ends by itself: run until cancelled.
        await asyncio.Event().wait()


@contextlib.asynccontextmanager
async def open_app(config: Config, *, adapters: Sequence[ChatAdapter] = (), clock: Clock | None = None,
                   alarms: Alarms | None = None, features: Sequence[ModuleType] = FEATURES,
                   start_adapters: bool = True) -> AsyncIterator[App]:
    """Open everything the bot needs and close it all, in reverse order, on exit."""
    clock = clock or SystemClock()
    async with contextlib.AsyncExitStack() as stack:
        store = await SqlStore.open(config.db, clock)
        stack.push_async_callback(store.close)
        # Before any feature claims work, and stopped after they all have.
        worker = Worker(store.workers, clock, heartbeat_seconds=config.worker_heartbeat_seconds)
        await worker.start()
        stack.push_async_callback(worker.stop)
        alarms = alarms or SchedulerAlarms(clock)
        metrics = Metrics()
        messenger = Messenger(adapters, metrics=metrics)
        services = Services(config=config, store=store, clock=clock, messenger=messenger,
                            router=build_router(features), alarms=alarms, worker=worker, metrics=metrics)
        bot = Bot(services)
        for feature in features:
            setup = getattr(feature, "setup", None)
            if setup is not None:
                await setup(services, stack)
        alarms.start()
        stack.push_async_callback(alarms.shutdown)
        app = App(services=services, bot=bot, adapters=list(adapters), _stack=stack,
                  _started=[hook for f in features if (hook := getattr(f, "started", None)) is not None])
        if start_adapters:
            await app.start_adapters()
        yield app
