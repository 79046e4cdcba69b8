"""Telegram adapter over loopback: the real python-telegram-bot client against the fake Bot API.

    python -m benchmarks.telegram_adapter [--sends 300] [--round-trips 50] [--json]

Prints the adapter's own overhead (no Telegram latency, no rate limits): sequential sends per
second, and the time from an update being available to getUpdates until the bot's reply
reaches the server (median and 95th percentile).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from adapters.telegram import TelegramAdapter
from bot.alarms import ManualAlarms
from bot.app import open_app
from bot.clock import FakeClock
from bot.config import Config, SecretStr
from bot.models import ChatRef, Outgoing
from tests.fakes.telegram_api import FakeBotApi


async def main(sends: int, round_trips: int, as_json: bool = False) -> None:
    figures: dict[str, float | int] = {"sends": sends, "round_trips": round_trips}
    async with FakeBotApi() as api:
        with tempfile.TemporaryDirectory() as tmp:
            config = replace(Config(), db=Path(tmp) / "bench.db", telegram_token=SecretStr(api.token),
                             telegram_base_url=api.base_url)
            clock = FakeClock()
            adapter = TelegramAdapter.from_config(config)
            async with open_app(config, adapters=[adapter], clock=clock, alarms=ManualAlarms(clock)):
                group = api.add_group(-1001, "bench")
                room = ChatRef(f"telegram:{group['id']}")
                started = time.perf_counter()
                for i in range(sends):
                    await adapter.send(Outgoing(f"Message {i} <with> & “markup” ŵ 🧠", chat=room))
                elapsed = time.perf_counter() - started
                figures["sends_per_second"] = round(sends / elapsed, 1)
                if not as_json:
                    print(f"sequential sends: {sends} in {elapsed:.2f}s = {sends / elapsed:.0f}/s")

                user = api.add_user(5000, "bench")
                latencies = []
                for _ in range(round_trips):
                    before = len(api.calls_to("sendMessage", chat_id=user.id))
                    started = time.perf_counter()
                    api.say(user, "/help")
                    await api.wait_call("sendMessage", before + 1, chat_id=user.id)
                    latencies.append((time.perf_counter() - started) * 1000)
                latencies.sort()
                p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
                figures["help_median_ms"] = round(statistics.median(latencies), 2)
                figures["help_p95_ms"] = round(p95, 2)
                if not as_json:
                    print(f"/help round trip over {round_trips}: median {statistics.median(latencies):.1f} ms, "
                          f"p95 {p95:.1f} ms")
    if as_json:
        print(json.dumps(figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--round-trips", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    asyncio.run(main(args.sends, args.round_trips, args.json))
