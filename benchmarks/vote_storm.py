"""Vote storm: 2,000 distinct people vote on one poll within one second, through the whole
core (``Bot.handle`` with a fake adapter, the router, the SQLite store).

Votes arrive at an even pace over ``--window`` seconds (each one is its own task, so
they overlap whenever handling is slower than the pace). Prints how many were counted,
lost and counted twice, the CPU spent per vote, and the p50/p90/p99 time to handle one.

By default the voters are people the bot already knows (they followed the session and were
reminded of it), and a short warm-up poll runs first, as it would in a bot that has been up
for a while; ``--new-users`` makes every vote its sender's first message to the bot (the
core then stores each name too). Figures depend heavily on how busy the machine is:
handling time is mostly waiting for the database threads to get a CPU.

``--discord`` runs the storm through the Discord adapter instead: the real discord.py
client against the fake Discord on 127.0.0.1, each vote a gateway event in a native poll,
then ``/closepoll`` ``--close-after`` seconds (0.05) after the last vote. It reports the
votes lost between Discord's own poll and the bot's final results, and the time from the
gateway event to the vote being handled.

    python benchmarks/vote_storm.py [--voters 2000] [--window 1.0]
        [--anonymous] [--new-users] [--discord [--close-after 0.05]] [--json]
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

import sqlalchemy as sa

from adapters.fake import FakeAdapter
from bot.app import open_app, settle_heap
from bot.clock import SystemClock
from bot.config import Config
from bot.models import ChatKind, ChatRef, Incoming, Occurrence, UserRef, UserSettings
from bot.ports import CalendarInfo, SeriesRecord
from bot.store.schema import poll_votes

WARM_UP = 200


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def storm(voters: int, window: float, anonymous: bool, known: bool = True) -> dict[str, float | int | str]:
    with tempfile.TemporaryDirectory(prefix="vote-storm-") as tmp:
        config = replace(Config(), db=Path(tmp) / "storm.db", organisers=("fake:org",))
        clock = SystemClock()
        adapter = FakeAdapter()
        room = ChatRef("fake:room", ChatKind.GROUP, "room")
        async with open_app(config, adapters=[adapter], clock=clock) as app:
            now = clock.now()
            session = Occurrence(id="storm1", calendar="bench", uid="storm@bench", recurrence_id="",
                                 series_id="sbench", title="Storm session", start=now - timedelta(minutes=1),
                                 end=now + timedelta(hours=1), timezone="Europe/London")
            await app.store.calendars.apply_sync(
                "bench", upsert_series=[SeriesRecord("bench", session.uid, session.series_id, session.title, "",
                                                     "UTC", False, "")],
                delete_series=[], upsert_occurrences=[session], delete_occurrences=[],
                info=CalendarInfo(name="bench", source="bench", last_sync=datetime.now(UTC)))
            if known:
                # The voters have used the bot before (they subscribed and were reminded of the
                # session), so the core already knows their names and has nothing to write.
                for i in range(voters):
                    await app.store.people.save_settings(UserSettings(f"fake:voter{i}", display_name=f"Voter {i}"))
            org = UserRef("fake:org", "Organiser")
            await app.bot.handle(Incoming(org, room, "/live storm1"))
            # A running bot is warm (pooled connections open, statements compiled): a short
            # warm-up poll takes some votes first, outside the figures.
            await app.bot.handle(Incoming(org, room, '/poll "Warm-up?" "Yes" "No"'))
            await asyncio.gather(*(app.bot.handle(Incoming(UserRef(f"fake:warm{i}", f"Warm {i}"), room,
                                                           f"/vote {i % 2 + 1}")) for i in range(WARM_UP)))
            await app.bot.handle(Incoming(org, room, "/closepoll"))
            flags = " --anonymous" if anonymous else ""
            await app.bot.handle(Incoming(org, room, f'/poll "Best time for the next session?" "Morning" '
                                                     f'"Afternoon" "Evening"{flags}'))
            poll = await app.store.live.latest_poll(room.id, open_only=True)
            assert poll is not None, adapter.texts()
            adapter.clear()
            settle_heap()  # as ``eventbot run`` does once it has started

            loop = asyncio.get_running_loop()
            timings: list[float] = []
            start = loop.time()
            cpu = time.process_time()

            async def one(i: int) -> None:
                await asyncio.sleep(max(0.0, start + window * i / voters - loop.time()))
                user = UserRef(f"fake:voter{i}", f"Voter {i}")
                began = time.perf_counter()
                await app.bot.handle(Incoming(user, room, f"/vote {i % 3 + 1}"))
                timings.append(time.perf_counter() - began)

            await asyncio.gather(*(one(i) for i in range(voters)))
            elapsed = loop.time() - start
            cpu = time.process_time() - cpu
            tally = await app.store.live.tally(poll)
            async with app.store.engine.connect() as conn:
                rows = await conn.scalar(sa.select(sa.func.count()).select_from(poll_votes)
                                         .where(poll_votes.c.poll_id == poll.id))
            errors = sum(1 for t in adapter.texts() if "went wrong" in t)
    counted = tally.voters
    return {
        "voters": voters, "window_s": window, "anonymous": str(anonymous).lower(),
        "voters_known": str(known).lower(),
        "counted": counted, "lost": voters - counted, "duplicates": int(rows or 0) - counted,
        "errors": errors, "elapsed_s": round(elapsed, 3), "cpu_ms_per_vote": round(1000 * cpu / voters, 3),
        "p50_ms": round(1000 * statistics.median(timings), 2),
        "p90_ms": round(1000 * percentile(timings, 0.90), 2),
        "p99_ms": round(1000 * percentile(timings, 0.99), 2),
        "max_ms": round(1000 * max(timings), 2),
    }


async def discord_storm(voters: int, window: float, close_after: float) -> dict[str, float | int | str]:
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # discord.py's audioop import
    from adapters.discord import DiscordAdapter
    from bot.config import SecretStr
    from tests.fakes.discord_api import ALICE, CHANNEL_ID, FakeDiscord, Person
    from tests.harness import make_occurrence, store_occurrences

    def embeds(api: FakeDiscord) -> list[str]:
        return ["\n".join(e.get("description", "") for e in r.json.get("embeds", []))
                for r in api.channel_messages(CHANNEL_ID) + api.followups() if r.json]

    with tempfile.TemporaryDirectory(prefix="vote-storm-") as tmp:
        async with FakeDiscord.running() as api:
            with api.patched():
                config = replace(Config(), db=Path(tmp) / "storm.db", organisers=(f"discord:{ALICE.id}",),
                                 discord_token=SecretStr("benchmark-token"))
                adapter = DiscordAdapter("benchmark-token", guild_ready_timeout=0.05)
                clock = SystemClock()
                timings: list[float] = []
                handled = 0
                original = adapter._on_poll_vote

                async def timed(event: Any, *, added: bool) -> None:
                    nonlocal handled
                    began = time.perf_counter()
                    await original(event, added=added)
                    timings.append(time.perf_counter() - began)
                    handled += 1

                adapter._on_poll_vote = timed  # type: ignore[method-assign]
                async with open_app(config, adapters=[adapter], clock=clock) as app:
                    session = make_occurrence("Storm session", clock.now() - timedelta(minutes=1), id="storm1")
                    await store_occurrences(app, [session])
                    await api.slash("live", user=ALICE, options={"event": session.id})
                    await api.wait_for(api.followups)
                    await api.slash("poll", user=ALICE, options={
                        "question": "Best time for the next session?", "more": "Morning Afternoon Evening"})

                    async def delivered() -> Any:
                        poll = await app.store.live.latest_poll(f"discord:{CHANNEL_ID}")
                        return poll if poll is not None and poll.poll_ref else None

                    poll = await api.wait_for(delivered)
                    message_id = int(poll.poll_ref)
                    settle_heap()  # as ``eventbot run`` does once it has started
                    loop = asyncio.get_running_loop()
                    start = loop.time()
                    cpu = time.process_time()
                    for i in range(voters):
                        await asyncio.sleep(max(0.0, start + window * i / voters - loop.time()))
                        await api.poll_vote(user=Person(10_000 + i, f"voter{i}"), message_id=message_id,
                                            answer_id=i % 3 + 1)
                    await asyncio.sleep(close_after)
                    handled_at_close = handled
                    await api.slash("closepoll", user=ALICE)
                    results = await api.wait_for(lambda: [t for t in embeds(api) if "Final results" in t], within=60)
                    elapsed = loop.time() - start
                    await api.wait_for(lambda: handled == voters, within=60)
                    cpu = time.process_time() - cpu
                    platform = api.poll_results(message_id)
                    posted = [int(line.rsplit(" ", 2)[-2]) for line in results[0].splitlines()[1:4]]
                    tally = await app.store.live.tally(poll)
    return {
        "path": "discord", "voters": voters, "window_s": window, "close_after_s": close_after,
        "platform_votes": sum(platform), "final_results_votes": sum(posted),
        "lost": sum(platform) - sum(posted), "results_equal_platform": str(posted == platform).lower(),
        "stored_voters": tally.voters, "handled_before_close": handled_at_close,
        "elapsed_s": round(elapsed, 3), "cpu_ms_per_vote": round(1000 * cpu / voters, 3),
        "p50_ms": round(1000 * statistics.median(timings), 2),
        "p90_ms": round(1000 * percentile(timings, 0.90), 2),
        "p99_ms": round(1000 * percentile(timings, 0.99), 2),
        "max_ms": round(1000 * max(timings), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=2000)
    parser.add_argument("--window", type=float, default=1.0, help="seconds over which the votes arrive")
    parser.add_argument("--anonymous", action="store_true", help="an anonymous poll (keyed-hash votes)")
    parser.add_argument("--new-users", action="store_true",
                        help="voters write to the bot for the first time (the core stores each name first)")
    parser.add_argument("--discord", action="store_true",
                        help="through the Discord adapter and the fake Discord, into a native poll, then /closepoll")
    parser.add_argument("--close-after", type=float, default=0.05,
                        help="with --discord: seconds between the last vote and /closepoll")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    if args.discord:
        result = asyncio.run(discord_storm(args.voters, args.window, args.close_after))
    else:
        result = asyncio.run(storm(args.voters, args.window, args.anonymous, known=not args.new_users))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>10}: {value}")


if __name__ == "__main__":
    main()
