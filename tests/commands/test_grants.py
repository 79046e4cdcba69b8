"""Facilitator rights are granted to a platform identity, never to a display name anyone can take."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.models import Incoming, UserRef
from tests.harness import START, Harness, make_occurrence

SESSION = make_occurrence("Safeguarding adults", START, 90, id="ev1")


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness.open(tmp_path) as harness:
        await harness.add_occurrences(SESSION)
        yield harness


async def say(h: Harness, user: UserRef, text: str, **extra: object) -> list[str]:
    sent = await h.adapter.push(Incoming(user=user, chat=h.adapter.room, text=text, **extra))  # type: ignore[arg-type]
    return [m.text for m in sent]


ORG = UserRef("fake:org", "org", username="org")
MEGAN = UserRef("fake:1001", "Megan Rhys", username="megan")
IMPOSTOR = UserRef("fake:6666", "megan")  # no username: a display name they chose themselves


async def test_a_display_name_grants_nothing(h: Harness) -> None:
    await say(h, IMPOSTOR, "hello")
    replies = await say(h, ORG, "/facilitator add @megan ev1")
    assert replies == ["“@megan” is only a display name, which anyone can take. Mention the person, reply to "
                       "one of their messages, or use their id: fake:6666."]
    assert await h.app.store.people.facilitator_grants() == []


async def test_a_unique_username_grants_and_the_reply_names_the_id(h: Harness) -> None:
    await say(h, IMPOSTOR, "hello")
    await say(h, MEGAN, "hello")
    assert await say(h, ORG, "/facilitator add @megan ev1") == [
        "fake:1001 (@megan) now facilitates “Safeguarding adults”."]
    assert [g.user_id for g in await h.app.store.people.facilitator_grants()] == ["fake:1001"]


async def test_a_username_given_up_is_not_kept_for_its_old_holder(h: Harness) -> None:
    await say(h, MEGAN, "hello")
    await say(h, UserRef("fake:1001", "Megan Rhys", username="megan_r"), "hello")  # she renamed herself
    await say(h, UserRef("fake:2002", "Megan Two", username="megan"), "hello")     # someone took it
    assert (await say(h, ORG, "/facilitator add @megan ev1"))[0].startswith("fake:2002 (@megan)")
    assert (await say(h, ORG, "/facilitator add @megan_r"))[0].startswith("fake:1001 (@megan_r)")


async def test_a_username_changing_hands_within_one_moment_goes_to_its_new_holder(h: Harness) -> None:
    await say(h, MEGAN, "hello")
    # Both first messages arrive together, so their names are stored in one write.
    await asyncio.gather(say(h, UserRef("fake:1001", "Megan Rhys", username="megan_r"), "hello"),
                         say(h, UserRef("fake:2002", "Megan Two", username="megan"), "hello"),
                         say(h, UserRef("fake:4000", "Dee", username="dee"), "hello"),
                         say(h, UserRef("fake:4001", "Dee Two", username="dee"), "hello"),  # seen later
                         *(say(h, UserRef(f"fake:{3000 + i}", f"Guest {i}", username=f"guest{i}"), "hi")
                           for i in range(30)))
    assert (await say(h, ORG, "/facilitator add @megan ev1"))[0].startswith("fake:2002 (@megan)")
    assert (await say(h, ORG, "/facilitator add @megan_r"))[0].startswith("fake:1001 (@megan_r)")
    assert await h.app.store.people.find_user_by_username("dee") == ["fake:4001"]
    for i in range(30):
        assert await h.app.store.people.find_user_by_username(f"guest{i}") == [f"fake:{3000 + i}"]


async def test_same_username_on_two_platforms_is_refused_with_the_candidates(h: Harness) -> None:
    await say(h, UserRef("telegram:1", "Megan", username="megan"), "hello")
    await say(h, UserRef("discord:2", "Megan", username="megan"), "hello")
    assert await say(h, ORG, "/facilitator add @megan") == [
        "Several people have the username “@megan”: discord:2, telegram:1. Use one of these ids."]
    assert await h.app.store.people.facilitator_grants() == []


async def test_a_mention_carrying_an_id_grants_that_person(h: Harness) -> None:
    await say(h, IMPOSTOR, "hello")
    # A Telegram text mention shows the person's name but carries their id.
    person = UserRef("fake:7777", "megan")
    assert await say(h, ORG, "/facilitator add megan ev1", mentions=(person,)) == [
        "fake:7777 now facilitates “Safeguarding adults”."]
    assert await say(h, ORG, "/facilitator add <@42>") == ["discord:42 now facilitates every session."]


async def test_a_reply_grants_its_author(h: Harness) -> None:
    await say(h, MEGAN, "hello")
    assert await say(h, ORG, "/facilitator add ev1", reply_to=MEGAN) == [
        "fake:1001 (@megan) now facilitates “Safeguarding adults”."]
    assert await say(h, ORG, "/facilitator remove Safeguarding adults", reply_to=MEGAN) == [
        "fake:1001 (@megan) no longer facilitates “Safeguarding adults”."]
