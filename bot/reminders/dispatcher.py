"""The dispatcher: claims due reminders in batches, delivers them within the adapters' limits,
and records each outcome.

* The alarm clock holds one job, ``reminders:dispatch``, set for the next instant anything can
  be sent; everything else lives in the outbox, so a restart loses nothing.
* A claim is an atomic ``UPDATE`` that stamps rows with a token, a time (a lease) and this
  process's worker (``bot.workers``). A batch's outcomes are recorded together when it ends; if
  the process dies first, its claims go back to pending as soon as its worker is known dead
  (at once when it restarts on the same host, else after a few missed heartbeats), or at the
  latest when the lease runs out, so at most that one batch can be sent twice.
* When many reminders fall due at once, sending starts early enough that the last lands by
  its due time at the adapter's rate, but never more than ``early_window_minutes`` early.
* A send that its own chat's limit holds back (a group takes 20 a minute on Telegram) waits
  aside, still claimed, while sends to other chats go on; the planner makes reminders into
  one group ready a group interval apart, so the group's last one is not late either.
* Transient failures are retried with exponential backoff and jitter, up to
  ``MAX_ATTEMPTS``; ``RateLimited`` pauses the adapter (or chat) and retries without counting
  an attempt; a person who cannot be reached privately is marked so, told once in the
  shared chat they subscribed from, and reminded there instead (failed where there is none).
  A reminder whose session has started is expired, never sent late.
* Programme-change notices share the outbox and every rule above; each carries what it tells
  and is rendered when sent. One that waits until its sessions are over expires unsent.
* A message for one person in a shared chat names them as a mention (``Outgoing.mention``),
  which notifies them where the platform can.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import math
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.calendars import render_notice
from bot.errors import AdapterUnavailable, DeliveryFailed, RateLimited, RecipientUnreachable
from bot.i18n import reader_language, translator
from bot.identities import shared_chat
from bot.models import (
    HOLD_OLD,
    MENTION,
    SESSION_STARTED,
    SESSIONS_OVER,
    ChatKind,
    ChatRef,
    Delivery,
    EventStatus,
    Mention,
    Occurrence,
    Outgoing,
    Reminder,
    ReminderStatus,
    UserRef,
    UserSettings,
)
from bot.ports import ReminderOutcome, Store
from bot.reminders.planner import safe_zone
from bot.reminders.ratelimit import Limiter
from bot.timeutil import format_when, humanise_until
from bot.workers import STALE_BEATS

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

DISPATCH_JOB = "reminders:dispatch"
UNREACHABLE = "recipient unreachable"
"""How every failure for want of a private chat begins, so it can be undone when the person
can be reached again."""
MAX_ATTEMPTS = 5
BACKOFF_BASE = 15.0
BACKOFF_MAX = 900.0
EARLY_MARGIN = 1.0
"""Seconds of slack added to the time a fan-out needs, so its last reminder is not late."""
RATE_HEADROOM = 0.95
"""A fan-out is planned at this share of the platform's rate: a busy machine, a slow database or
another process's sends keep the pace a little under the limit (measured at 97-98 % by
benchmarks/scaleout.py), and at the full rate 10,000 reminders ended 3 to 7 s late."""
KEEP_GOING = timedelta(seconds=5)
"""A drain waits in place (instead of setting the alarm) for work ready this soon."""
PROGRESS_EVERY = 500
PROGRESS_SECONDS = 5.0
PROGRESS_SAVE_SECONDS = 0.5
"""How often a fan-out's progress is written for ``eventbot reminders`` (and at its end)."""
MAINTENANCE_SECONDS = 5.0
"""How often a drain returns expired claims and expires started sessions (full scans)."""
CLOCK_RESOLUTION = 0.001
"""A start this close counts as now: datetimes keep microseconds, and a start computed in
float seconds may lie a fraction of one past the instant a wait for it wakes at."""
HORIZON_SECONDS = 2.0
"""How long a drain trusts its per-platform horizons before counting the due set again."""

Sleeper = Callable[[datetime], Awaitable[None]]


def ts(dt: datetime) -> int:
    return int(dt.timestamp())


@dataclass
class FanOut:
    """Progress of the current (or last) drain, shown in logs and by ``eventbot reminders``."""

    started: str = ""
    updated: str = ""
    finished: str = ""
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    expired: int = 0
    retried: int = 0
    rate_limited: int = 0
    waiting: int = 0
    rate_per_second: float = 0.0


@dataclass
class _Batch:
    token: str
    outcomes: list[ReminderOutcome] = field(default_factory=list)
    """Outcomes not yet recorded."""
    held: int = 0
    """Its reminders still waiting aside for their chat (they stay claimed meanwhile)."""


@dataclass
class _Job:
    reminder: Reminder
    occurrence: Occurrence | None
    """The session a reminder is for; None for a change notice (which carries its own)."""
    settings: UserSettings
    chat: str
    group: bool
    batch: _Batch

    @property
    def deadline(self) -> datetime:
        """After this it is not sent: a reminder once its session starts, a notice once the
        sessions it tells of are over."""
        return self.occurrence.start if self.occurrence is not None else self.reminder.start

    @property
    def late(self) -> str:
        if self.occurrence is not None:
            return SESSION_STARTED
        return SESSIONS_OVER if self.reminder.notice is not None and self.reminder.notice.items else HOLD_OLD

    @property
    def title(self) -> str:
        if self.occurrence is not None:
            return self.occurrence.title
        assert self.reminder.notice is not None
        return self.reminder.notice.title

    @property
    def starts_at(self) -> datetime | None:
        """When the session it is about starts (None for a held refresh's notice)."""
        if self.occurrence is not None:
            return self.occurrence.start
        notice = self.reminder.notice
        assert notice is not None
        return notice.items[0].after.start if notice.items else None


def render_reminder(o: Occurrence, settings: UserSettings, default_zone: str, default_language: str,
                    now: datetime) -> str:
    """``⏰ “Title” starts at 12:00 GMT, in 17 minutes.`` in the reader's language and zone."""
    _ = translator(settings.language or default_language)
    tz = safe_zone(settings.timezone, default_zone)
    start = o.start.astimezone(tz)
    until = humanise_until(o.start - now, _)
    if start.date() == now.astimezone(tz).date():
        text = _("⏰ “{title}” starts at {time}, {until}.", title=o.title,
                 time=f"{start:%H:%M} {start.tzname() or ''}".rstrip(), until=until)
    else:
        text = _("⏰ “{title}” starts on {when}, {until}.", title=o.title, when=format_when(o.start, tz, _),
                 until=until)
    if o.url:
        text += "\n" + _("Join: {url}", url=o.url)
    return text


class Dispatcher:
    def __init__(self, services: Services, *, store: Store | None = None, sleep_until: Sleeper | None = None,
                 rng: random.Random | None = None, concurrency: int = 8, batch_size: int | None = None) -> None:
        self.services = services
        self.store = store or services.store
        self.repo = self.store.reminders
        self.clock = services.clock
        config = services.config
        self.batch_size = batch_size or max(1, config.reminder_batch)
        self.lease = max(1, config.reminder_lease_seconds)
        self.early_window = max(0, config.early_window_minutes) * 60
        self.concurrency = concurrency
        self.sleep_until: Sleeper = sleep_until or getattr(self.clock, "sleep_until", None) or self._sleep
        self.rng = rng or random.Random()
        # One budget in the store for every process sending through these accounts, unless a
        # fixed share of each limit is configured for this process.
        self.limiter = Limiter(services.messenger.limits, share=config.rate_share or 1.0,
                               budget=None if config.rate_share else services.store.rate_budget)
        self.progress = FanOut()
        self._running = False
        self._stopping = False
        self._again = False
        self._task: asyncio.Task[object] | None = None
        self._last_log = 0.0
        self._saved = 0.0
        self._logged_sent = 0
        self._counted = -PROGRESS_SECONDS
        self._counted_claimed = self._waiting = 0
        # Sends held back by their own chat's limit (a group's 20 a minute), soonest first,
        # across batches; the batches they belong to, while they have any held or unrecorded.
        self._held: list[tuple[datetime, int, _Job]] = []
        self._held_seq = itertools.count()
        self._batches: dict[str, _Batch] = {}
        self._renewed: datetime | None = None
        self._rendered: dict[tuple[str, str | None, str | None, int], str] = {}

    async def _sleep(self, when: datetime) -> None:
        await asyncio.sleep(max(0.0, (when - self.clock.now()).total_seconds()))

    # -- the alarm -----------------------------------------------------------------------------

    def poke(self) -> None:
        """Something changed in the outbox: look again (now if idle, after the batch if busy)."""
        if self._running:
            self._again = True
        else:
            self.services.alarms.at(DISPATCH_JOB, self.clock.now(), self.run)

    async def run(self) -> None:
        """Send everything that is ready, then set the alarm for the next time anything is.

        This is the alarm job itself. Work due within ``KEEP_GOING`` is waited for here rather
        than by re-arming the alarm: APScheduler would skip a job that fires while its own
        previous run is still finishing.
        """
        self._again = True
        if self._running or self._stopping:
            return
        self._running = True
        self._task = asyncio.current_task()
        try:
            while not self._stopping:
                while self._again and not self._stopping:
                    self._again = False
                    await self._drain()
                when = await self.next_wake()
                if self._again or self._stopping:
                    continue
                if when is None:
                    self.services.alarms.cancel(DISPATCH_JOB)
                    break
                if when - self.clock.now() <= KEEP_GOING:
                    await self.sleep_until(when)
                    self._again = True
                    continue
                self.services.alarms.at(DISPATCH_JOB, when, self.run)
                break
        finally:
            self._running = False
            self._task = None

    async def close(self, grace: float = 5.0) -> None:
        """Stop claiming; let the batch in flight finish (up to ``grace`` seconds), else cancel
        it, leaving its claim to run out its lease."""
        self._stopping = True
        task = self._task
        if task is None or task is asyncio.current_task():
            return
        done, _pending = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def schedule(self) -> None:
        when = await self.next_wake()
        if when is None:
            self.services.alarms.cancel(DISPATCH_JOB)
        else:
            self.services.alarms.at(DISPATCH_JOB, when, self.run)

    def _worker_id(self) -> int | None:
        worker = self.services.worker
        return worker.id if worker is not None else None

    def _heartbeat_seconds(self) -> int:
        worker = self.services.worker
        return worker.period if worker is not None else max(1, self.services.config.worker_heartbeat_seconds)

    def _stale_after(self) -> int:
        worker = self.services.worker
        return worker.stale_after if worker is not None else STALE_BEATS * self.services.config.worker_heartbeat_seconds

    def _platforms(self) -> list[str]:
        return [a.name for a in self.services.messenger.adapters]

    async def next_wake(self) -> datetime | None:
        """The next instant anything can be claimed (or a crashed claim reclaimed)."""
        if not self._platforms():
            return None
        now = ts(self.clock.now())
        candidates: list[int | float] = []
        horizons, next_start = await self._horizons(self.clock.now().timestamp())
        if any(horizons.values()):
            candidates.append(now)
        if next_start is not None:
            candidates.append(next_start)
        ready = await self.repo.next_ready()
        if ready is not None and ready > now + self.early_window:
            candidates.append(ready - self.early_window)
        reclaim = await self.repo.next_reclaim(lease=self.lease + 1, stale_after=self._stale_after() + 1,
                                               keep=self._worker_id())
        if reclaim is not None:
            candidates.append(max(now, reclaim))
        return datetime.fromtimestamp(min(candidates), UTC) if candidates else None

    async def _horizons(self, now: int | float) -> tuple[dict[str, int | None], int | float | None]:
        """Per platform, the latest ready time that must already be in flight for everything
        ready by then to land on time at the platform's rate (None: nothing yet); and the
        next instant at which that changes.

        A group of reminders ready at ``t`` with ``c`` reminders ready up to it must start by
        ``t - c / rate`` (less a margin); one batch's worth of slack keeps a fan-out that is
        exactly on pace from stopping between batches. Only the first reminders in ready order
        are counted: once ``c`` is large enough for the lead to reach the early window (or at
        once, on an unlimited platform, where the lead is nil), every later group's lead is
        that same maximum, so a backlog of any size costs one short index scan.
        """
        horizons: dict[str, int | None] = {}
        next_start: float | None = None
        until = int(now) + self.early_window
        for platform in set(self._platforms()):
            rate = self.limiter.rate(platform)

            def lead(count: int, rate: float | None = rate) -> float:
                if not rate:
                    return 0.0
                paced = rate * RATE_HEADROOM
                return min(self.early_window, count / paced + EARLY_MARGIN + self.batch_size / paced)

            cap = (max(1, math.ceil((self.early_window - EARLY_MARGIN) * rate * RATE_HEADROOM - self.batch_size))
                   if rate else 1)
            horizon: int | float | None = None
            total = 0
            last = None
            for _platform, ready, count in await self.repo.ready_counts(until, platform=platform, limit=cap):
                total += count
                last = ready
                start = ready - lead(total)
                if start <= now + CLOCK_RESOLUTION:
                    horizon = max(horizon or ready, ready)
                elif next_start is None or start < next_start:
                    next_start = start
            if last is not None and total >= cap and last <= now + lead(cap):
                # Not all counted: the rest are ready no earlier than ``last`` and lead by at
                # least ``lead(cap)``, so everything ready by ``now + lead(cap)`` is due.
                horizon = max(horizon or 0, int(now + lead(cap)))
            horizons[platform] = None if horizon is None else int(horizon)
        return horizons, next_start

    # -- draining ------------------------------------------------------------------------------

    async def _drain(self) -> None:
        if not self._platforms():
            return
        started = False
        horizons: dict[str, int | None] | None = None
        next_start: int | float | None = None
        refreshed = maintained = released_at = -MAINTENANCE_SECONDS
        while True:
            now_dt = self.clock.now()
            now = ts(now_dt)
            if time.monotonic() - released_at >= self._heartbeat_seconds():
                # A dead worker's batch is taken back as soon as its silence shows: checked as
                # often as workers beat (it reads only the rows being sent).
                released_at = time.monotonic()
                released = await self.repo.release_stale(now - self.lease, now,
                                                         silent_since=now - self._stale_after(),
                                                         keep=self._worker_id())
                if released:
                    log.warning("returned %d reminders to pending: their worker is gone or their lease ran out",
                                released)
                    horizons = None
            if time.monotonic() - maintained >= MAINTENANCE_SECONDS:
                # A full scan of the pending set: at the start and every few seconds, not per batch.
                maintained = time.monotonic()
                expired = await self.repo.expire_started(now)
                if expired:
                    log.warning("%d pending reminders expired: their sessions had already started", expired)
                    self.progress.expired += expired
                horizons = None
            fresh = horizons is None or time.monotonic() - refreshed >= HORIZON_SECONDS
            if fresh or horizons is None:
                horizons, next_start = await self._horizons(now_dt.timestamp())
                refreshed = time.monotonic()
            token = uuid.uuid4().hex
            batch = await self.repo.claim(token, now, {p: h for p, h in horizons.items() if h is not None},
                                          self.batch_size, worker=self._worker_id())
            if len(batch) < self.batch_size:
                horizons = None  # exhausted what was known to be due: look again next time
            if self._stopping:
                await self.repo.record(token, now, [
                    ReminderOutcome(id=r.id, status=ReminderStatus.PENDING, attempts=r.attempts,
                                    ready_ts=ts(r.ready), last_error=r.last_error) for r in batch])
                await self._release_held()
                break
            if not batch:
                if not fresh:
                    horizons = None  # look again with fresh horizons, once, rather than spin
                    continue
                wake: list[datetime] = []
                if next_start is not None and datetime.fromtimestamp(next_start, UTC) - now_dt <= KEEP_GOING:
                    wake.append(datetime.fromtimestamp(next_start, UTC))
                if self._held:
                    # Claimed sends wait aside for their chat: stay, keep their claims alive,
                    # and look for new work whenever one of them goes.
                    wake += [self._held[0][0], now_dt + timedelta(seconds=self.lease / 3)]
                    await self._renew()
                    await self._flush()
                if not wake:
                    break
                await self.sleep_until(min(wake))
                if self._held and self._held[0][0] <= self.clock.now():
                    await self._pace(deque())
                    await self._flush()
                    await self._report()
                continue
            if not started:
                started = True
                if not self._continues(now_dt):
                    self.progress = FanOut(started=now_dt.isoformat())
                self.progress.finished = ""
                self._last_log, self._logged_sent, self._counted = time.monotonic(), 0, -PROGRESS_SECONDS
            self.progress.claimed += len(batch)
            self._rendered.clear()
            await self._deliver(_Batch(token), batch)
        if started:
            self.progress.finished = self.clock.now().isoformat()
            self.progress.waiting = 0
            await self._save_progress()
            p = self.progress
            log.info("fan-out done: %d sent, %d failed, %d expired, %d retried later, %d rate limits honoured",
                     p.sent, p.failed, p.expired, p.retried, p.rate_limited)

    def _continues(self, now: datetime) -> bool:
        """Whether work found now belongs to the last fan-out: a drain that found nothing for a
        moment (another process held the rows it would have claimed) ends, and the next one
        carries on counting rather than starting from nought."""
        finished = self.progress.finished
        return bool(self.progress.started) and (
            not finished or now - datetime.fromisoformat(finished) <= KEEP_GOING)

    async def _deliver(self, batch: _Batch, reminders: list[Reminder]) -> None:
        now = self.clock.now()
        occurrences: dict[str, Occurrence | None] = {}
        for oid in {r.occurrence_id for r in reminders if r.notice is None}:
            occurrences[oid] = await self.store.calendars.get_occurrence(oid)
        users = sorted({r.user_id for r in reminders})
        settings = await self.store.people.get_many_settings(users)
        unreachable = await self.repo.unreachable(users)
        jobs: deque[_Job] = deque()
        for r in reminders:
            o = occurrences.get(r.occurrence_id)
            s = settings.get(r.user_id) or UserSettings(r.user_id)
            if r.notice is not None:
                if r.start <= now:
                    self._finish(batch, r, ReminderStatus.EXPIRED, SESSIONS_OVER if r.notice.items else HOLD_OLD)
                    continue
            elif o is None or o.status is EventStatus.CANCELLED:
                self._finish(batch, r, ReminderStatus.EXPIRED, "the session was cancelled")
                continue
            elif o.start <= now:
                self._finish(batch, r, ReminderStatus.EXPIRED, SESSION_STARTED)
                continue
            chat = shared_chat(s)  # on this account's platform (a linked person's may be elsewhere)
            if chat and (s.delivery is Delivery.CHANNEL or r.user_id in unreachable):
                # in the shared chat by choice, or because their private chat is closed
                jobs.append(_Job(r, o, await self._in_chat(s, chat), chat, group=True, batch=batch))
            elif r.user_id in unreachable:
                self._finish(batch, r, ReminderStatus.FAILED, UNREACHABLE)
            else:
                jobs.append(_Job(r, o, s, r.user_id, group=False, batch=batch))
        self._batches[batch.token] = batch
        if self._renewed is None:
            self._renewed = now
        await self._pace(jobs)
        await self._flush()
        await self._report()

    async def _pace(self, jobs: deque[_Job]) -> None:
        """Start each send at its reserved slot; sends overlap up to ``concurrency``.

        A send that its own chat's limit holds back (the 21st into a group within a minute)
        waits aside, still claimed, rather than in line: sends to every other chat carry on,
        and it goes first once its chat is free, in this batch or a later one.

        Only this loop waits for slots. It hands each send, at its slot, to a few workers that
        live as long as the batch (up to ``concurrency``, started as sends overlap), rather than
        to a task of its own: a platform that answers at once costs no task per send.
        """
        slots = asyncio.Semaphore(self.concurrency)
        ready: asyncio.Queue[_Job | None] = asyncio.Queue()
        workers: list[asyncio.Task[None]] = []
        idle = [0]  # workers waiting for a send
        busy = [0]  # sends handed over and not yet done
        settled = asyncio.Event()

        async def work() -> None:
            while True:
                idle[0] += 1
                try:
                    job = await ready.get()
                finally:
                    idle[0] -= 1
                if job is None:
                    return
                try:
                    await self._send(job, jobs)
                finally:
                    busy[0] -= 1
                    slots.release()
                    settled.set()

        try:
            while True:
                now = self.clock.now()
                if self._held and self._held[0][0] <= now:
                    job = heapq.heappop(self._held)[2]
                    job.batch.held -= 1
                elif jobs:
                    job = jobs.popleft()
                elif busy[0]:
                    # Sends still under way may put work back (a 429, a fallback chat).
                    settled.clear()
                    await settled.wait()
                    continue
                else:
                    break
                if now >= job.deadline:
                    self._finish(job.batch, job.reminder, ReminderStatus.EXPIRED, job.late)
                    continue
                platform = job.reminder.platform
                at, reserved = await self.limiter.take(now, platform, job.chat, group=job.group)
                if not reserved:
                    self._hold(job, at)
                    continue
                if at > now:
                    await self.sleep_until(at)
                paused = self.limiter.paused_until(platform, job.chat)
                if paused is not None and paused > self.clock.now():
                    jobs.appendleft(job)  # the platform asked us to wait while we slept
                    continue
                if self._renewed is None or (self.clock.now() - self._renewed).total_seconds() > self.lease / 3:
                    await self._renew()
                await slots.acquire()
                busy[0] += 1
                ready.put_nowait(job)
                if idle[0] < ready.qsize() and len(workers) < self.concurrency:
                    workers.append(asyncio.create_task(work()))
            for _ in workers:
                ready.put_nowait(None)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
        await self._renew()

    def _hold(self, job: _Job, until: datetime) -> None:
        heapq.heappush(self._held, (until, next(self._held_seq), job))
        job.batch.held += 1

    async def _release_held(self) -> None:
        """Stopping: what still waits aside goes back to pending, as it was."""
        while self._held:
            job = heapq.heappop(self._held)[2]
            job.batch.held -= 1
            r = job.reminder
            job.batch.outcomes.append(ReminderOutcome(id=r.id, status=ReminderStatus.PENDING, attempts=r.attempts,
                                                      ready_ts=ts(r.ready), last_error=r.last_error))
        await self._flush()

    async def _flush(self) -> None:
        """Record the outcomes so far; forget batches with nothing left aside."""
        now = ts(self.clock.now())
        for token, batch in list(self._batches.items()):
            if batch.outcomes:
                outcomes, batch.outcomes = batch.outcomes, []
                await self.repo.record(token, now, outcomes)
            if not batch.held:
                del self._batches[token]

    async def _renew(self) -> None:
        now = self.clock.now()
        if self._renewed is None or (now - self._renewed).total_seconds() > self.lease / 3:
            self._renewed = now
            for token in self._batches:
                await self.repo.renew(token, ts(now))

    async def _in_chat(self, settings: UserSettings, chat: str) -> UserSettings:
        """Settings to write a reminder into a shared chat with: the chat's language for someone
        who chose none."""
        language = await reader_language(self.store.people, settings, chat, self.services.config.language)
        return settings if language == settings.language else replace(settings, language=language)

    def _message(self, job: _Job) -> Outgoing:
        config = self.services.config
        s = job.settings
        if job.occurrence is None:
            return self._notice(job)
        now = self.clock.now()
        # A fan-out renders the same words for thousands of people: cache per session, reader
        # language and zone, and minute.
        key = (job.occurrence.id, s.language, s.timezone, round((job.occurrence.start - now).total_seconds() / 60))
        text = self._rendered.get(key)
        if text is None:
            if len(self._rendered) > 10_000:
                self._rendered.clear()
            text = self._rendered[key] = render_reminder(job.occurrence, s, config.timezone, config.language, now)
        if job.group:
            _ = translator(s.language or config.language)
            text, mention = self._mention(job, _("{name}: {reminder}", name=MENTION, reminder=text))
            return Outgoing(text=text, chat=ChatRef(job.chat, ChatKind.GROUP), starts_at=job.occurrence.start,
                            kind="reminder", mention=mention)
        return Outgoing(text=text, user=UserRef(job.reminder.user_id, s.display_name),
                        starts_at=job.occurrence.start, kind="reminder")

    def _notice(self, job: _Job) -> Outgoing:
        config = self.services.config
        s, notice = job.settings, job.reminder.notice
        assert notice is not None
        _ = translator(s.language or config.language)
        tz = safe_zone(s.timezone, config.timezone)
        if job.group:
            text, mention = self._mention(job, render_notice(notice, tz, _, for_name=MENTION))
            return Outgoing(text=text, chat=ChatRef(job.chat, ChatKind.GROUP), starts_at=job.starts_at,
                            kind="notice", mention=mention)
        return Outgoing(text=render_notice(notice, tz, _), user=UserRef(job.reminder.user_id, s.display_name),
                        starts_at=job.starts_at, kind="notice")

    @staticmethod
    def _mention(job: _Job, text: str) -> tuple[str, Mention]:
        """Name the person where ``text`` holds ``MENTION``, as a mention that notifies them
        in a shared chat where the platform can."""
        user_id, s = job.reminder.user_id, job.settings
        name = s.display_name or user_id.partition(":")[2] or user_id
        return Mention.within(text, name, UserRef(user_id, s.display_name))

    async def _send(self, job: _Job, jobs: deque[_Job]) -> None:
        r, batch = job.reminder, job.batch
        try:
            await self.services.messenger.send(self._message(job))
        except RateLimited as exc:
            until = self.clock.now() + timedelta(seconds=max(exc.retry_after, 0.0))
            await self.limiter.pause(until, r.platform, job.chat if exc.scope == job.chat else "")
            self.progress.rate_limited += 1
            jobs.appendleft(job)
        except RecipientUnreachable as exc:
            fallback = shared_chat(job.settings) if not job.group else None
            if not fallback:
                reason = exc.reason if exc.reason.startswith(UNREACHABLE) else f"{UNREACHABLE}: {exc.reason}"
                self._finish(batch, r, ReminderStatus.FAILED, reason)
            await self._unreachable(job, exc)
            if fallback:  # after the notice that explains it
                jobs.appendleft(_Job(r, job.occurrence, await self._in_chat(job.settings, fallback), fallback,
                                      group=True, batch=batch))
        except DeliveryFailed as exc:
            self._retry_or_fail(batch, r, exc.reason, transient=exc.transient)
        except AdapterUnavailable as exc:
            self._retry_or_fail(batch, r, str(exc), transient=True)
        except Exception as exc:
            log.exception("reminder %d to %s failed", r.id, r.user_id)
            self._retry_or_fail(batch, r, f"{type(exc).__name__}: {exc}", transient=True)
        else:
            self._finish(batch, r, ReminderStatus.SENT)

    def _finish(self, batch: _Batch, r: Reminder, status: ReminderStatus, error: str = "") -> None:
        now = ts(self.clock.now())
        attempts = r.attempts + (1 if status is ReminderStatus.FAILED else 0)
        batch.outcomes.append(ReminderOutcome(
            id=r.id, status=status, attempts=attempts, ready_ts=ts(r.ready), last_error=error,
            sent_ts=now if status is ReminderStatus.SENT else None))
        metrics = self.services.metrics
        if status is ReminderStatus.SENT:
            self.progress.sent += 1
            metrics.reminders_sent.labels(r.platform).inc()
            metrics.reminder_lateness.labels(r.platform).observe(max(0, now - ts(r.due)))
        elif status is ReminderStatus.FAILED:
            self.progress.failed += 1
            metrics.reminders_failed.labels(r.platform).inc()
            log.warning("reminder %d to %s failed: %s", r.id, r.user_id, error)
        elif status is ReminderStatus.EXPIRED:
            self.progress.expired += 1

    def _retry_or_fail(self, batch: _Batch, r: Reminder, error: str, *, transient: bool) -> None:
        attempts = r.attempts + 1
        if not transient or attempts >= MAX_ATTEMPTS:
            self._finish(batch, r, ReminderStatus.FAILED, error)
            return
        delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempts - 1)) * self.rng.uniform(0.5, 1.0)
        ready = ts(self.clock.now()) + max(1, int(delay))
        batch.outcomes.append(ReminderOutcome(id=r.id, status=ReminderStatus.PENDING, attempts=attempts,
                                              ready_ts=ready, last_error=error))
        self.progress.retried += 1
        log.info("reminder %d to %s will be retried in %ds: %s", r.id, r.user_id, int(delay), error)

    async def _unreachable(self, job: _Job, error: RecipientUnreachable) -> None:
        user_id = job.reminder.user_id
        now = ts(self.clock.now())
        if await self.repo.mark_unreachable(user_id, error.reason, now):
            log.warning("%s cannot be reached privately (%s); no more private reminders", user_id, error.reason)
        s = job.settings
        chat = shared_chat(s)
        if not chat:
            await self.repo.fail_pending_of(user_id, UNREACHABLE, now)
            return
        if not await self.repo.take_notice(user_id):
            return
        _ = translator(await reader_language(self.store.people, s, chat, self.services.config.language))
        if job.occurrence is not None:
            text = _("{name}, I could not send you a private reminder for “{title}”: you may have blocked me "
                     "or never started a chat with me, so your reminders will come here. To get them privately "
                     "again, open a private chat with me and send /delivery dm.", name=MENTION, title=job.title)
        else:
            text = _("{name}, I could not tell you privately about a change to “{title}”: you may have blocked "
                     "me or never started a chat with me, so your reminders and notices will come here. To get "
                     "them privately again, open a private chat with me and send /delivery dm.",
                     name=MENTION, title=job.title)
        text, mention = self._mention(job, text)
        try:
            await self.services.messenger.send(Outgoing(text=text, chat=ChatRef(chat, ChatKind.GROUP),
                                                        kind="notice", mention=mention))
        except (DeliveryFailed, AdapterUnavailable) as exc:
            log.warning("could not tell %s in %s that they are unreachable: %s", user_id, chat, exc)

    # -- progress ------------------------------------------------------------------------------

    async def _report(self) -> None:
        p = self.progress
        p.updated = self.clock.now().isoformat()
        started = datetime.fromisoformat(p.started) if p.started else self.clock.now()
        elapsed = (self.clock.now() - started).total_seconds()
        p.rate_per_second = round(p.sent / elapsed, 2) if elapsed > 0 else 0.0
        since = time.monotonic() - self._last_log
        if (p.sent - self._logged_sent >= PROGRESS_EVERY and since >= 1.0) or since >= PROGRESS_SECONDS:
            self._last_log, self._logged_sent = time.monotonic(), p.sent
            if time.monotonic() - self._counted >= PROGRESS_SECONDS:
                # Counting the waiting reminders walks the backlog (a million rows in a large
                # fan-out): every few seconds; in between, less what has been claimed since.
                self._counted, self._counted_claimed = time.monotonic(), p.claimed
                p.waiting = self._waiting = await self.repo.count_ready(ts(self.clock.now()))
            else:
                p.waiting = max(0, self._waiting - (p.claimed - self._counted_claimed))
            log.info("fan-out: %d sent, %d failed, %d expired, %d waiting, %.1f msg/s",
                     p.sent, p.failed, p.expired, p.waiting, p.rate_per_second)
        if time.monotonic() - self._saved >= PROGRESS_SAVE_SECONDS:
            await self._save_progress()

    async def _save_progress(self) -> None:
        self._saved = time.monotonic()
        await self.repo.set_meta("fanout", json.dumps(asdict(self.progress)))
