"""Projector load: 500 viewers follow one poll's event stream while 2,000 people vote in 10 s.

The bot runs in a child process (the real web server, the core, SQLite, the fake adapter,
the system clock); this process holds the viewers, each its own HTTP connection to
``/live/<session>/events``. Votes go through ``Bot.handle`` at an even pace, each its own
task. For every vote and every viewer, the lag is the time from the vote being sent to the
bot to the first update that viewer receives counting at least as many voters (times on the
system-wide monotonic clock, the same in both processes). Also reported: the bot's CPU time
during the storm and its resident memory before the viewers connect and at its peak.

    python benchmarks/projector.py [--viewers 500] [--votes 2000] [--window 10] [--json]

Both processes share the machine's cores, so the viewers' own work (500 streams parsed in
Python) competes with the bot's: the figures are an upper bound on the lag.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_VOTERS = re.compile(r"(\d[\d,]*)")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# -- the bot (child process) -------------------------------------------------------------------


async def run_bot(votes: int, window: float) -> None:
    from adapters.fake import FakeAdapter
    from bot.app import open_app
    from bot.clock import SystemClock
    from bot.config import Config
    from bot.models import ChatKind, ChatRef, Incoming, Occurrence, UserRef, UserSettings
    from bot.web import links
    from tests.harness import store_occurrences

    with tempfile.TemporaryDirectory(prefix="projector-bench-") as tmp:
        config = replace(Config(), db=Path(tmp) / "bench.db", organisers=("fake:org",), web_port=0)
        clock = SystemClock()
        adapter = FakeAdapter()
        room = ChatRef("fake:room", ChatKind.GROUP, "room")
        async with open_app(config, adapters=[adapter], clock=clock) as app:
            now = clock.now()
            session = Occurrence(id="bench1", calendar="bench", uid="bench@bench", recurrence_id="",
                                 series_id="sbench", title="Projector benchmark", start=now - timedelta(minutes=1),
                                 end=now + timedelta(hours=1), timezone="Europe/London")
            await store_occurrences(app, [session], calendar="bench")
            for i in range(votes):  # people who have used the bot before
                await app.store.people.save_settings(UserSettings(f"fake:voter{i}", display_name=f"Voter {i}"))
            org = UserRef("fake:org", "Organiser")
            await app.bot.handle(Incoming(org, room, "/live bench1"))
            await app.bot.handle(Incoming(org, room, '/poll "Where next?" "Cardiff" "Swansea" "Bangor" "Wrexham"'))
            link = await links.live_link(app.services, session, org.id, links.VIEWER)
            baseline_kb = _memory_kb("VmRSS")
            print("READY " + link.replace(links.base_url(app.services.config), app.web.url), flush=True)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, sys.stdin.readline)  # GO: the viewers are all connected
            connected_kb = _memory_kb("VmRSS")
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            wall0 = time.monotonic()
            sent: list[float] = []

            async def vote(i: int) -> None:
                sent.append(time.monotonic())
                user = UserRef(f"fake:voter{i}", f"Voter {i}")
                await app.bot.handle(Incoming(user, room, f"/vote {1 + i % 4}"))

            tasks = []
            for i in range(votes):
                due = wall0 + window * i / votes
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(vote(i)))
            await asyncio.gather(*tasks)
            handled = time.monotonic()
            await loop.run_in_executor(None, sys.stdin.readline)  # STOP: every viewer saw the last vote
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            wall1 = time.monotonic()
            print("RESULT " + json.dumps({
                "sent": sent, "handled_seconds": round(handled - wall0, 3),
                "cpu_seconds": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
                "wall_seconds": round(wall1 - wall0, 2),
                "rss_baseline_mb": round(baseline_kb / 1024, 1),
                "rss_viewers_connected_mb": round(connected_kb / 1024, 1),
                "rss_peak_mb": round(_memory_kb("VmHWM") / 1024, 1),
            }), flush=True)


# -- the viewers (this process) ----------------------------------------------------------------


async def watch(session: Any, url: str, updates: list[tuple[float, int]], first: asyncio.Event,
                done: asyncio.Event, votes: int) -> None:
    async with session.get(url) as response:
        assert response.status == 200, response.status
        buffer = b""
        async for chunk in response.content.iter_any():
            now = time.monotonic()
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                data = next((line[6:] for line in event.split(b"\n") if line.startswith(b"data: ")), None)
                if data is None or not event.startswith(b"event: state"):
                    continue
                poll = json.loads(data)["poll"]
                voters = int(_VOTERS.search(poll["voters"]).group(1).replace(",", "")) if poll else 0
                updates.append((now, voters))
                first.set()
                if voters >= votes:
                    done.set()
                    return


async def measure(viewers: int, votes: int, window: float) -> dict[str, Any]:
    import aiohttp

    bot = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--bot", "--votes", str(votes), "--window", str(window),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=2**26)
    assert bot.stdin is not None and bot.stdout is not None
    try:
        line = (await bot.stdout.readline()).decode()
        if not line.startswith("READY "):
            raise RuntimeError(f"the bot did not start: {line!r}")
        link = line.split()[1]
        events = link.replace("/live/bench1?", "/live/bench1/events?")
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as http:
            updates: list[list[tuple[float, int]]] = [[] for _ in range(viewers)]
            firsts = [asyncio.Event() for _ in range(viewers)]
            dones = [asyncio.Event() for _ in range(viewers)]
            tasks = [asyncio.create_task(watch(http, events, updates[i], firsts[i], dones[i], votes))
                     for i in range(viewers)]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in firsts)), 120)
            bot.stdin.write(b"GO\n")
            await bot.stdin.drain()
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in dones)), window + 120)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        bot.stdin.write(b"STOP\n")
        await bot.stdin.drain()
        result_line = (await bot.stdout.readline()).decode()
        if not result_line.startswith("RESULT "):
            raise RuntimeError(f"the bot did not report: {result_line[:200]!r}")
        result = json.loads(result_line[7:])
    finally:
        if bot.returncode is None:
            bot.stdin.close()
            await bot.wait()
    sent = sorted(result.pop("sent"))
    lags: list[float] = []
    for seen in updates:
        j = 0
        for k, at in enumerate(sent, 1):  # the k-th vote is shown once k voters are counted
            while j < len(seen) and seen[j][1] < k:
                j += 1
            lags.append(max(0.0, seen[j][0] - at))
    per_viewer_updates = [len(u) for u in updates]
    return {
        "viewers": viewers, "votes": votes, "window_seconds": window,
        "lag_p50_ms": round(percentile(lags, 0.5) * 1000, 1),
        "lag_p99_ms": round(percentile(lags, 0.99) * 1000, 1),
        "lag_max_ms": round(max(lags) * 1000, 1),
        "lag_mean_ms": round(statistics.fmean(lags) * 1000, 1),
        "updates_per_viewer": round(statistics.fmean(per_viewer_updates), 1),
        "bot_cpu_seconds": result["cpu_seconds"],
        "bot_cpu_share_of_one_core": round(result["cpu_seconds"] / result["wall_seconds"], 2),
        "votes_handled_in_seconds": result["handled_seconds"],
        "bot_rss_baseline_mb": result["rss_baseline_mb"],
        "bot_rss_viewers_connected_mb": result["rss_viewers_connected_mb"],
        "bot_rss_peak_mb": result["rss_peak_mb"],
        "bot_rss_added_mb": round(result["rss_peak_mb"] - result["rss_baseline_mb"], 1),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=500)
    parser.add_argument("--votes", type=int, default=2000)
    parser.add_argument("--window", type=float, default=10.0, help="seconds over which the votes arrive")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--bot", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bot:
        asyncio.run(run_bot(args.votes, args.window))
        return
    figures = asyncio.run(measure(args.viewers, args.votes, args.window))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{figures['viewers']} viewers, {figures['votes']} votes in {figures['window_seconds']:g} s")
    print(f"lag from vote to every viewer's update: p50 {figures['lag_p50_ms']} ms, "
          f"p99 {figures['lag_p99_ms']} ms, max {figures['lag_max_ms']} ms")
    print(f"bot CPU {figures['bot_cpu_seconds']} s ({figures['bot_cpu_share_of_one_core']} of a core); "
          f"RSS {figures['bot_rss_baseline_mb']} MB before viewers, peak {figures['bot_rss_peak_mb']} MB "
          f"(+{figures['bot_rss_added_mb']} MB)")


if __name__ == "__main__":
    main()
