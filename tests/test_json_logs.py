"""``--log-format json``: every log line a JSON object, with the secrets redacted as in text."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.fake_feed_server import FakeFeedServer
from tests.test_calendars import V1
from tests.test_redact import DISCORD, KEY, TELEGRAM

SECRETS = (TELEGRAM, TELEGRAM.split(":")[1], DISCORD, KEY, quote(TELEGRAM, safe=""))


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTBOT_")}
    return {**env, "EVENTBOT_TELEGRAM_TOKEN": TELEGRAM, "EVENTBOT_DISCORD_TOKEN": DISCORD,
            "EVENTBOT_ALLOW_PRIVATE_FEEDS": "127.0.0.1", "EVENTBOT_DB": str(tmp_path / "bot.db")}


def json_lines(stderr: str) -> list[dict[str, str]]:
    entries = []
    for line in stderr.splitlines():
        entry = json.loads(line)  # every line, not just most
        assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= entry.keys(), line
        entries.append(entry)
    return entries


@pytest.mark.slow
async def test_import_at_debug_logs_json_lines_without_secrets(tmp_path: Path) -> None:
    async with FakeFeedServer.start(V1) as server:
        # A redirect whose Location carries all three: httpcore prints it at DEBUG.
        location = f"/calendar/ical/sww/private-{KEY}/basic.ics?tg={TELEGRAM}&dc={DISCORD}"
        feed = server.url("/redirect") + "?to=" + quote(location, safe="")
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "bot", "--log-format", "json", "-vv", "import", feed,
                             "--calendar", "sww"],
            env=environment(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    entries = json_lines(done.stderr)
    assert any(e["logger"].startswith("httpcore") and "Location" in e["message"] for e in entries)
    assert {e["level"] for e in entries} >= {"DEBUG", "INFO"}
    for secret in SECRETS:
        assert secret not in done.stderr


def test_a_traceback_goes_into_the_line_redacted(tmp_path: Path) -> None:
    # The CLI's own set-up in a fresh process, and an exception whose text holds the token.
    script = f"""
import logging
from bot.cli import configure_logging
configure_logging(2, "json").protect({TELEGRAM!r})
try:
    raise RuntimeError("POST https://api.telegram.org/bot{TELEGRAM}/sendMessage failed")
except RuntimeError:
    logging.getLogger("adapters.telegram").exception("could not send to %s", "telegram:1001")
logging.getLogger("a.late.library").debug("token %s", {TELEGRAM!r}, stack_info=True)
"""
    done = subprocess.run([sys.executable, "-c", script], env=environment(tmp_path), capture_output=True, text=True,
                          timeout=60, check=True)
    failed, late = json_lines(done.stderr)
    assert failed["level"] == "ERROR" and failed["logger"] == "adapters.telegram"
    assert failed["message"] == "could not send to telegram:1001"
    assert "RuntimeError: POST https://api.telegram.org/bot<secret>/sendMessage failed" in failed["exc_info"]
    assert "Traceback" in failed["exc_info"] and "stack_info" in late and late["message"] == "token <secret>"
    for secret in SECRETS:
        assert secret not in done.stderr
