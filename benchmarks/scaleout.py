"""Several bot processes on one PostgreSQL database, started by the benchmark itself.

    python benchmarks/scaleout.py --json                  # 10,000 reminders at 30 msg/s; 1, 2, 4 workers
    python benchmarks/scaleout.py --reminders 3000 --workers 1 4 --json
    python benchmarks/scaleout.py --skip-fanout --json    # only throughput and the kill
    python benchmarks/scaleout.py --skip-throughput --skip-kill --json   # only the fan-outs
    python benchmarks/scaleout.py --skip-fanout --skip-throughput --keep runs/ --json   # the kill, logs kept

Three parts, each on a fresh database of a throwaway PostgreSQL server (the machine's binaries,
on a unix socket, as the tests start it):

* **fan-out**: N people follow one session, all reminded at one instant; 1, 2 and 4 real
  ``python -m bot run`` processes (fake platform, every delivery appended to one shared file)
  share the platform's ``--rate`` through the store's rate budget. Reported per worker count:
  lost, duplicates, lateness against the due instant, the 429s a platform holding the whole
  account to ``--rate`` (token bucket, burst ``--rate``) would have answered, and the share of
  that rate used between the first and the last send.
* **throughput**: claim + send + record with an unlimited adapter, 1 process on SQLite against
  1 and 4 processes on PostgreSQL (each process the real dispatcher on its own connection).
* **kill**: 4 processes, one SIGKILLed mid-fan-out (one caught with a batch in flight) and not
  restarted: lost, duplicates, and ``recovery_s`` from the kill to the first reminder of its
  batch in flight sent by another.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.fake import _Bucket
from bot.alarms import ManualAlarms
from bot.app import open_app
from bot.clock import FakeClock
from bot.config import Config
from bot.models import Subscription, SubscriptionScope
from bot.reminders.dispatcher import RATE_HEADROOM
from bot.store.sql import SqlStore
from tests.bot_process import BotProcess, prepare, wait_for
from tests.databases import postgres_server
from tests.harness import make_occurrence, store_occurrences

REPO = Path(__file__).resolve().parents[1]
OFFSET = timedelta(minutes=1)


@dataclass
class SharedBotProcess(BotProcess):
    """One of several bot processes: the database and the platform's delivery file are shared."""

    url: str = ""
    shared_out: Path = Path()

    @property
    def db(self) -> Any:
        return self.url

    @property
    def out(self) -> Path:
        return self.shared_out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def fanout_figures(delivered: list[dict[str, Any]], people: int, due: datetime, rate: float) -> dict[str, Any]:
    sent = sorted((d for d in delivered if d["kind"] == "reminder"), key=lambda d: d["at"])
    per_person = Counter(d["to"] for d in sent)
    times = [datetime.fromisoformat(d["at"]) for d in sent]
    first: dict[str, datetime] = {}
    for d, at in zip(sent, times, strict=True):
        first.setdefault(d["to"], at)
    lateness = [(at - due).total_seconds() for at in first.values()]
    platform = _Bucket(rate, 1.0)
    refused = sum(1 for at in times if platform.take(at) > 0)
    span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
    return {
        "lost": people - len(per_person), "duplicates": sum(n - 1 for n in per_person.values()),
        "lateness_p50_s": round(percentile(lateness, 0.5), 3) if lateness else None,
        "lateness_p99_s": round(percentile(lateness, 0.99), 3) if lateness else None,
        "lateness_max_s": round(max(lateness), 3) if lateness else None,
        "would_be_429s": refused,
        "rate_used": round((len(times) - 1) / (span * rate), 3) if span else None,
        "first_before_due_s": round((due - times[0]).total_seconds(), 1) if times else None,
    }


def start_workers(root: Path, url: str, out: Path, count: int, args: argparse.Namespace,
                  settings: dict[str, Any]) -> list[SharedBotProcess]:
    workers = []
    for i in range(count):
        folder = root / f"worker{i}"
        folder.mkdir()
        bot = SharedBotProcess(folder, settings=settings, fake_rate=args.rate, fake_send_delay=args.send_delay,
                               url=url, shared_out=out)
        bot.start(f"worker{i}")
        workers.append(bot)
    return workers


def run_fanout(server: Any, workers: int, args: argparse.Namespace, *, kill_at: int | None = None) -> dict[str, Any]:
    url = server.database()
    with contextlib.ExitStack() as stack:
        if args.keep:
            # Each fan-out's workers' logs and the platform's deliveries, kept for a look afterwards.
            root = Path(tempfile.mkdtemp(prefix=f"fanout-{workers}-{'kill-' if kill_at else ''}", dir=args.keep))
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eventbot-scaleout-")))
        out = root / "deliveries.jsonl"
        # Due once the processes are surely up and the fan-out has had its head start.
        lead = args.reminders / (args.rate * RATE_HEADROOM) + 30
        due = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
        start = due + OFFSET
        asyncio.run(prepare(url, title="Scale-out plenary", start=start, subscribers=args.reminders))
        settings = {"offsets": ["1m"], "reminder_batch": args.batch, "early_window_minutes": 15}
        bots = start_workers(root, url, out, workers, args, settings)
        deadline = time.monotonic() + (start - datetime.now(UTC)).total_seconds() + 30
        killed: dict[str, Any] = {}
        try:
            if kill_at is not None:
                wait_for(out, kill_at, deadline)
                # The victim is a process caught with a batch in flight: killing an idle one
                # would leave nothing to recover.
                pids = {bot._process.pid: bot for bot in bots if bot._process is not None}
                while True:
                    holding = asyncio.run(claims_by_pid(url))
                    busy = [pid for pid in pids if holding.get(pid)]
                    if busy or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)  # polling the database another process writes
                pid = busy[0] if busy else next(iter(pids))
                pids[pid].kill()
                killed_at = datetime.now(UTC)
                in_flight = asyncio.run(claimed_by_pid(url, pid))
                killed = {"killed_after": kill_at, "in_flight": len(in_flight)}
            delivered = wait_for(out, args.reminders, deadline)
        finally:
            for bot in bots:
                bot.stop()
    report = {"workers": workers, **fanout_figures(delivered, args.reminders, due, args.rate)}
    if kill_at is not None:
        resent = [datetime.fromisoformat(d["at"]) for d in delivered
                  if d["kind"] == "reminder" and d["to"] in in_flight and datetime.fromisoformat(d["at"]) >= killed_at]
        report.update(killed, recovery_s=round((min(resent) - killed_at).total_seconds(), 3) if resent else None)
    return report


async def claims_by_pid(db: str) -> dict[int, int]:
    """How many reminders each worker process has claimed and not yet recorded."""
    import sqlalchemy as sa

    from bot.clock import SystemClock
    from bot.store.schema import reminders, workers

    store = await SqlStore.open(db, SystemClock())
    try:
        async with store.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(workers.c.pid, sa.func.count()).select_from(
                    reminders.join(workers, workers.c.id == reminders.c.claimed_by))
                .where(reminders.c.status == "sending").group_by(workers.c.pid))
            return {int(pid): int(n) for pid, n in rows}
    finally:
        await store.close()


async def claimed_by_pid(db: str, pid: int) -> set[str]:
    """Who had a reminder claimed by the process ``pid`` (its batch in flight when killed)."""
    import sqlalchemy as sa

    from bot.clock import SystemClock
    from bot.store.schema import reminders, workers

    store = await SqlStore.open(db, SystemClock())
    try:
        async with store.engine.connect() as conn:
            mine = sa.select(workers.c.id).where(workers.c.pid == pid)
            rows = await conn.execute(sa.select(reminders.c.user_id).where(
                reminders.c.status == "sending", reminders.c.claimed_by.in_(mine)))
            return {row[0] for row in rows}
    finally:
        await store.close()


# -- throughput: the real dispatcher on an unlimited adapter, one process per worker ----------


T0 = datetime(2025, 3, 17, 8, 0, tzinfo=UTC)


async def plan(db: str, reminders: int) -> datetime:
    """``reminders`` reminders (100 sessions, one offset each), planned; return an instant at
    which all are due and none of their sessions has started."""
    from benchmarks.throughput import CountingAdapter

    clock = FakeClock(T0)
    sessions = 100
    config = replace(Config(), db=db, offsets=(timedelta(days=1),))
    async with open_app(config, adapters=[CountingAdapter()], clock=clock, alarms=ManualAlarms(clock)) as app:
        occurrences = [make_occurrence(f"Session {i}", T0 + timedelta(days=1, hours=1, seconds=i * 3),
                                       id=f"o{i:06d}", uid=f"s{i}@bench") for i in range(sessions)]
        await store_occurrences(app, occurrences)
        for i in range(reminders // sessions):
            await app.store.people.subscribe(Subscription(f"fake:user{i}", SubscriptionScope.ALL))
        assert app.services.reminders is not None
        await app.services.reminders.replan_all()
    return occurrences[-1].start - timedelta(days=1) + timedelta(seconds=1)


async def drain(db: str, at: datetime, batch: int) -> dict[str, Any]:
    """One worker: the dispatcher claims, 'sends' and records until nothing is left."""
    from benchmarks.throughput import CountingAdapter

    clock = FakeClock(at)
    adapter = CountingAdapter()
    config = replace(Config(), db=db, offsets=(timedelta(days=1),), reminder_batch=batch)
    async with open_app(config, adapters=[adapter], clock=clock, alarms=ManualAlarms(clock)) as app:
        assert app.services.reminders is not None
        started = time.time()
        await app.services.reminders.dispatcher.run()
        ended = time.time()
    return {"sent": adapter.sent, "started": started, "ended": ended}


def run_throughput(db: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    at = asyncio.run(plan(db, args.throughput_reminders))
    command = [sys.executable, __file__, "--drain", db, "--at", at.isoformat(), "--batch", str(args.batch)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=REPO) for _ in range(workers)]
    results = [json.loads(p.communicate()[0]) for p in procs]
    sent = sum(r["sent"] for r in results)
    elapsed = max(r["ended"] for r in results) - min(r["started"] for r in results)

    async def count() -> dict[str, int]:
        store = await SqlStore.open(db, FakeClock(at))
        try:
            return await store.reminders.counts()
        finally:
            await store.close()

    counts = asyncio.run(count())
    return {"workers": workers, "reminders": args.throughput_reminders, "adapter_sent": sent,
            "stored_sent": counts["sent"], "claim_send_record_per_s": round(counts["sent"] / elapsed),
            "elapsed_s": round(elapsed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reminders", type=int, default=10_000, help="fan-out size (10,000)")
    parser.add_argument("--rate", type=float, default=30.0, help="the platform's limit, messages/s")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--send-delay", type=float, default=0.02, help="the platform's round trip, s")
    parser.add_argument("--throughput-reminders", type=int, default=50_000)
    parser.add_argument("--kill-at", type=int, default=2_000, help="kill one of 4 workers after N people")
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="keep each fan-out's worker logs and deliveries under DIR")
    parser.add_argument("--drain", help=argparse.SUPPRESS)
    parser.add_argument("--at", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain:  # a throughput worker, started by the benchmark
        print(json.dumps(asyncio.run(drain(args.drain, datetime.fromisoformat(args.at), args.batch))))
        return

    report: dict[str, Any] = {"scenario": {"reminders": args.reminders, "rate_per_s": args.rate,
                                           "batch": args.batch, "send_delay_s": args.send_delay,
                                           "cpus": os.cpu_count()}}
    with postgres_server() as server:
        if not args.skip_fanout:
            report["fanout"] = [run_fanout(server, n, args) for n in args.workers]
        if not args.skip_throughput:
            with tempfile.TemporaryDirectory(prefix="eventbot-throughput-") as tmp:
                report["throughput"] = [
                    {"store": "sqlite", **run_throughput(str(Path(tmp) / "bot.db"), 1, args)},
                    {"store": "postgresql", **run_throughput(server.database(), 1, args)},
                    {"store": "postgresql", **run_throughput(server.database(), 4, args)},
                ]
        if not args.skip_kill:
            report["kill"] = run_fanout(server, 4, args, kill_at=args.kill_at)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for section, value in report.items():
        print(f"{section}:")
        for row in value if isinstance(value, list) else [value]:
            print("  " + ", ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
