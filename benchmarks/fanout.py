"""Fan-out on a rate-limited platform, on the wall clock: the real dispatcher against a naive
baseline.

N people follow one session and each has one reminder, all due at the same instant. The fake
platform enforces ``--rate`` messages/s with its own token bucket and answers 429 to anything
faster. The real bot (``open_app``: SQLite outbox, APScheduler alarm, dispatcher) must start
early enough to land the last reminder by the due time. The baseline is what many bots do:
one APScheduler job per reminder at the due instant, sent one after another (waiting out any
429), so its last reminder lands about N/rate seconds late.

    python benchmarks/fanout.py                    # 2,000 subscribers at 30 msg/s (~2.5 min)
    python benchmarks/fanout.py --subscribers 10000
    python benchmarks/fanout.py --json
    python benchmarks/fanout.py --kill-at 30 --json   # crash and restart: 120 people, /remind 1m

With ``--kill-at N`` the real bot runs as a process (``python -m bot run`` on the fake adapter,
each delivery appended to a file), is SIGKILLed once N people have their reminder, and is
started again at once. ``recovery_s`` is from the restart to the first reminder of the killed
process's batch in flight sent again; ``late_after_start`` counts reminders that arrived after
their session had started (or never).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from adapters.fake import FakeAdapter, SentRecord
from bot.app import open_app
from bot.clock import SystemClock
from bot.config import Config
from bot.errors import RateLimited
from bot.models import Outgoing, Subscription, SubscriptionScope, UserRef
from bot.ports import RateLimits
from tests.bot_process import BotProcess, claimed, kill_figures, prepare
from tests.bot_process import wait_for as wait_for_people
from tests.harness import make_occurrence, store_occurrences

OFFSET = timedelta(minutes=15)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def figures(records: list[SentRecord], due: datetime, expected: int, rate: float, rate_limited: int,
            ) -> dict[str, Any]:
    times = [r.at for r in records if r.at is not None]
    people = {r.message.destination for r in records}
    lateness = [(t - due).total_seconds() for t in times]
    first, last = (min(times), max(times)) if times else (due, due)
    span = (last - first).total_seconds()
    throughput = (len(times) - 1) / span if span > 0 else float(len(times))
    return {
        "count": len(records),
        "lateness_p50_s": round(statistics.median(lateness), 3) if lateness else None,
        "lateness_p99_s": round(percentile(lateness, 0.99), 3) if lateness else None,
        "lateness_max_s": round(max(lateness), 3) if lateness else None,
        "earliest_before_due_s": round(max(0.0, -min(lateness)), 3) if lateness else None,
        "duplicates": len(records) - len(people),
        "lost": expected - len(people),
        "throughput_per_s": round(throughput, 2),
        "rate_used": round(throughput / rate, 4),
        "rate_limited_429": rate_limited,
        "sending_span_s": round(span, 2),
    }


async def wait_for(records: list[SentRecord], count: int, deadline: float) -> None:
    while len(records) < count and time.monotonic() < deadline:  # noqa: ASYNC110 (a benchmark polls the fake)
        await asyncio.sleep(0.2)


async def run_dispatcher(subscribers: int, rate: float, when: asyncio.Future[datetime], set_up: asyncio.Event,
                         batch: int, window: int, db: Path) -> dict[str, Any]:
    limits = RateLimits(global_per_second=rate)
    clock = SystemClock()
    adapter = FakeAdapter(limits=limits, enforce=limits, clock=clock)
    config = replace(Config(), db=db, offsets=(OFFSET,), reminder_batch=batch, early_window_minutes=window)
    async with open_app(config, adapters=[adapter], clock=clock) as app:
        for i in range(subscribers):
            await app.store.people.subscribe(Subscription(f"fake:user{i}", SubscriptionScope.ALL))
        set_up.set()
        due = await when
        await store_occurrences(app, [make_occurrence("Fan-out plenary", due + OFFSET)])
        assert app.services.reminders is not None
        planned = time.perf_counter()
        await app.services.reminders.replan_all()
        plan_seconds = time.perf_counter() - planned
        await wait_for(adapter.records, subscribers, time.monotonic()
                       + (due - clock.now()).total_seconds() + subscribers / rate + 30)
        result = figures(adapter.records, due, subscribers, rate, adapter.rate_limited)
        result["planning_s"] = round(plan_seconds, 3)
        return result


async def run_baseline(subscribers: int, rate: float, when: asyncio.Future[datetime]) -> dict[str, Any]:
    limits = RateLimits(global_per_second=rate)
    clock = SystemClock()
    adapter = FakeAdapter(limits=limits, enforce=limits, clock=clock)
    one_at_a_time = asyncio.Lock()
    scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
        "misfire_grace_time": None, "coalesce": False, "max_instances": 1})

    async def send(user: str) -> None:
        async with one_at_a_time:
            message = Outgoing(text="⏰ reminder", user=UserRef(user), kind="reminder")
            while True:
                try:
                    await adapter.send(message)
                    return
                except RateLimited as exc:
                    await asyncio.sleep(exc.retry_after)

    due = await when
    for i in range(subscribers):
        scheduler.add_job(send, DateTrigger(run_date=due, timezone=UTC), args=(f"fake:user{i}",),
                          id=f"reminder-{i}", misfire_grace_time=None)
    scheduler.start()
    try:
        await wait_for(adapter.records, subscribers, time.monotonic()
                       + (due - clock.now()).total_seconds() + 3 * subscribers / rate + 30)
    finally:
        scheduler.shutdown(wait=False)
    return figures(adapter.records, due, subscribers, rate, adapter.rate_limited)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    when: asyncio.Future[datetime] = asyncio.get_running_loop().create_future()
    set_up = asyncio.Event()
    with tempfile.TemporaryDirectory(prefix="eventbot-fanout-") as tmp:
        tasks = [asyncio.ensure_future(run_dispatcher(args.subscribers, args.rate, when, set_up, args.batch,
                                                      args.early_window, Path(tmp) / "bot.db"))]
        if not args.no_baseline:
            tasks.append(asyncio.ensure_future(run_baseline(args.subscribers, args.rate, when)))
        # The session is announced once its N subscribers are stored (which takes a while at
        # 10,000), due far enough ahead for the early start (N / rate, a batch and a margin).
        await set_up.wait()
        lead = args.subscribers / args.rate + args.batch / args.rate + 10
        due = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
        when.set_result(due)
        results = await asyncio.gather(*tasks)
    report = {"scenario": {"subscribers": args.subscribers, "rate_per_s": args.rate, "batch": args.batch,
                           "early_window_minutes": args.early_window, "due": due.isoformat()},
              "dispatcher": results[0]}
    if not args.no_baseline:
        report["naive_baseline"] = results[1]
    return report


def run_killed(args: argparse.Namespace) -> dict[str, Any]:
    """120 people, ``/remind 1m``: SIGKILL mid-fan-out, restart at once."""
    offset = timedelta(minutes=1)
    with tempfile.TemporaryDirectory(prefix="eventbot-kill-") as tmp:
        bot = BotProcess(Path(tmp), settings={"offsets": ["1m"], "reminder_batch": args.batch,
                                              "early_window_minutes": args.early_window},
                         fake_rate=args.rate, fake_send_delay=args.send_delay)
        # Due once the process is surely up, early enough for the fan-out's early start.
        due = (datetime.now(UTC) + timedelta(seconds=10 + args.subscribers / args.rate)).replace(microsecond=0)
        start = due + offset
        asyncio.run(prepare(bot.db, title="Kill benchmark plenary", start=start, subscribers=args.subscribers))
        deadline = time.monotonic() + (start - datetime.now(UTC)).total_seconds() + 5
        bot.start("first")
        try:
            before = wait_for_people(bot.out, args.kill_at, deadline)
        finally:
            bot.kill()
        in_flight = asyncio.run(claimed(bot.db))
        restarted = bot.start("second")
        try:
            delivered = wait_for_people(bot.out, args.subscribers, deadline)
        finally:
            bot.stop()
    figures = kill_figures(delivered, before_kill=len(before), in_flight=in_flight, restarted=restarted,
                           due=due, people=args.subscribers).as_dict()
    return {"scenario": {"subscribers": args.subscribers, "rate_per_s": args.rate, "batch": args.batch,
                         "send_delay_s": args.send_delay, "kill_at": args.kill_at, "offset": "1m",
                         "due": due.isoformat(), "start": start.isoformat()},
            "kill": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, help="default 2,000 (120 with --kill-at)")
    parser.add_argument("--rate", type=float, default=30.0, help="platform limit, messages/s")
    parser.add_argument("--batch", type=int, default=100, help="dispatcher claim batch")
    parser.add_argument("--early-window", type=int, default=10, help="minutes")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--kill-at", type=int, metavar="N",
                        help="run the bot as a process, SIGKILL it once N people have their reminder, restart it")
    parser.add_argument("--send-delay", type=float, default=0.03,
                        help="with --kill-at: the platform's round trip per send, seconds")
    args = parser.parse_args()
    if args.subscribers is None:
        args.subscribers = 120 if args.kill_at is not None else 2000
    if args.kill_at is not None:
        killed = run_killed(args)
        if args.json:
            print(json.dumps(killed, indent=2))
        else:
            for section in ("scenario", "kill"):
                print(f"{section}:")
                for key, value in killed[section].items():
                    print(f"  {key:24} {value}")
        return
    report = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    s = report["scenario"]
    print(f"{s['subscribers']} reminders due at one instant, platform limit {s['rate_per_s']} msg/s")
    for name in ("dispatcher", "naive_baseline"):
        if name not in report:
            continue
        r = report[name]
        print(f"\n{name}:")
        for key, value in r.items():
            print(f"  {key:24} {value}")


if __name__ == "__main__":
    main()
