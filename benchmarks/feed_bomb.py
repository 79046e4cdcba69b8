"""Peak memory while fetching a gzip bomb: 1 MB on the wire that inflates to 1 GB.

    python benchmarks/feed_bomb.py                 # human-readable figures
    python benchmarks/feed_bomb.py --json          # one JSON object
    python benchmarks/feed_bomb.py --repo ../main  # the same against another checkout

The server runs in this process; the fetch runs in a child process, which reports its peak
RSS (``ru_maxrss``) after start-up and a small warm-up fetch (the baseline) and after the
bomb. The fetch must stop at ``feed_max_bytes`` (10 MB by default) with the peak within
20 MB of the baseline. Nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import resource
import subprocess
import sys
import zlib
from pathlib import Path

from aiohttp import web

HERE = Path(__file__).resolve().parents[1]


def bomb(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [packer.compress(b"BEGIN:VCALENDAR\r\nX-FILLER:")]
    block = b"x" * 1_000_000
    for _ in range(size // len(block)):
        out.append(packer.compress(block))
    out.append(packer.flush())
    return b"".join(out)


async def child(url: str, max_bytes: int) -> dict[str, object]:
    from bot.errors import FeedError
    from bot.feeds import FeedFetcher

    options: dict[str, object] = {"max_bytes": max_bytes, "timeout": 120}
    if "allow_private" in inspect.signature(FeedFetcher).parameters:
        options["allow_private"] = ["127.0.0.1"]
    async with FeedFetcher(**options) as fetcher:  # type: ignore[arg-type]
        await fetcher.fetch(url.replace("/bomb.ics", "/small.ics"))
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            await fetcher.fetch(url)
            outcome = "fetched"
        except FeedError as error:
            outcome = str(error)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"baseline_mb": round(baseline / 1024, 1), "peak_mb": round(peak / 1024, 1),
            "over_baseline_mb": round((peak - baseline) / 1024, 1), "outcome": outcome}


async def serve_and_measure(repo: Path, size: int, max_bytes: int) -> dict[str, object]:
    body = bomb(size)

    async def bomb_handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "text/calendar", "Content-Encoding": "gzip"})

    async def small_handler(request: web.Request) -> web.Response:
        return web.Response(body=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", content_type="text/calendar")

    app = web.Application()
    app.router.add_get("/bomb.ics", bomb_handler)
    app.router.add_get("/small.ics", small_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--child", f"http://127.0.0.1:{port}/bomb.ics", "--repo", str(repo),
            "--max-bytes", str(max_bytes), stdout=subprocess.PIPE)
        out, _ = await process.communicate()
    finally:
        await runner.cleanup()
    figures: dict[str, object] = json.loads(out)
    figures.update({"wire_mb": round(len(body) / 1e6, 2), "inflated_mb": size / 1e6,
                    "feed_max_mb": max_bytes / 1e6, "repo": str(repo)})
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repo", type=Path, default=HERE, help="checkout whose bot.feeds is measured")
    parser.add_argument("--size", type=int, default=1_000_000_000, help="inflated size in bytes")
    parser.add_argument("--max-bytes", type=int, default=10_000_000, help="feed_max_bytes")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.repo.resolve()))
    if args.child:
        print(json.dumps(asyncio.run(child(args.child, args.max_bytes))))
        return 0
    figures = asyncio.run(serve_and_measure(args.repo.resolve(), args.size, args.max_bytes))
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['wire_mb']} MB gzip inflating to {figures['inflated_mb']:g} MB, "
              f"feed_max_bytes {figures['feed_max_mb']:g} MB ({figures['repo']})")
        print(f"peak RSS {figures['peak_mb']} MB, baseline {figures['baseline_mb']} MB: "
              f"{figures['over_baseline_mb']} MB over")
        print(f"outcome: {figures['outcome']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
