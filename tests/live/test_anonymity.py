"""Anonymous means nobody, facilitators and organisers included, can learn who voted what:
not from the chat, not from any export, not from the database once the poll has closed."""

from __future__ import annotations

import json

import sqlalchemy as sa

from bot.live.export import results_csv, results_data
from bot.store.schema import poll_votes, polls, question_upvotes, questions
from tests.harness import Harness

VOTERS = {"alice": "Alice Jones", "bob": "Bob Evans", "carol": "Carys Morgan"}


def leaks(text: str) -> list[str]:
    found = []
    for handle, name in VOTERS.items():
        for needle in (handle, f"fake:{handle}", name, name.split()[1]):
            if needle.lower() in text.lower():
                found.append(needle)
    return found


async def vote_as(h: Harness, handle: str, text: str = "", action: str | None = None, private: bool = False) -> None:
    from bot.models import Incoming, UserRef

    adapter = h.adapter
    chat = adapter.dm(handle) if private else adapter.room
    await adapter.push(Incoming(user=UserRef(f"fake:{handle}", VOTERS[handle]), chat=chat, text=text, action=action))


async def test_nothing_anywhere_reveals_who_voted_what(live: Harness) -> None:
    await live.say("fac", '/poll "Is supervision regular enough?" "Yes" "No" --anonymous --correct 1')
    await vote_as(live, "alice", "/vote 1")
    await vote_as(live, "bob", action="poll:1:vote:2")
    await vote_as(live, "carol", "/vote 2", private=True)
    await vote_as(live, "alice", "/vote 2")  # changing an anonymous vote works
    await live.say("fac", "/results")
    await live.say("org", "/results")
    await vote_as(live, "bob", "/ask --anonymous Will the slides be shared?")
    await vote_as(live, "carol", "/upvote 1")
    await live.say("fac", "/questions")
    await live.say("fac", "/closepoll")
    await live.say("fac", "/live end")

    poll = await live.app.store.live.get_poll(1)
    assert poll is not None
    assert (await live.app.store.live.tally(poll)).votes == (0, 3)

    # Every message the bot sent, to the room, to facilitators, and to the voters themselves.
    for message in live.adapter.sent:
        assert not leaks(message.text), message
        assert not any(leaks(b.label) for row in message.buttons for b in row)
    # Each voter was told privately what was counted for them, and only them.
    assert live.adapter.texts(live.adapter.to("alice"))[-1].endswith("counted: 2. No.")

    # Every export.
    data = await results_data(live.app.store)
    dumped = json.dumps(data, ensure_ascii=False)
    assert not leaks(dumped), dumped
    assert all("voters" not in option for option in data["polls"][0]["options"])
    assert data["questions"][0]["number"] == 1 and "author" not in data["questions"][0]
    assert not leaks(results_csv(data))

    # And the database: no user id in clear, and the poll's salt is gone after the close.
    async with live.app.store.engine.connect() as conn:
        stored = [r.voter for r in await conn.execute(sa.select(poll_votes.c.voter))]
        salt = await conn.scalar(sa.select(polls.c.salt).where(polls.c.id == 1))
        upvoters = [r[0] for r in await conn.execute(sa.select(question_upvotes.c.voter_key))]
        author = (await conn.execute(sa.select(questions.c.author_id, questions.c.author_name))).one()
    assert len(stored) == 3 and not any(leaks(v) for v in stored)
    assert salt is None
    assert not any(leaks(v) for v in upvoters)
    assert tuple(author) == (None, None)


async def test_non_anonymous_votes_are_confirmed_without_a_public_echo(live: Harness) -> None:
    await live.say("fac", '/poll "Lunch?" "Soup" "Salad"')
    replies = await live.say("alice", "/vote 1")
    assert replies == ["Your vote on “Lunch?” is counted: 1. Soup."]
    assert live.adapter.sent[-1].user is not None  # it went privately, not into the room


async def test_anonymous_vote_without_private_messages_gets_a_neutral_reply(live: Harness) -> None:
    live.adapter.unreachable.add("fake:alice")
    await live.say("fac", '/poll "Honest?" "Yes" "No" --anonymous')
    assert await live.say("alice", "/vote 2") == ["Vote counted."]
