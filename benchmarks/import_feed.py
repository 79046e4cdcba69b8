"""Import a generated 20,000-event feed (500 of them recurring series) and time it.

    python benchmarks/import_feed.py            # human-readable figures
    python benchmarks/import_feed.py --json     # one JSON object

Figures: the first import and an unchanged refresh, through the whole CalendarService
(fetch from a file, parse, expand to the horizon, store in SQLite) when it is available,
otherwise parse + expand only (``--core``). No timing is asserted anywhere; targets on a
2-core machine are a first import under 10 s and an unchanged refresh under 0.5 s. CPU
seconds are printed too: on a shared machine they say more than the wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.ical import expand, feed_hash, parse_feed

ZONES = ("Europe/London", "America/New_York", "Australia/Sydney", "Europe/Berlin")
NOW = datetime(2025, 3, 17, 8, 0, tzinfo=UTC)


def generate_feed(events: int = 20_000, recurring: int = 500) -> bytes:
    """A Google-like export: ``events`` VEVENTs, of which ``recurring`` carry an RRULE."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//eventbot//benchmark//EN",
             "X-WR-CALNAME:Benchmark", "X-WR-TIMEZONE:Europe/London"]
    base = datetime(2025, 1, 6, 9, 0)  # noqa: DTZ001 - local wall-clock times, written with a TZID
    for n in range(events):
        zone = ZONES[n % len(ZONES)]
        start = base + timedelta(hours=7 * n % (24 * 365), minutes=15 * (n % 4))
        lines += [
            "BEGIN:VEVENT",
            f"UID:bench-{n:05d}@eventbot.test",
            "DTSTAMP:20250101T000000Z",
            f"DTSTART;TZID={zone}:{start:%Y%m%dT%H%M%S}",
            f"DTEND;TZID={zone}:{start + timedelta(minutes=90):%Y%m%dT%H%M%S}",
            f"SUMMARY:CPD session {n}: safeguarding adults in practice",
            f"DESCRIPTION:Session {n}. Join: https://meet.example.org/s/{n}",
            f"LOCATION:Room {n % 40}",
            f"ORGANIZER;CN=Facilitator {n % 97}:mailto:f{n % 97}@example.org",
        ]
        if n < recurring:
            if n % 2:
                lines.append("RRULE:FREQ=WEEKLY;COUNT=40")
            else:
                lines.append(f"RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL={start + timedelta(days=500):%Y%m%dT%H%M%SZ}")
                lines.append(f"EXDATE;TZID={zone}:{start + timedelta(days=14):%Y%m%dT%H%M%S}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def measure_core(data: bytes, horizon_days: int) -> dict[str, float | int]:
    window = (NOW - timedelta(days=1), NOW + timedelta(days=horizon_days))
    started, cpu = time.perf_counter(), time.process_time()
    parsed = parse_feed(data, calendar="bench", default_timezone="Europe/London")
    parsed_at = time.perf_counter()
    expansion = expand(parsed.series, *window)
    expanded_at = time.perf_counter()
    # An unchanged refresh: the same bytes again; the whole-feed hash says "nothing to do".
    refresh_started = time.perf_counter()
    unchanged = feed_hash(data) == parsed.content_hash
    refresh = time.perf_counter() - refresh_started
    assert unchanged
    return {
        "series": len(parsed.series),
        "occurrences": len(expansion.occurrences),
        "problems": len(parsed.problems),
        "first_import_s": round(expanded_at - started, 3),
        "first_import_cpu_s": round(time.process_time() - cpu, 3),
        "parse_s": round(parsed_at - started, 3),
        "expand_s": round(expanded_at - parsed_at, 3),
        "unchanged_refresh_s": round(refresh, 4),
    }


async def measure_service(data: bytes, horizon_days: int) -> dict[str, float | int]:
    """The full path: file -> fetch -> parse -> diff -> expand -> SQLite, as `eventbot import`."""
    from bot.calendars import CalendarService
    from bot.clock import FakeClock
    from bot.store.sql import SqlStore

    clock = FakeClock(NOW)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ics"
        path.write_bytes(data)
        store = await SqlStore.open(Path(tmp) / "bench.db", clock)
        service = CalendarService(store, clock, horizon_days=horizon_days, default_timezone="Europe/London")
        try:
            started, cpu = time.perf_counter(), time.process_time()
            first = await service.sync("bench", str(path))
            first_s, first_cpu = time.perf_counter() - started, time.process_time() - cpu

            started = time.perf_counter()
            unchanged = await service.sync("bench")
            unchanged_s = time.perf_counter() - started
            assert unchanged.unchanged

            # One session renamed: only its series is checked, expanded and diffed again.
            edited = data.replace(b"SUMMARY:CPD session 12345:", b"SUMMARY:CPD session 12345 (new room):", 1)
            path.write_bytes(edited)
            started = time.perf_counter()
            one_change = await service.sync("bench")
            one_change_s = time.perf_counter() - started
        finally:
            await service.aclose()
            await store.close()
    return {
        "series": first.series,
        "occurrences": first.occurrences,
        "problems": len(first.problems),
        "first_import_s": round(first_s, 3),
        "first_import_cpu_s": round(first_cpu, 3),
        "unchanged_refresh_s": round(unchanged_s, 4),
        "one_change_refresh_s": round(one_change_s, 3),
        "one_change_changed": len(one_change.changed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--recurring", type=int, default=500)
    parser.add_argument("--horizon-days", type=int, default=400)
    parser.add_argument("--core", action="store_true", help="time parse + expand only, without the store")
    args = parser.parse_args(argv)

    data = generate_feed(args.events, args.recurring)
    figures: dict[str, float | int | str] = {"events": args.events, "recurring_series": args.recurring,
                                             "feed_bytes": len(data), "horizon_days": args.horizon_days}
    if args.core:
        figures["path"] = "parse+expand"
        figures.update(measure_core(data, args.horizon_days))
    else:
        try:
            service_figures = asyncio.run(measure_service(data, args.horizon_days))
        except ImportError:
            figures["path"] = "parse+expand"
            figures.update(measure_core(data, args.horizon_days))
        else:
            figures["path"] = "CalendarService.sync (file -> parse -> expand -> SQLite)"
            figures.update(service_figures)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
