"""The Dockerfile's HEALTHCHECK, run as Docker would run it (``/bin/sh -c``), against a
/healthz on 127.0.0.1 that answers from ``bot.health.health`` as the web server's route does."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import load_config
from bot.health import health
from tests.harness import Harness

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


def healthcheck_command() -> str:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK\s.*?\bCMD\s+(.+)$", text, re.MULTILINE)
    assert match, "the Dockerfile has no HEALTHCHECK … CMD"
    return match.group(1).strip()


async def serve_health(h: Harness) -> AsyncIterator[int]:
    async def healthz(request: web.Request) -> web.Response:
        ok, reasons = await health(h.app)
        return web.Response(status=200 if ok else 503, text="ok" if ok else "\n".join(reasons))

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def run_check(port: str) -> int:
    env = {**os.environ, "EVENTBOT_WEB_PORT": port}
    done = await asyncio.to_thread(subprocess.run, ["/bin/sh", "-c", healthcheck_command()], env=env,
                                   capture_output=True, text=True, timeout=60, check=False)
    return done.returncode


@pytest.mark.slow
async def test_healthcheck_passes_when_well_and_fails_when_not(tmp_path: Path) -> None:
    async with Harness.open(tmp_path) as h:
        async for port in serve_health(h):
            assert await run_check(str(port)) == 0
            h.adapter.offline = True
            assert await run_check(str(port)) == 1  # 503
        assert await run_check(str(port)) == 1  # nothing listening
    assert await run_check("") == 0  # no web server in this container: nothing to ask


def test_the_image_sets_the_web_port_the_check_asks() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ENV EVENTBOT_WEB_PORT=8080\b", text, re.MULTILINE)
    assert load_config(env={"EVENTBOT_WEB_PORT": "8080"}).web_port == 8080
    assert load_config(env={"EVENTBOT_WEB_PORT": ""}).web_port is None
    assert load_config(env={"EVENTBOT_WEB_BASE_URL": "https://events.example.org"}).web_base_url == (
        "https://events.example.org")
