"""The composition root: reads settings, opens the store, the alarm clock and the adapters on
one ``AsyncExitStack``, and hands them to whoever needs them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from bot import live, mirror, reminders, web
from bot.alarms import Alarms, SchedulerAlarms
from bot.clock import SystemClock
from bot.commands import basic, calendars, link, roles, schedule
from bot.commands.router import Router
from bot.completion import Completer
from bot.config import Config
from bot.core import Bot
from bot.errors import AdapterUnavailable
from bot.i18n import LANGUAGES, translator
from bot.live.certificate import verified
from bot.messenger import Messenger
from bot.metrics import Metrics
from bot.ports import (
    ChatAdapter,
    Clock,
    CommandMenu,
    Finished,
    SupportsCommandMenu,
    SupportsExclusiveReceiving,
    SupportsStoredState,
)
from bot.services import Services
from bot.store.sql import SqlStore
from bot.workers import Worker

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "eventbot.adapters"

# Each feature module has ``register(router)`` and may have ``async setup(services, stack)``
# to start background work (rebuilding its alarms from the store) once the store is open.
FEATURES: tuple[ModuleType, ...] = (basic, schedule, roles, calendars, live, mirror, reminders, link, web)


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
    if config.matrix_homeserver:
        chosen.append("matrix")
    return chosen or ["console"]


@dataclass
class App:
    services: Services
    bot: Bot
    adapters: list[ChatAdapter] = field(default_factory=list)
    web: Any = None
    """The running web server (``bot.web.server.WebServer``), when ``web_port`` is set."""
    _stack: contextlib.AsyncExitStack | None = None
    # Features' ``started(services)``: work that needs the adapters up (catching up on them).
    _started: list[Callable[[Services], Awaitable[None]]] = field(default_factory=list)
    # Adapters that receive in one process at a time: whether they were last told to receive
    # (None: not yet), whether they should, and the task telling them.
    _receiving: bool | None = None
    _receive: bool = False
    _switching: asyncio.Task[None] | None = None

    async def start_adapters(self) -> None:
        """Start every adapter, let those that receive in one process at a time receive if
        this process leads, then publish the command menu where supported."""
        assert self._stack is not None
        services = self.services
        for adapter in self.adapters:
            await adapter.start(self.bot.handle)
            self._stack.push_async_callback(self._stop_adapter, adapter)
            services.messenger.running(adapter.name, True)
            log.info("adapter %s started", adapter.name)
        if self._exclusive_receivers():
            worker = services.worker
            self._receive = worker is None or worker.leads()
            await self._switch_receiving(failing=True)  # a leader that cannot receive does not start
            self._stack.push_async_callback(self._stop_receiving)  # before the adapters stop
            if worker is not None:
                self._stack.callback(worker.watch_lead(self._lead_changed))
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

    def _exclusive_receivers(self) -> list[SupportsExclusiveReceiving]:
        return [a for a in self.adapters if isinstance(a, SupportsExclusiveReceiving)]

    def _lead_changed(self, leading: bool) -> None:
        # Called from the heartbeat, which a slow platform must not hold up: switch in a task.
        self._receive = leading
        if self._receiving != leading and (self._switching is None or self._switching.done()):
            self._switching = asyncio.create_task(self._switch_receiving(), name="switch receiving")

    async def _switch_receiving(self, *, failing: bool = False) -> None:
        """Tell the exclusive receivers what ``_receive`` says until they have been told it; a
        failure is raised with ``failing``, else logged and tried again after the next heartbeat."""
        while self._receiving != self._receive:
            on = self._receive
            for adapter in self._exclusive_receivers():
                try:
                    await adapter.set_receiving(on)
                except Exception as exc:
                    if failing:
                        raise
                    log.warning("could not %s receiving on %s: %s", "start" if on else "stop",
                                getattr(adapter, "name", adapter), exc)
                    return
            self._receiving = on
            log.info("receiving on %s: %s", ", ".join(getattr(a, "name", "?") for a in self._exclusive_receivers()),
                     "on (this process leads)" if on else "off (another process receives)")

    async def _stop_receiving(self) -> None:
        self._receive = False
        if self._switching is not None:
            await asyncio.gather(self._switching, return_exceptions=True)
        await self._switch_receiving()
    async def _stop_adapter(self, adapter: ChatAdapter) -> None:
        self.services.messenger.running(adapter.name, False)
        await adapter.stop()

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


def settle_heap() -> None:
    """Once the bot has started: what start-up built (modules, the schema, compiled
    statements, the catalogs) lives as long as the process, so the cyclic garbage collector
    is told to leave it alone. Otherwise each full collection walks all of it with
    everything stopped: 30 to 36 ms, measured in the middle of a vote storm
    (``benchmarks/vote_storm.py``), which every vote then in flight waits out."""
    gc.collect()
    gc.freeze()


@contextlib.asynccontextmanager
async def open_app(config: Config, *, adapters: Sequence[ChatAdapter] = (), clock: Clock | None = None,
                   alarms: Alarms | None = None, features: Sequence[ModuleType] = FEATURES,
                   start_adapters: bool = True, web_any_port: bool = False) -> AsyncIterator[App]:
    """Open everything the bot needs and close it all, in reverse order, on exit.

    ``web_any_port``: if ``web_port`` is taken, serve on a free one instead (the demo)."""
    clock = clock or SystemClock()
    async with contextlib.AsyncExitStack() as stack:
        store = await SqlStore.open(config.db, clock)
        stack.push_async_callback(store.close)
        for adapter in adapters:
            if isinstance(adapter, SupportsStoredState):
                adapter.use_state(store.adapter_state)
        # Before any feature claims work, and stopped after they all have.
        worker = Worker(store.workers, clock, heartbeat_seconds=config.worker_heartbeat_seconds)
        await worker.start()
        stack.push_async_callback(worker.stop)
        alarms = alarms or SchedulerAlarms(clock)
        metrics = Metrics()
        messenger = Messenger(adapters, clock, metrics=metrics)
        services = Services(config=config, store=store, clock=clock, messenger=messenger,
                            router=build_router(features), alarms=alarms, worker=worker, metrics=metrics)
        services.verify_certificate = functools.partial(verified, store)
        bot = Bot(services)
        for feature in features:
            setup = getattr(feature, "setup", None)
            if setup is not None:
                await setup(services, stack)
        alarms.start()
        stack.push_async_callback(alarms.shutdown)
        app = App(services=services, bot=bot, adapters=list(adapters), _stack=stack,
                  _started=[hook for f in features if (hook := getattr(f, "started", None)) is not None])
        if config.web_port is not None:
            # Imported here: aiohttp and Jinja2 load only when the pages are served.
            from bot.web.server import open_web

            app.web = await open_web(services, bot, stack, any_port_if_taken=web_any_port)
        if start_adapters:
            await app.start_adapters()
        yield app
