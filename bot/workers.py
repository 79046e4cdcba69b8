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
                 identity: ProcessIdentity | None = None) -> None:
        self.repo = repo
        self.clock = clock
        self.period = max(1, heartbeat_seconds)
        self.identity = identity or ProcessIdentity.current()
        self.id: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._held_at: float | None = None  # monotonic time the scheduler lease was last held

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

    def leads(self) -> bool:
        """Whether this process runs the once-across-processes jobs now. Judged on this
        process's own monotonic time since the lease was last renewed, so a process that stops
        renewing (a frozen loop, a lost database) stops acting before another takes over."""
        return self._held_at is not None and time.monotonic() - self._held_at < self.stale_after

    async def hold_scheduler(self) -> bool:
        """Take or renew the scheduler lease; True while this process holds it."""
        if self.id is None:
            return False
        held = await self.repo.hold_lease(SCHEDULER_LEASE, self.id, self._now(), self.stale_after)
        if held and not self.leads():
            log.info("worker %d runs the scheduled jobs (feed refreshes, digest, poll closing…)", self.id)
        elif not held and self.leads():
            log.warning("worker %d no longer runs the scheduled jobs: another process took them over", self.id)
        self._held_at = time.monotonic() if held else None
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
        if self.id is None:
            return
        if not await self.repo.beat(self.id, self._now()):
            log.warning("this process (worker %d) was taken for dead after %ds without a heartbeat; "
                        "registering again", self.id, self.stale_after)
            self._held_at = None
            await self.register()
        await self.hold_scheduler()

    async def _beating(self) -> None:
        # On the event loop's own time, not the Clock's: a fake clock in tests stands still
        # (or jumps) between beats, and the heartbeat's stamp is what others judge by.
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.beat()
            except Exception:
                log.exception("worker heartbeat failed")

    async def stop(self) -> None:
        """Stop beating and remove the row: anything still claimed goes back to pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.id is not None:
            if self._held_at is not None:
                await self.repo.release_lease(SCHEDULER_LEASE, self.id)  # a follower takes over at once
                self._held_at = None
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
