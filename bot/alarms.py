"""The alarm clock: wakes the core at given instants. It holds no state worth keeping —
every job carries only an id, reads what it needs from the store when it fires, and all
jobs are rebuilt from the store at start-up.

``SchedulerAlarms`` is APScheduler 3 (AsyncIOScheduler); ``ManualAlarms`` fires due jobs
when a test advances its ``FakeClock``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.ports import Clock

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[Any]]


class Alarms(Protocol):
    """Run coroutines at instants or intervals. Replacing a job id reschedules it."""

    def at(self, job_id: str, when: datetime, job: Job) -> None:
        """Run ``job`` once at ``when`` (now, if that is already past)."""
        ...

    def every(self, job_id: str, interval: timedelta, job: Job, *, first: datetime | None = None) -> None:
        """Run ``job`` every ``interval``, first at ``first`` (default: one interval from now)."""
        ...

    def cancel(self, job_id: str) -> None:
        """Forget a job; unknown ids are ignored."""
        ...

    def next_run(self, job_id: str) -> datetime | None:
        """When the job runs next, or None if there is no such job."""
        ...

    def start(self) -> None: ...

    async def shutdown(self) -> None: ...


async def _run(job_id: str, job: Job) -> None:
    try:
        await job()
    except Exception:
        log.exception("alarm %s failed", job_id)


class SchedulerAlarms:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # Jobs must run even if the loop was busy when they fell due: no grace limit,
        # and a backlog of one job collapses into one run.
        self._scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "misfire_grace_time": None, "coalesce": True, "max_instances": 1})

    def at(self, job_id: str, when: datetime, job: Job) -> None:
        when = max(when, self._clock.now())
        self._scheduler.add_job(_run, DateTrigger(run_date=when, timezone=UTC), args=(job_id, job),
                                id=job_id, replace_existing=True)

    def every(self, job_id: str, interval: timedelta, job: Job, *, first: datetime | None = None) -> None:
        start = first or self._clock.now() + interval
        self._scheduler.add_job(_run, IntervalTrigger(seconds=interval.total_seconds(), start_date=start,
                                                      timezone=UTC),
                                args=(job_id, job), id=job_id, replace_existing=True)

    def cancel(self, job_id: str) -> None:
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def next_run(self, job_id: str) -> datetime | None:
        job = self._scheduler.get_job(job_id)
        when = job.next_run_time if job is not None else None
        return when.astimezone(UTC) if when is not None else None

    def start(self) -> None:
        self._scheduler.start()

    async def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


@dataclass
class _ManualJob:
    when: datetime
    job: Job
    interval: timedelta | None


class ManualAlarms:
    """Alarms for tests: nothing runs until ``run_due()``; ``advance()`` moves the fake clock
    step by step and runs what fell due on the way, in time order."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._jobs: dict[str, _ManualJob] = {}

    def at(self, job_id: str, when: datetime, job: Job) -> None:
        self._jobs[job_id] = _ManualJob(when, job, None)

    def every(self, job_id: str, interval: timedelta, job: Job, *, first: datetime | None = None) -> None:
        self._jobs[job_id] = _ManualJob(first or self._clock.now() + interval, job, interval)

    def cancel(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)

    def next_run(self, job_id: str) -> datetime | None:
        job = self._jobs.get(job_id)
        return job.when if job is not None else None

    def start(self) -> None:
        pass

    async def shutdown(self) -> None:
        self._jobs.clear()

    def scheduled(self, job_id: str) -> datetime | None:
        job = self._jobs.get(job_id)
        return job.when if job else None

    async def run_due(self) -> int:
        """Run every job due at the clock's now; return how many ran."""
        ran = 0
        while True:
            now = self._clock.now()
            due = sorted(((j.when, jid) for jid, j in self._jobs.items() if j.when <= now))
            if not due:
                return ran
            _when, job_id = due[0]
            job = self._jobs[job_id]
            if job.interval is None:
                del self._jobs[job_id]
            else:
                while job.when <= now:
                    job.when += job.interval
            await _run(job_id, job.job)
            await asyncio.sleep(0)
            ran += 1

    async def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``, stopping at each job's time to run it."""
        target = self._clock.now() + delta
        while True:
            upcoming = [j.when for j in self._jobs.values() if j.when <= target]
            step = min(upcoming) if upcoming else target
            if step > self._clock.now():
                self._clock.set(step)
            await self.run_due()
            if step >= target:
                break
        if self._clock.now() < target:
            self._clock.set(target)
        await self.run_due()
