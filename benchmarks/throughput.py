"""Reminders/s through planning, claiming and recording on SQLite, with an unlimited adapter,
and the process's memory with the outbox full.

    python benchmarks/throughput.py                        # 1,000,000 reminders
    python benchmarks/throughput.py --reminders 100000 --json

Sessions x subscribers reminders (one offset each) are planned by ``replan_all``; then time is
moved past every due instant (a fake clock, so nothing sleeps) and the real dispatcher claims,
"sends" through an adapter that only counts, and records them all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.alarms import ManualAlarms
from bot.app import open_app
from bot.clock import FakeClock
from bot.config import Config
from bot.models import Delivered, Outgoing, Subscription, SubscriptionScope
from bot.ports import Capability, MessageHandler, RateLimits
from tests.harness import make_occurrence, store_occurrences


class CountingAdapter:
    """An unlimited platform that keeps nothing but a count."""

    name = "fake"
    capabilities = frozenset({Capability.DIRECT_MESSAGES})
    limits = RateLimits()

    def __init__(self) -> None:
        self.sent = 0

    async def start(self, on_message: MessageHandler) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, message: Outgoing) -> Delivered:
        self.sent += 1
        return Delivered()


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def run(args: argparse.Namespace) -> dict[str, Any]:
    subscribers = args.subscribers
    sessions = max(1, args.reminders // subscribers)
    t0 = datetime(2025, 3, 17, 8, 0, tzinfo=UTC)
    clock = FakeClock(t0)
    adapter = CountingAdapter()
    with tempfile.TemporaryDirectory(prefix="eventbot-throughput-") as tmp:
        config = replace(Config(), db=Path(tmp) / "bot.db", offsets=(timedelta(days=1),),
                         reminder_batch=args.batch)
        async with open_app(config, adapters=[adapter], clock=clock, alarms=ManualAlarms(clock)) as app:
            occurrences = [make_occurrence(f"Session {i}", t0 + timedelta(days=1, hours=1, seconds=i * 3),
                                           id=f"o{i:06d}", uid=f"s{i}@bench") for i in range(sessions)]
            await store_occurrences(app, occurrences)
            for i in range(subscribers):
                await app.store.people.subscribe(Subscription(f"fake:user{i}", SubscriptionScope.ALL))
            service = app.services.reminders
            assert service is not None
            rss_before = rss_mb()
            started = time.perf_counter()
            planned, _moved, _removed = await service.replan_all()
            plan_s = time.perf_counter() - started
            rss_planned = rss_mb()
            counts = await app.store.reminders.counts()

            clock.set(occurrences[-1].start - timedelta(days=1) + timedelta(seconds=1))
            started = time.perf_counter()
            await service.dispatcher.run()
            dispatch_s = time.perf_counter() - started
            sent = (await app.store.reminders.counts())["sent"]
            with contextlib.suppress(Exception):
                app.services.alarms.cancel("reminders:dispatch")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "reminders": planned, "sessions": sessions, "subscribers": subscribers, "batch": args.batch,
        "planned_pending": counts["pending"],
        "planning_s": round(plan_s, 2), "planning_per_s": round(planned / plan_s),
        "claim_send_record_s": round(dispatch_s, 2), "claim_send_record_per_s": round(sent / dispatch_s),
        "sent": sent, "adapter_sent": adapter.sent,
        "overall_per_s": round(sent / (plan_s + dispatch_s)),
        "rss_before_planning_mb": round(rss_before, 1), "rss_with_outbox_planned_mb": round(rss_planned, 1),
        "peak_rss_mb": round(peak_mb, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reminders", type=int, default=1_000_000)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000, help="dispatcher claim batch")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
