"""The Matrix adapter through a real Synapse on 127.0.0.1 (matrix-synapse from the test extra).

1. ``!help`` round trip: a person (a matrix-nio client) sends ``!help`` in their direct chat and
   waits, long-polling ``/sync``, for the bot's answer; median and p99 over ``--rounds``.
2. ``--dms`` reminders falling due at once for one person, sent by the dispatcher through an
   account that keeps Synapse's default ``rc_message`` (0.2 msg/s, burst 10), with the adapter
   declaring that limit: the time from the due instant to the last one read, against the
   physical limit the server's limit implies, ``(dms - burst) / rate``.

    python benchmarks/matrix_adapter.py --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import make_occurrence, store_occurrences
from tests.matrix_people import Person, matrix_bot
from tests.synapse import running_synapse

SYNAPSE_RATE, SYNAPSE_BURST = 0.2, 10


async def round_trips(server: object, rounds: int, workdir: Path) -> list[float]:
    synapse = server
    async with Person.signed_in(synapse, synapse.accounts["alice"]) as alice, \
            matrix_bot(workdir / "rt", synapse, synapse.accounts["eventbot"]) as bot:  # type: ignore[arg-type]
        room = await alice.create_room(invite=[bot.user_id], direct=True)
        await alice.wait_for(lambda seen: any(s.room_id == room and s.event.get("state_key") == bot.user_id
                                              and s.content.get("membership") == "join" for s in seen))
        timings = []
        for _ in range(rounds):
            alice.seen.clear()
            started = time.perf_counter()
            await alice.say(room, "!help")
            while not any(s.room_id == room and s.sender == bot.user_id for s in alice.seen):
                await alice.sync(timeout_ms=30_000)
            timings.append(time.perf_counter() - started)
        return timings


async def many_dms(server: object, count: int, workdir: Path) -> dict[str, float]:
    synapse = server
    async with Person.signed_in(synapse, synapse.accounts["bob"]) as bob, \
            matrix_bot(workdir / "dm", synapse, synapse.accounts["slowbot"], real_time=True,  # type: ignore[arg-type]
                       matrix_rate=SYNAPSE_RATE, offsets=(timedelta(minutes=15),),
                       early_window_minutes=0) as bot:
        room = await bob.create_room(invite=[bot.user_id], direct=True)
        await bob.wait_for(lambda seen: any(s.room_id == room and s.event.get("state_key") == bot.user_id
                                            and s.content.get("membership") == "join" for s in seen))
        now = bot.clock.now()
        lead = timedelta(seconds=20)  # the subscription and its answer go out before anything is due
        sessions = [make_occurrence(f"Session {n}", now + timedelta(minutes=15) + lead, uid=f"bench{n}@test")
                    for n in range(count)]
        await store_occurrences(bot.app, sessions)
        await bob.say(room, "!subscribe all")
        due = time.time() + lead.total_seconds()
        seen_at: list[float] = []
        while len(seen_at) < count:
            before = len(bob.seen)
            await bob.sync(timeout_ms=30_000)
            seen_at += [time.time() for s in bob.seen[before:]
                        if s.room_id == room and s.sender == bot.user_id and "Session " in s.body]
        return {"dms": count, "seconds_from_due_to_last": round(seen_at[-1] - due, 1),
                "physical_limit_seconds": round((count - SYNAPSE_BURST) / SYNAPSE_RATE, 1),
                "rate_limited_answers": bot.adapter.rate_limited}


async def main(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, running_synapse(Path(tmp) / "synapse") as synapse:
        started = time.perf_counter()
        for name in ("eventbot", "slowbot", "alice", "bob"):
            synapse.register(name)
        for name in ("eventbot", "alice", "bob"):
            synapse.lift_rate_limit(synapse.accounts[name].user_id)
        timings = await round_trips(synapse, args.rounds, Path(tmp))
        result: dict[str, object] = {
            "help_round_trip_ms": {
                "rounds": len(timings), "median": round(statistics.median(timings) * 1000, 1),
                "p99": round(sorted(timings)[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000, 1)}}
        if args.dms:
            result["dms_under_default_limit"] = await many_dms(synapse, args.dms, Path(tmp))
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--dms", type=int, default=100, help="0 skips the rate-limited part (~8 min for 100)")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        figures = asyncio.run(main(options))
        print(json.dumps(figures, indent=2) if options.json else figures)
