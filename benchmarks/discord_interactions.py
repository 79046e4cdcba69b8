"""Slash commands and button presses through the real discord.py client, the Discord
adapter and the whole core, against the fake Discord on 127.0.0.1.

    python benchmarks/discord_interactions.py [N] [--json]

Prints how long N interactions took from the gateway push to the followup the fake
received (the acknowledgement Discord needs within 3 s comes before that).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=DeprecationWarning)  # discord.py's audioop import

from adapters.discord import DiscordAdapter  # noqa: E402
from bot.alarms import ManualAlarms  # noqa: E402
from bot.app import open_app  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.config import Config  # noqa: E402
from tests.fakes.discord_api import BOB, FakeDiscord  # noqa: E402
from tests.harness import START  # noqa: E402


async def main(n: int, as_json: bool = False) -> None:
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeDiscord.running() as api:
            with api.patched():
                clock = FakeClock(START)
                adapter = DiscordAdapter("benchmark-token", guild_ready_timeout=0.05)
                config = replace(Config(), db=Path(tmp) / "bot.db")
                async with open_app(config, adapters=[adapter], clock=clock, alarms=ManualAlarms(clock)):
                    for label, push in (
                        ("slash /subscribe all", lambda: api.slash("subscribe", user=BOB, options={"event": "all"})),
                        ("button sub:<id>", lambda: api.press("sub:nosuch", user=BOB)),
                    ):
                        latencies = []
                        started = time.perf_counter()
                        for _ in range(n):
                            before = len(api.followups())
                            t0 = time.perf_counter()
                            await push()
                            await api.wait_for(lambda before=before: len(api.followups()) > before, within=10)
                            latencies.append((time.perf_counter() - t0) * 1000)
                        elapsed = time.perf_counter() - started
                        latencies.sort()
                        figures[label] = {"count": n, "per_second": round(n / elapsed, 1),
                                          "median_ms": round(statistics.median(latencies), 2),
                                          "p95_ms": round(latencies[int(0.95 * (n - 1))], 2),
                                          "max_ms": round(latencies[-1], 2)}
                        if not as_json:
                            print(f"{label}: {n} in {elapsed:.2f}s ({n / elapsed:.0f}/s); push→followup "
                                  f"median {statistics.median(latencies):.1f} ms, "
                                  f"p95 {latencies[int(0.95 * (n - 1))]:.1f} ms, max {latencies[-1]:.1f} ms")
    if as_json:
        print(json.dumps(figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=200, help="interactions of each kind")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.json))
