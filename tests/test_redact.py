"""No secret in any log line at -vv: the Telegram and Discord tokens and a feed's secret key,
whichever logger writes them (httpcore's included, created after start-up) and at any level."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.cli import main
from bot.redact import SecretRedactor
from tests.databases import database_for
from tests.fake_feed_server import FakeFeedServer
from tests.test_calendars import V1

TELEGRAM = "123456789:AAH-telegram-secret-token-0123456789abc"
DISCORD = "MTIzNDU2Nzg5.discord-secret-token.abcdefghijklmnop"
KEY = "0123456789abcdef0123456789abcdef"


async def test_no_secret_reaches_any_log_at_debug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("EVENTBOT_CONFIG", raising=False)
    monkeypatch.setenv("EVENTBOT_TELEGRAM_TOKEN", TELEGRAM)
    monkeypatch.setenv("EVENTBOT_DISCORD_TOKEN", DISCORD)
    monkeypatch.setenv("EVENTBOT_ALLOW_PRIVATE_FEEDS", "127.0.0.1")
    caplog.set_level(logging.DEBUG)
    db = str(database_for(tmp_path))
    async with FakeFeedServer.start(V1) as server:
        # A redirect whose Location carries all three: httpcore prints it at DEBUG.
        location = f"/calendar/ical/sww/private-{KEY}/basic.ics?tg={TELEGRAM}&dc={DISCORD}"
        feed = server.url("/redirect") + "?to=" + quote(location, safe="")
        assert await asyncio.to_thread(main, ["-vv", "--db", db, "import", feed, "--calendar", "sww"]) == 0
        # A secret address that fails is logged at WARNING.
        gone = server.url(f"/gone/private-{KEY}/basic.ics")
        assert await asyncio.to_thread(main, ["-vv", "--db", db, "import", gone, "--calendar", "gone"]) == 1
    # A logger created after the redactor was installed.
    logging.getLogger("a.late.library").debug("calling https://api.example/bot%s/getMe", TELEGRAM)
    text = caplog.text
    assert any(r.name.startswith("httpcore") and "Location" in r.getMessage() for r in caplog.records)
    assert "refused" in text and "a.late.library" in text
    for secret in (TELEGRAM, TELEGRAM.split(":")[1], DISCORD, KEY, quote(TELEGRAM, safe="")):
        assert secret not in text


def test_redactor_hides_secret_addresses_and_tokens() -> None:
    redactor = SecretRedactor([TELEGRAM])
    line = (f"GET https://calendar.google.com/calendar/ical/x/private-{KEY}/basic.ics and "
            f"/bot{quote(TELEGRAM, safe='')}/getUpdates and b'/x/private-{KEY}/basic.ics'")
    redacted = redactor.redact(line)
    assert KEY not in redacted and "telegram-secret" not in redacted
    assert "https://calendar.google.com/…" in redacted
