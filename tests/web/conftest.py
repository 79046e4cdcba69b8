"""Web pages in a real browser: Debian's chromium, headless, driven by Playwright.

One browser for the whole test session (never a downloaded one: ``/usr/bin/chromium``, which
``tests/install_services.sh`` installs), a fresh page per test. The bot runs in the test's
process with the fake adapter and a fake clock, serving on a free port on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.harness import Harness
from tests.live.conftest import go_live

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
JOIN = "https://chat.example.org/join/sww"
_URL = re.compile(r"https?://\S+")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("chromium is missing: run bash tests/install_services.sh")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        found = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield found
        finally:
            await found.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1600, "height": 900})
    found = await context.new_page()
    try:
        yield found
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def web(tmp_path: Path) -> AsyncIterator[Harness]:
    """A live session on a bot serving its pages."""
    async with Harness.open(tmp_path, web_port=0, web_join_url=JOIN) as h:
        await go_live(h)
        yield h


def links_in(replies: list[str]) -> list[str]:
    return [m.group() for reply in replies for m in _URL.finditer(reply)]


async def projector_links(h: Harness, who: str = "fac") -> tuple[str, str]:
    """(the facilitator's link, the read-only link) that /projector sends privately."""
    found = links_in(await h.say(who, "/projector"))
    assert len(found) == 2, found
    return found[0], found[1]


async def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
