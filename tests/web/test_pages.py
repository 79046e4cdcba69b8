"""The organisers' status page and every page's accessibility, in chromium, with a
screenshot of each (artifacts/screenshots/, kept by CI)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from bot.errors import RateLimited
from bot.ports import CalendarInfo, HeldRefresh, VerifiedCertificate
from tests.harness import START, Harness, make_occurrence
from tests.web.a11y import accessibility_problems
from tests.web.conftest import links_in, projector_links, screenshot

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.browser]

SECRET_FEED = "https://calendar.example.org/calendar/ical/team%40example.org/private-0a1b2c3d4e5f6a7b/basic.ics"
ETHICS = make_occurrence("Ethics in practice", START + timedelta(days=1), 60, id="ev9")


async def _busy_bot(h: Harness) -> None:
    """A bot with something in every part of the status page."""
    await h.add_occurrences(ETHICS)
    for name in ("ann", "bob", "cat"):
        await h.say(name, "/subscribe ev9")
    await h.say("dan", "/subscribe all")
    now = h.clock.now()
    await h.app.store.calendars.save_calendar(CalendarInfo(
        name="partner", source=SECRET_FEED, last_sync=now - timedelta(hours=2),
        last_error="Could not fetch the feed from calendar.example.org (HTTP 404).",
        held=HeldRefresh(since=now - timedelta(hours=1), cancels=8, upcoming=10, content_hash="x")))
    await h.app.store.reminders.mark_unreachable("fake:zoe", "blocked the bot", int(now.timestamp()))
    await h.app.store.reminders.set_meta("fanout", json.dumps({
        "started": (now - timedelta(minutes=1)).isoformat(), "finished": "", "sent": 600, "failed": 2,
        "expired": 0, "waiting": 900, "rate_per_second": 10.0, "rate_limited": 3, "claimed": 602,
        "retried": 1, "updated": now.isoformat()}))
    h.adapter.failures.append(RateLimited(30))
    await h.say("ann", "/mine")


async def test_the_status_page_shows_calendars_sessions_outbox_and_platforms(web: Harness, page: Any) -> None:
    await _busy_bot(web)
    found = links_in(await web.say("org", "/admin"))
    assert len(found) == 1 and "/admin?t=" in found[0]
    # Private: sent to the organiser's own chat, never the room.
    assert all(r.message.user is not None for r in web.adapter.records[-1:])
    await page.goto(found[0])
    await expect(page.locator("h1")).to_have_text("Status")
    platforms = page.locator("#platforms + table tbody tr")
    await expect(platforms).to_have_count(1)
    await expect(platforms.locator("td").nth(0)).to_contain_text("yes")
    await expect(platforms.locator("td").nth(2)).to_have_text("1")  # the 429
    calendars = page.locator("#calendars + table")
    await expect(calendars).to_contain_text("partner")
    await expect(calendars).to_contain_text("HTTP 404")
    await expect(calendars).to_contain_text("Refresh held since")
    await expect(calendars).to_contain_text("8 of 10")
    sessions = page.locator("#sessions + table")
    await expect(sessions.locator("tr", has_text="Ethics in practice").locator("td").last).to_have_text("4")
    outbox = page.locator("section[aria-labelledby=outbox]")
    await expect(outbox).to_contain_text("Fan-out in progress")
    await expect(outbox).to_contain_text("900 waiting")
    await expect(outbox).to_contain_text("Forecast: the last reminder goes out at")
    await expect(outbox).to_contain_text("fake:zoe")
    html = await page.content()
    assert "0a1b2c3d4e5f6a7b" not in html  # a secret feed address is shown as host + …
    assert await accessibility_problems(page) == []
    await screenshot(page, "admin")
    await page.goto(found[0] + "&lang=cy")
    await expect(page.locator("h1")).to_have_text("Statws")
    assert await accessibility_problems(page) == []
    await screenshot(page, "admin-welsh")


async def test_the_status_page_is_for_organisers_only(web: Harness) -> None:
    replies = await web.say("ann", "/admin")
    assert not links_in(replies)
    found = links_in(await web.say("org", "/admin"))[0]
    async with aiohttp.ClientSession() as session:
        async with session.get(found.replace("?t=", "?t=x")) as r:
            assert r.status == 403
        mine, _shared = await projector_links(web)
        async with session.get(found.partition("?")[0] + "?" + mine.partition("?")[2]) as r:
            assert r.status == 403  # a projector link does not open the status page
        await web.advance(timedelta(hours=12))
        async with session.get(found) as r:
            assert r.status == 403


async def test_every_page_passes_the_contrast_and_label_check(web: Harness, page: Any) -> None:
    mine, shared = await projector_links(web)
    await web.say("ann", "/ask How do we record consent when capacity fluctuates?")
    await web.say("bob", "/ask --anonymous Who signs off the plan?")
    await web.say("cat", "/upvote 2")
    await web.say("fac", "/answered 1")
    await web.say("fac", '/poll "Which topic next?" "Risk" "Consent" "Capacity" --correct 2')
    for name, choice in (("ann", 1), ("bob", 2), ("cat", 2), ("dan", 3)):
        await web.say(name, f"/vote {choice}")
    await page.goto(mine)
    await expect(page.locator("#poll .voters")).to_have_text("4 people voted.")
    assert await accessibility_problems(page) == []

    # Keyboard only: Tab reaches the facilitator's buttons and Enter presses them.
    for _press in range(20):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.dataset.action === 'next'"):
            break
    else:
        pytest.fail("Tab never reached the Next question button")
    await page.keyboard.press("Enter")
    await expect(page.locator("#status")).to_have_text("Showing question 2.")

    await web.say("fac", "/closepoll")
    await page.goto(shared + "&lang=cy")
    await expect(page.locator("#poll-heading")).to_contain_text("Canlyniadau terfynol")
    assert await accessibility_problems(page) == []
    await screenshot(page, "projector-viewer-welsh-final")

    response = await page.goto(mine.replace("?t=", "?t=0"))
    assert response.status == 403
    assert await accessibility_problems(page) == []

    async def verify(code: str) -> VerifiedCertificate | None:
        if code != "7KQ2-M9XD":
            return None
        return VerifiedCertificate(code=code, name="Siân Ellis", title="Safeguarding adults", start=START,
                                   timezone="Europe/London", cpd_hours=1.5, organiser="Dr Megan Rhys")

    web.app.services.verify_certificate = verify
    response = await page.goto(f"{web.app.web.url}/verify/7kq2-m9xd")
    assert response.status == 200
    await expect(page.locator(".ok")).to_contain_text("This certificate is genuine.")
    await expect(page.locator(".facts")).to_contain_text("Siân Ellis")
    assert await accessibility_problems(page) == []
    await screenshot(page, "verify")
    response = await page.goto(f"{web.app.web.url}/verify/NOPE-0000?lang=cy")
    assert response.status == 404
    assert await accessibility_problems(page) == []


async def test_the_check_itself_catches_low_contrast_and_unlabelled_controls(page: Any) -> None:
    await page.set_content(
        '<html lang="en"><head><title>t</title></head><body style="background:#fff"><main><h1>Title</h1>'
        '<p style="color:#aaaaaa">grey on white</p><p style="color:rgba(0,0,0,.3)">faded</p>'
        '<div style="background:#0b1a2b"><p style="color:#1d2733">dark on dark</p></div>'
        '<button></button><a href="/x"></a><svg width="20" height="20"></svg>'
        '<p style="color:#222">fine</p></main></body></html>')
    problems = await accessibility_problems(page)
    assert [p.split(" for ")[-1] for p in problems if p.startswith("contrast")] == [
        '"grey on white"', '"faded"', '"dark on dark"']
    assert [p for p in problems if p.startswith("no accessible name")] == [
        "no accessible name: <button>", "no accessible name: <a>", "no accessible name: <svg>"]
