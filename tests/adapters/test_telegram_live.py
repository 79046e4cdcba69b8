"""Live sessions over Telegram, end to end: the real core's polls and Q&A, the real
python-telegram-bot client, the fake Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.adapters.test_telegram import GROUP, ORGANISER, Running, running, shown
from tests.fakes.telegram_api import FakeBotApi, FakeUser
from tests.harness import START, make_occurrence, store_occurrences

SESSION = make_occurrence("Safeguarding <adults> & “consent”", START, 90, id="ev1")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def live(tmp_path: Path, api: FakeBotApi) -> AsyncIterator[Running]:
    """A group bound to a session that is on now, started by the organiser."""
    async with running(tmp_path, api) as run:
        await store_occurrences(run.app, [SESSION])
        room = api.add_group(GROUP, "Safeguarding room")
        organiser = api.add_user(ORGANISER, "Olwen")
        api.say(organiser, "/live ev1", group=room)
        [reply] = await api.wait_call("sendMessage", chat_id=GROUP)
        assert "Now live: Safeguarding <adults> & “consent”" in shown(reply)
        api.calls.clear()
        yield run


def group_of(api: FakeBotApi) -> dict[str, object]:
    return api.groups[GROUP]


async def test_native_poll_voted_by_three_people_through_poll_answers(live: Running) -> None:
    api = live.api
    organiser = api.users[ORGANISER]
    voters = [api.add_user(4000 + i, f"Voter{i}") for i in range(3)]
    api.say(organiser, '/poll "Which approach fits?" "Signs of Safety" "Strengths-based" "Both"',
            group=group_of(api))
    [sent] = await api.wait_call("sendPoll", chat_id=GROUP)
    assert sent["question"] == "Which approach fits?" and sent["is_anonymous"] is False
    poll_id = sent.result["poll"]["id"]

    for voter, option in zip(voters, (0, 2, 2), strict=True):
        api.vote(voter, poll_id, [option])
    api.vote(voters[0], poll_id, [1])  # changed their mind: the latest answer counts
    api.say(organiser, "/results", group=group_of(api))
    [results] = await api.wait_call("sendMessage", chat_id=GROUP)
    lines = shown(results).splitlines()
    assert lines[0] == "📊 Results so far — Which approach fits?"
    assert [line.rsplit(" ", 2)[-2:] for line in lines[1:4]] == [["0", "(0%)"], ["1", "(33%)"], ["2", "(67%)"]]
    assert "3 people voted." in lines

    api.say(organiser, "/closepoll", group=group_of(api))
    [stop] = await api.wait_call("stopPoll", chat_id=GROUP)
    assert stop["message_id"] == sent.result["message_id"]
    await api.wait_until(lambda: any("Final results" in shown(c) for c in
                                     api.calls_to("sendPhoto", chat_id=GROUP) + api.calls_to("sendMessage", chat_id=GROUP)
                                     if c.result), what="the final results")
    tally = await live.app.store.live.tally(await live.app.store.live.poll_by_ref(poll_id))  # type: ignore[arg-type]
    assert tally.voters == 3 and list(tally.votes) == [0, 1, 2]


async def test_anonymous_poll_voted_through_inline_buttons(live: Running) -> None:
    api = live.api
    organiser = api.users[ORGANISER]
    voters: list[FakeUser] = [api.add_user(5000 + i, f"Anon{i}") for i in range(3)]
    voters[0].started = True  # can be told privately; the others only in the group
    api.say(organiser, '/poll "Do you feel confident?" "Yes" "No" --anonymous', group=group_of(api))
    [message] = await api.wait_call("sendMessage", chat_id=GROUP)
    assert not api.calls_to("sendPoll")
    keyboard = message["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["poll:1:vote:1", "poll:1:vote:2"]

    for voter, row in zip(voters, (0, 1, 0), strict=True):
        api.press(voter, keyboard[row][0]["callback_data"], message=message.result)
    await api.wait_call("answerCallbackQuery", 3)
    # the one who opened a chat with the bot is told privately; the room learns nothing
    [private] = await api.wait_call("sendMessage", chat_id=5000)
    assert "Yes" in shown(private)
    room_replies = await api.wait_call("sendMessage", 3, chat_id=GROUP)
    assert [shown(c) for c in room_replies[1:]] == ["Vote counted.", "Vote counted."]
    poll = await live.app.store.live.get_poll(1)
    assert poll is not None
    tally = await live.app.store.live.tally(poll)
    assert tally.voters == 3 and list(tally.votes) == [2, 1]


async def test_questions_asked_listed_and_upvoted_with_a_button(live: Running) -> None:
    api = live.api
    asker, fan = api.add_user(6001, "Nia"), api.add_user(6002, "Owain")
    api.say(asker, "/ask@eventbot_test_bot How do we record <capacity> & consent? Ŵ", group=group_of(api))
    [asked] = await api.wait_call("sendMessage", chat_id=GROUP)
    assert "How do we record <capacity> & consent? Ŵ" in shown(asked)
    button = asked["reply_markup"]["inline_keyboard"][0][0]
    assert button["callback_data"].endswith(":up")

    api.press(fan, button["callback_data"], message=asked.result)
    [_, upvoted] = await api.wait_call("sendMessage", 2, chat_id=GROUP)
    assert "1 upvote" in shown(upvoted)

    api.say(fan, "/questions", group=group_of(api))
    [*_, listing] = await api.wait_call("sendMessage", 3, chat_id=GROUP)
    assert "How do we record <capacity> & consent? Ŵ" in shown(listing)


async def test_answers_telegram_took_before_the_close_are_in_the_final_results(live: Running) -> None:
    api, store = live.api, live.app.store.live
    organiser = api.users[ORGANISER]
    voters = [api.add_user(6000 + i, f"Late{i}") for i in range(3)]
    api.say(organiser, '/poll "Break now?" "Yes" "No"', group=group_of(api))
    [sent] = await api.wait_call("sendPoll", chat_id=GROUP)
    poll_id = sent.result["poll"]["id"]
    api.vote(voters[0], poll_id, [0])
    api.say(organiser, "/results", group=group_of(api))
    [so_far] = await api.wait_call("sendMessage", chat_id=GROUP)
    assert "1 person voted." in shown(so_far)
    # Two answers Telegram took a moment before the close, whose updates the bot has not had yet.
    api.polls[poll_id].votes.update({voters[1].id: [1], voters[2].id: [1]})
    api.say(organiser, "/closepoll", group=group_of(api))
    await api.wait_until(lambda: any("Final results" in shown(c) for c in
                                     api.calls_to("sendPhoto", chat_id=GROUP) + api.calls_to("sendMessage", chat_id=GROUP)
                                     if c.result), what="the final results")
    [final] = [shown(c) for c in api.calls_to("sendPhoto", chat_id=GROUP) + api.calls_to("sendMessage", chat_id=GROUP)
               if "Final results" in shown(c)]
    lines = final.splitlines()
    assert [line.rsplit(" ", 2)[-2:] for line in lines[1:3]] == [["1", "(33%)"], ["2", "(67%)"]]
    assert "3 people voted." in lines
    poll = await store.poll_by_ref(poll_id)
    assert poll is not None
    tally = await store.tally(poll)
    assert tally.votes == (1, 2) and tally.voters == 3
