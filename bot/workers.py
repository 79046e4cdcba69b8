"""This process as a worker on the database: a row with a heartbeat, so that what it claims
belongs to a live process and comes back at once when it dies.

* Every process that opens the app registers a worker and beats every
  ``worker_heartbeat_seconds`` (2). Claims (the reminder outbox's) carry the worker's id.
* A worker silent for ``STALE_BEATS`` heartbeats, or whose row is gone, is taken for dead:
  anyone may return its claims to pending (the dispatcher does, and wakes for it).
* On start, before anything is claimed, a process forgets the workers it knows to be dead:
  every silent one, and earlier processes on this host whose pid is no longer running (a
  restart after a crash). A worker on this host whose process is still there, or on another
  host with a recent heartbeat, may be alive and working: it is left alone.
* A clean stop removes the row; a worker that finds its row gone (it was silent too long,
  say under a frozen event loop) registers again.
* One live worker holds the ``scheduler`` lease, renewed with each heartbeat and lost by a
  worker silent for ``STALE_BEATS`` beats (or gone, or stopped: a clean stop gives it up at
  once). The jobs that must run once across processes (``once_across``) run only there; the
  others leave them to it, and take over when it dies.
* Whoever must know whether this process leads (the app, for platforms where one process at a
  time may receive) watches the lease: ``watch_lead`` hears after every heartbeat whether this
  process will still hold it at the next one. A process whose heartbeats stop renewing it is
  told it no longer leads a heartbeat before the lease can pass to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.ports import Clock, WorkerInfo, WorkerRepository

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

STALE_BEATS = 3
"""A worker whose last heartbeat is this many periods old is taken for dead."""

SCHEDULER_LEASE = "scheduler"
"""The lease of the process that runs the jobs that must run once across processes."""

LeadListener = Callable[[bool], None]
"""Told, after each heartbeat, whether this process leads (and will at the next heartbeat)."""

_PROC = Path("/proc")


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> str | None:
    """When a process started (clock ticks since boot, Linux), or None if there is no such
    process."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces, in parentheses); start time is
    # field 22, the 20th after it.
    return stat.rpartition(")")[2].split()[19]


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """Which process a worker is: host, pid, and what tells it from a later process that is
    given the same pid (``boot id/start ticks`` on Linux, empty elsewhere)."""

    host: str
    pid: int
    process_start: str = ""

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        ticks = _start_ticks(pid)
        boot = _boot_id()
        return cls(socket.gethostname(), pid, f"{boot}/{ticks}" if boot and ticks else "")

    @classmethod
    def current(cls) -> ProcessIdentity:
        return cls.of(os.getpid())

    def is_gone(self, worker: WorkerInfo) -> bool:
        """True only if ``worker`` is surely a process of this host that no longer runs; False
        when it may be alive (another host, the process is there, or the system cannot say)."""
        if worker.host != self.host:
            return False
        boot, _sep, ticks = worker.process_start.partition("/")
        mine = self.process_start.partition("/")[0]
        if boot and mine:
            if boot != mine:
                return True  # started before this machine last booted
            return _start_ticks(worker.pid) != ticks  # gone, or its pid now another process's
        if worker.pid == self.pid:
            return False  # this very process, as far as anyone can tell
        if os.name != "posix":
            return False
        try:
            os.kill(worker.pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except OSError:
            return False  # it exists, under another user
        return False


class Worker:
    def __init__(self, repo: WorkerRepository, clock: Clock, *, heartbeat_seconds: int = 2,
                 identity: ProcessIdentity | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.repo = repo
        self.clock = clock
        self.period = max(1, heartbeat_seconds)
        self.identity = identity or ProcessIdentity.current()
        self.id: int | None = None
        self._task: asyncio.Task[None] | None = None
        # This process's own time, by which it judges its lease (never the Clock, which tests
        # move by hand and which another process's clock may disagree with).
        self._monotonic = monotonic
        self._held_at: float | None = None  # monotonic time the scheduler lease was last held
        self._listeners: list[LeadListener] = []
        self._lapse: asyncio.TimerHandle | None = None  # tells listeners if the lease is not renewed

    @property
    def stale_after(self) -> int:
        """Seconds of silence after which a worker is taken for dead."""
        return STALE_BEATS * self.period

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    async def register(self) -> int:
        me = self.identity
        self.id = await self.repo.register(me.host, me.pid, me.process_start, self._now())
        return self.id

    async def start(self) -> None:
        """Register, forget the workers known to be dead, try for the scheduler lease, and beat
        from now on."""
        await self.register()
        await self.forget_dead()
        await self.hold_scheduler()
        self._task = asyncio.create_task(self._beating(), name="worker heartbeat")

    def leads(self, *, ahead: float = 0) -> bool:
        """Whether this process runs the once-across-processes jobs now (and still will in
        ``ahead`` seconds if it renews nothing meanwhile). Judged on this process's own
        monotonic time since the lease was last renewed, so a process that stops renewing (a
        frozen loop, a lost database) stops acting before another takes over."""
        return (self._held_at is not None
                and self._monotonic() + ahead - self._held_at < self.stale_after)

    def watch_lead(self, listener: LeadListener) -> Callable[[], None]:
        """Call ``listener(leading)`` after every heartbeat and when this worker stops:
        ``leading`` says whether this process holds the lease and will until its next
        heartbeat. When renewing fails it turns False a heartbeat before another process could
        take the lease. Returns the function that stops the calls."""
        self._listeners.append(listener)

        def unwatch() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unwatch

    def _tell(self, leading: bool | None = None) -> None:
        if leading is None:
            leading = self.leads(ahead=self.period)
        for listener in list(self._listeners):
            try:
                listener(leading)
            except Exception:
                log.exception("a watcher of the scheduler lease failed")

    async def hold_scheduler(self) -> bool:
        """Take or renew the scheduler lease; True while this process holds it."""
        if self.id is None:
            return False
        held = await self.repo.hold_lease(SCHEDULER_LEASE, self.id, self._now(), self.stale_after)
        if held and not self.leads():
            log.info("worker %d runs the scheduled jobs (feed refreshes, digest, poll closing…)", self.id)
        elif not held and self.leads():
            log.warning("worker %d no longer runs the scheduled jobs: another process took them over", self.id)
        self._held_at = self._monotonic() if held else None
        if self._lapse is not None:
            self._lapse.cancel()
            self._lapse = None
        if held:
            # Should no heartbeat come back in time (a hung database), the watchers still hear.
            self._lapse = asyncio.get_running_loop().call_later(self.stale_after - self.period, self._tell)
        return held

    async def forget_dead(self) -> int:
        """Remove the rows of workers that are silent, or were earlier processes on this host;
        their claims are then orphaned, for whoever dispatches to return to pending."""
        silent_since = self._now() - self.stale_after
        dead = [w for w in await self.repo.workers() if w.id != self.id
                and (w.heartbeat_ts < silent_since or self.identity.is_gone(w))]
        for w in dead:
            log.warning("worker %d (%s, pid %d) is gone: what it had claimed goes back to pending",
                        w.id, w.host, w.pid)
        return await self.repo.forget([w.id for w in dead])

    async def beat(self) -> None:
        """Say this process is alive and renew (or take) the scheduler lease, then tell the
        lease's watchers. A failed heartbeat is logged, not raised."""
        if self.id is None:
            return
        try:
            if not await self.repo.beat(self.id, self._now()):
                log.warning("this process (worker %d) was taken for dead after %ds without a heartbeat; "
                            "registering again", self.id, self.stale_after)
                self._held_at = None
                await self.register()
            await self.hold_scheduler()
        except Exception:
            log.exception("worker heartbeat failed")
        self._tell()

    async def _beating(self) -> None:
        # On the event loop's own time, not the Clock's: a fake clock in tests stands still
        # (or jumps) between beats, and the heartbeat's stamp is what others judge by.
        while True:
            await asyncio.sleep(self.period)
            await self.beat()

    async def stop(self) -> None:
        """Stop beating and remove the row: anything still claimed goes back to pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._lapse is not None:
            self._lapse.cancel()
            self._lapse = None
        if self.id is not None:
            if self._held_at is not None:
                self._held_at = None
                self._tell(False)  # before another process can take the lease
                await self.repo.release_lease(SCHEDULER_LEASE, self.id)  # a follower takes over at once
            await self.repo.forget([self.id])
            self.id = None


Job = Callable[[], Awaitable[Any]]


def once_across(services: Services, job_id: str, job: Job, *, catch_up: bool = False) -> Job:
    """``job`` as an alarm job that runs in one process only, the one holding the scheduler
    lease (every process, or a process with no worker, runs it as before).

    Every process keeps the same alarms, rebuilt from the store, so when the leader dies the next
    firing happens where the lease went. A one-off job (``catch_up``) that falls due while another
    process leads is looked at again a few times until the lease has surely changed hands: if the
    leader died before doing it, the process taking over does it. Jobs read the store when they
    run, so doing one again after the leader did it is harmless.
    """

    async def run(deadline: datetime | None = None) -> None:
        worker = services.worker
        if worker is None or worker.leads():
            await job()
            return
        if not catch_up:
            return
        now = services.clock.now()
        deadline = deadline or now + timedelta(seconds=STALE_BEATS * worker.stale_after)
        if now < deadline:
            services.alarms.at(job_id, now + timedelta(seconds=worker.period), lambda: run(deadline))

    return run
