"""The projector page in chromium: bars that move as votes arrive, final results on close,
anonymity in the page and its event stream, tokens that are checked, a facilitator's keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from bot.models import QuestionStatus
from tests.harness import Harness
from tests.live.conftest import SESSION
from tests.web.conftest import JOIN, projector_links, screenshot

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.browser]


async def test_bars_move_as_votes_arrive_and_final_results_show_on_close(web: Harness, page: Any) -> None:
    mine, _shared = await projector_links(web)
    await web.say("fac", '/poll "Which topic next?" "Risk" "Consent" "Capacity" --correct 2')
    await page.goto(mine)
    counts = page.locator("#poll .count")
    await expect(counts.nth(0)).to_have_text("0 votes · 0%")
    await page.evaluate("window.notReloaded = true")

    await web.say("ann", "/vote 1")
    await web.say("bob", "/vote 2")
    await web.say("cat", "/vote 2")
    await expect(counts.nth(1)).to_have_text("2 votes · 67%")
    await expect(counts.nth(0)).to_have_text("1 vote · 33%")
    await expect(page.locator("#poll .voters")).to_have_text("3 people voted.")
    width = await page.locator('#poll [data-option="1"] .fill').evaluate("e => e.style.width")
    assert width == "67%"
    assert await page.evaluate("window.notReloaded") is True
    # Nobody is told the answer of a quiz while it is open.
    assert await page.locator("#poll .correct").count() == 0
    await screenshot(page, "projector-open-poll")

    await web.say("fac", "/closepoll")
    await expect(page.locator("#poll-heading")).to_contain_text("Final results")
    await expect(page.locator("#poll .correct .label")).to_contain_text("Consent")
    await expect(page.locator("#poll .hint")).to_have_text("67% got it right.")
    await expect(page.locator("#status")).to_have_text("The poll has closed: final results.")
    assert await page.evaluate("window.notReloaded") is True
    await screenshot(page, "projector-final-results")


async def test_question_wall_follows_the_facilitators_commands_and_keys(web: Harness, page: Any) -> None:
    mine, _shared = await projector_links(web)
    await web.say("ann", "/ask How do we record consent?")
    await web.say("bob", "/ask --anonymous Who signs off the plan?")
    await web.say("cat", "/ask Is supervision monthly?")
    await web.say("dan", "/upvote 2")
    await web.say("eve", "/upvote 2")
    await web.say("dan", "/upvote 3")
    await page.goto(mine)
    texts = page.locator("#questions .q .text")
    await expect(texts).to_have_text(["Who signs off the plan?", "Is supervision monthly?",
                                      "How do we record consent?"])
    # The anonymous one names nobody; the others name their askers.
    await expect(page.locator("#questions .q").nth(0).locator(".who")).to_have_count(0)
    await expect(page.locator("#questions .q").nth(1).locator(".who")).to_have_text("cat")
    await expect(page.locator("#questions .q.focused .text")).to_have_text("Who signs off the plan?")

    # Commands in the chat: /hide takes one off the wall, /answered moves it down, struck through.
    await web.say("fac", "/hide 3")
    await expect(texts).to_have_text(["Who signs off the plan?", "How do we record consent?"])
    await web.say("fac", "/answered 2")
    await expect(page.locator("#questions .q.answered .text")).to_have_text("Who signs off the plan?")
    await expect(page.locator("#questions .q.focused .text")).to_have_text("How do we record consent?")

    # The facilitator's keys on the page: A marks the question shown answered, N moves on.
    await web.say("fay", "/ask What about out-of-hours?")
    await page.keyboard.press("n")
    await expect(page.locator("#questions .q.focused .text")).to_have_text("What about out-of-hours?")
    await expect(page.locator("#status")).to_have_text("Showing question 4.")
    await page.keyboard.press("a")
    await expect(page.locator("#status")).to_have_text("✅ Question 4 is answered.")
    q4 = await web.app.store.live.get_question(SESSION.id, 4)
    assert q4 is not None and q4.status is QuestionStatus.ANSWERED
    await expect(page.locator("#questions .q.focused .text")).to_have_text("How do we record consent?")
    await screenshot(page, "projector-questions")


async def test_a_viewer_link_is_read_only(web: Harness, page: Any) -> None:
    _mine, shared = await projector_links(web)
    await web.say("ann", "/ask A question")
    await page.goto(shared)
    await expect(page.locator("#questions .q .text")).to_have_text(["A question"])
    assert await page.locator("button[data-action]").count() == 0
    await page.keyboard.press("a")
    # Even a crafted request with the viewer's token is refused.
    async with (aiohttp.ClientSession() as session,
                session.post(shared.replace("/live/ev1?", "/live/ev1/action?"), data={"action": "answered"}) as r):
        assert r.status == 403
    q = await web.app.store.live.get_question(SESSION.id, 1)
    assert q is not None and q.status is QuestionStatus.OPEN


async def test_a_facilitator_link_loses_its_keys_with_the_facilitators_rights(web: Harness, page: Any) -> None:
    mine, _shared = await projector_links(web)
    await web.say("ann", "/ask A question")
    await web.say("org", "/facilitator remove fake:fac ev1")
    async with (aiohttp.ClientSession() as session,
                session.post(mine.replace("/live/ev1?", "/live/ev1/action?"), data={"action": "answered"}) as r):
        assert r.status == 403
    await page.goto(mine)
    assert await page.locator("button[data-action]").count() == 0


async def test_an_anonymous_poll_shows_no_voter_in_the_page_or_the_stream(web: Harness, page: Any) -> None:
    mine, _shared = await projector_links(web)
    voters = ["zebedee", "quillon", "marguerite"]
    for name in voters:
        web.adapter.user(name)
    await web.say("fac", '/poll "How safe do you feel?" "Safe" "Unsure" --anonymous')
    events_url = mine.replace("/live/ev1?", "/live/ev1/events?")
    stream: list[bytes] = []
    final = asyncio.Event()

    async def listen() -> None:
        async with aiohttp.ClientSession() as session, session.get(events_url) as response:
            assert response.status == 200
            async for chunk in response.content.iter_any():
                stream.append(chunk)
                if b"Final results" in b"".join(stream):
                    final.set()

    listener = asyncio.create_task(listen())
    await page.goto(mine)
    for n, name in enumerate(voters):
        await web.say(name, f"/vote {1 + n % 2}")
        await web.say(name, "/ask --anonymous Is this recorded?" if n == 0 else "/upvote 1")
    await expect(page.locator("#poll .voters")).to_have_text("3 people voted.")
    await web.say("fac", "/closepoll")
    await expect(page.locator("#poll-heading")).to_contain_text("Final results")
    await final.wait()
    listener.cancel()
    html = await page.content()
    received = b"".join(stream).decode()
    assert "people voted" in received
    for name in voters:
        assert name not in html
        assert name not in received
        assert f"fake:{name}" not in received
    await screenshot(page, "projector-anonymous-poll")


async def test_an_altered_foreign_or_expired_link_gets_403(web: Harness, page: Any) -> None:
    mine, shared = await projector_links(web)
    _body, _dot, signature = mine.partition("?t=")[2].partition(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    altered = mine.replace(signature, flipped)
    # The read-only link's payload with the facilitator's signature: a viewer promoting themself.
    promoted = shared.partition("?t=")[0] + "?t=" + shared.partition("?t=")[2].partition(".")[0] + "." + signature
    other = mine.replace("/live/ev1?", "/live/ev2?")
    async with aiohttp.ClientSession() as session:
        for url in (altered, promoted, other, mine.partition("?")[0], mine + "x"):
            async with session.get(url) as r:
                assert r.status == 403, url
            async with session.get(url.replace("?", "/events?", 1) if "?" in url else url + "/events") as r:
                assert r.status == 403, url
        async with session.get(mine) as r:
            assert r.status == 200
    response = await page.goto(altered)
    assert response.status == 403
    await expect(page.locator("h1")).to_have_text("This link does not work")
    await screenshot(page, "projector-403")

    # The link expires with the session (30 minutes after its end, for the final results).
    await page.goto(mine)
    await expect(page.locator("main[data-live]")).to_have_count(1)  # the stream is open
    await web.advance(SESSION.end - web.clock.now() + timedelta(minutes=30))
    await expect(page.locator("#expired")).to_be_visible()
    async with aiohttp.ClientSession() as session, session.get(mine) as r:
        assert r.status == 403


async def test_the_page_speaks_welsh_in_a_welsh_room_and_shows_the_join_code(web: Harness, page: Any) -> None:
    mine, _shared = await projector_links(web)
    await web.say("fac", "/language cy --here")
    await web.say("fac", '/poll "Te neu goffi?" "Te" "Coffi"')
    await page.goto(mine)
    assert await page.locator("html").get_attribute("lang") == "cy"
    await expect(page.locator("#join-heading")).not_to_have_text("Join the chat")
    short = page.locator(".short a")
    await expect(short).to_have_text(f"{web.app.web.url}/j/ev1")
    await expect(page.locator(".qr svg title")).to_have_count(1)
    async with (aiohttp.ClientSession() as session,
                session.get(f"{web.app.web.url}/j/ev1", allow_redirects=False) as r):
        assert r.status == 302 and r.headers["Location"] == JOIN
    await screenshot(page, "projector-welsh")
    await page.goto(mine.replace("?t=", "?lang=en&t="))
    await expect(page.locator("#join-heading")).to_have_text("Join the chat")
