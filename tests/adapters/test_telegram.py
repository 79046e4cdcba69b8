"""The Telegram adapter: the real python-telegram-bot client against a fake Bot API server on
127.0.0.1, with the real core behind it (``open_app``, a fake clock, manual alarms).

Nothing here sleeps: every wait is on the fake server's recorded calls, with a deadline.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.telegram import TelegramAdapter
from adapters.telegram.convert import address_command, chunks, subscribe_link
from bot.alarms import ManualAlarms
from bot.app import App, open_app
from bot.clock import FakeClock
from bot.config import Config, SecretStr
from bot.errors import AdapterUnavailable, DeliveryFailed, RateLimited, RecipientUnreachable
from bot.i18n import translator
from bot.models import (
    Attachment,
    Button,
    ChatKind,
    ChatRef,
    Incoming,
    NativePollAnswers,
    Outgoing,
    PollSpec,
    ReminderStatus,
    Role,
    UserRef,
)
from tests.databases import database_for
from tests.fakes.telegram_api import BotApiError, FakeBotApi, rate_limited
from tests.harness import START, make_occurrence, store_occurrences

ORGANISER = 9000
GROUP = -1001234567890


@dataclass
class Running:
    api: FakeBotApi
    app: App
    adapter: TelegramAdapter
    clock: FakeClock
    alarms: ManualAlarms

    async def add_sessions(self, *titles_and_ids: tuple[str, str]) -> None:
        await store_occurrences(self.app, [
            make_occurrence(title, START + timedelta(days=1, hours=i), id=oid)
            for i, (title, oid) in enumerate(titles_and_ids)])


def telegram_config(tmp_path: Path, api: FakeBotApi, **settings: Any) -> Config:
    settings = {"telegram_base_url": api.base_url, "outbox_check_seconds": 0, **settings}
    return replace(Config(), db=database_for(tmp_path), organisers=(f"telegram:{ORGANISER}",),
                   telegram_token=SecretStr(api.token), **settings)


@contextlib.asynccontextmanager
async def running(tmp_path: Path, api: FakeBotApi, **settings: Any) -> AsyncIterator[Running]:
    config = telegram_config(tmp_path, api, **settings)
    clock = FakeClock(START)
    alarms = ManualAlarms(clock)
    adapter = TelegramAdapter.from_config(config)
    async with open_app(config, adapters=[adapter], clock=clock, alarms=alarms) as app:
        yield Running(api, app, adapter, clock, alarms)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def bot(tmp_path: Path, api: FakeBotApi) -> AsyncIterator[Running]:
    async with running(tmp_path, api) as run:
        yield run


def shown(call: Any) -> str:
    """The text a person sees for a sendMessage/editMessageText call (as Telegram parsed it)."""
    result = call.result
    return str(result.get("text") or result.get("caption") or "")


# --------------------------------------------------------------------------- start-up


async def test_start_polls_inside_our_loop_and_stop_undoes_it(tmp_path: Path, api: FakeBotApi) -> None:
    async with running(tmp_path, api) as run:
        await api.wait_call("getUpdates")
        assert run.adapter.username == "eventbot_test_bot"
        assert [c.method for c in api.calls][:2] == ["getMe", "deleteWebhook"]
        polls = api.calls_to("getUpdates")
        assert set(polls[0]["allowed_updates"]) == {"message", "callback_query", "poll_answer"}
    # stop acknowledged what it fetched with one last, short getUpdates
    assert api.calls[-1].method == "getUpdates" and api.calls[-1]["timeout"] == 0
    assert run.adapter._app is None


async def test_settings_come_from_the_environment(tmp_path: Path, api: FakeBotApi) -> None:
    from bot.config import load_config

    config = load_config(env={"EVENTBOT_TELEGRAM_TOKEN": api.token, "EVENTBOT_TELEGRAM_BASE_URL": api.base_url,
                              "EVENTBOT_DB": str(tmp_path / "env.db")})
    assert api.token not in repr(config)
    adapter = TelegramAdapter.from_config(config)
    await adapter.start(_ignore)
    try:
        assert adapter.username == "eventbot_test_bot"
        assert api.calls_to("getMe")
    finally:
        await adapter.stop()


async def test_missing_token_is_a_clear_start_up_error() -> None:
    with pytest.raises(AdapterUnavailable, match="EVENTBOT_TELEGRAM_TOKEN"):
        TelegramAdapter.from_config(Config())


async def test_rejected_token_is_a_clear_start_up_error_without_the_token(
        tmp_path: Path, api: FakeBotApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = replace(telegram_config(tmp_path, api), telegram_token=SecretStr("42:wrong-secret-token"))
    adapter = TelegramAdapter.from_config(config)
    with pytest.raises(AdapterUnavailable, match="rejected the token") as raised:
        await adapter.start(_ignore)
    assert "wrong-secret-token" not in str(raised.value)
    assert "wrong-secret-token" not in caplog.text


async def test_missing_sdk_surfaces_as_adapter_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    import adapters.telegram as package

    for name in [m for m in sys.modules if m == "telegram" or m.startswith(("telegram.", "adapters.telegram"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "telegram", None)  # makes ``import telegram`` fail
    try:
        stand_in = importlib.import_module("adapters.telegram").TelegramAdapter
        with pytest.raises(AdapterUnavailable, match=r"install eventbot\[telegram\]"):
            stand_in.from_config(Config(telegram_token=SecretStr("1:x")))
    finally:
        monkeypatch.undo()
        sys.modules["adapters.telegram"] = package


async def _ignore(incoming: Incoming) -> None:
    return None


# --------------------------------------------------------------------------- private chats


async def test_subscribe_from_a_private_chat_and_get_the_reminder_by_dm(bot: Running) -> None:
    api = bot.api
    alice = api.add_user(1001, "Alice", username="alice", language_code="en-GB")
    await store_occurrences(bot.app, [make_occurrence("Reflective supervision", START + timedelta(days=2, hours=3),
                                                      id="rs1")])

    api.say(alice, "/subscribe rs1")
    [reply] = await api.wait_call("sendMessage", chat_id=1001)
    assert shown(reply) == "Subscribed to “Reflective supervision”."
    assert reply["parse_mode"] == "HTML"
    subscriptions = await bot.app.store.people.subscriptions_of("telegram:1001")
    assert [s.target for s in subscriptions] == ["rs1"]
    assert (await bot.app.store.people.get_settings("telegram:1001")).display_name == "alice"


    # the core's dispatcher delivers both default offsets by private message, on the fake clock
    await bot.alarms.advance(timedelta(days=3))
    _, day_before, quarter_hour = await api.wait_call("sendMessage", 3, chat_id=1001)
    assert shown(day_before).startswith("⏰ “Reflective supervision” starts on ")
    assert shown(day_before).endswith(", in 1 day.")
    assert shown(quarter_hour) == "⏰ “Reflective supervision” starts at 11:00 GMT, in 15 minutes."
    assert all(c["parse_mode"] == "HTML" and c.error is None for c in (day_before, quarter_hour))
    assert (await bot.app.store.reminders.counts())["sent"] == 2


async def test_welsh_locale_hint_reaches_the_core(bot: Running) -> None:
    seen: list[Incoming] = []
    bot.adapter._on_message = _recording(seen)
    dafydd = bot.api.add_user(1002, "Dafydd", language_code="cy")
    bot.api.say(dafydd, "/help")
    await bot.api.wait_until(lambda: bool(seen), what="the message")
    [incoming] = seen
    assert incoming.user == UserRef("telegram:1002", "Dafydd")
    assert incoming.chat == ChatRef("telegram:1002", ChatKind.PRIVATE, "Dafydd")
    assert incoming.locale == "cy" and incoming.text == "/help"


def _recording(seen: list[Incoming]) -> Any:
    async def record(incoming: Incoming) -> None:
        seen.append(incoming)

    return record


async def test_deep_link_start_subscribes(bot: Running) -> None:
    api = bot.api
    await bot.add_sessions(("Trauma-informed practice", "tip1"))
    link = bot.adapter.subscribe_link("tip1")
    assert link == "https://t.me/eventbot_test_bot?start=sub_tip1"

    bethan = api.add_user(1003, "Bethan")
    api.say(bethan, "/start " + link.rsplit("=", 1)[1])
    [reply] = await api.wait_call("sendMessage", chat_id=1003)
    assert shown(reply) == "Subscribed to “Trauma-informed practice”."
    assert [s.target for s in await bot.app.store.people.subscriptions_of("telegram:1003")] == ["tip1"]

    api.say(bethan, "/start")
    [_, welcome] = await api.wait_call("sendMessage", 2, chat_id=1003)
    assert "/subscribe" in shown(welcome)


def test_subscribe_link_refuses_ids_telegram_cannot_carry() -> None:
    assert subscribe_link("@my_bot", "a-b_c9") == "https://t.me/my_bot?start=sub_a-b_c9"
    with pytest.raises(ValueError, match="deep link"):
        subscribe_link("my_bot", "has space")


# --------------------------------------------------------------------------- groups


async def test_group_commands_addressed_to_us_are_answered_and_others_ignored(bot: Running) -> None:
    api = bot.api
    room = api.add_group(GROUP, "CPD <Cymru> & friends")
    carys = api.add_user(1004, "Carys")
    seen: list[Incoming] = []
    forward = bot.adapter._on_message
    assert forward is not None

    async def record_then_handle(incoming: Incoming) -> None:
        seen.append(incoming)
        await forward(incoming)

    bot.adapter._on_message = record_then_handle
    api.say(carys, "/help@otherbot", group=room)
    api.say(carys, "/help@EventBot_Test_Bot", group=room)
    [reply] = await api.wait_call("sendMessage", chat_id=GROUP)
    assert "/subscribe" in shown(reply)
    assert [i.text for i in seen] == ["/help"]
    assert seen[0].chat == ChatRef(f"telegram:{GROUP}", ChatKind.GROUP, "CPD <Cymru> & friends")


def test_address_command() -> None:
    assert address_command("/ask@Bot why?", "bot") == "/ask why?"
    assert address_command("/ask@other why?", "bot") is None
    assert address_command("/ask why?", "bot") == "/ask why?"
    assert address_command("hello @bot", "bot") == "hello @bot"


# --------------------------------------------------------------------------- formatting


async def test_html_escaping_round_trip(bot: Running) -> None:
    api = bot.api
    api.add_group(GROUP, "room")
    title = "Risk <assessment> & “consent” 🧠 — Gwaith cymdeithasol: ŵ ŷ â"
    delivered = await bot.adapter.send(Outgoing(title, chat=ChatRef(f"telegram:{GROUP}")))
    [call] = api.calls_to("sendMessage", chat_id=GROUP)
    assert call["text"] == "Risk &lt;assessment&gt; &amp; “consent” 🧠 — Gwaith cymdeithasol: ŵ ŷ â"
    assert shown(call) == title
    assert delivered.message_id == str(call.result["message_id"])


async def test_long_text_is_split_at_line_breaks_with_buttons_on_the_last_part(bot: Running) -> None:
    api = bot.api
    api.add_group(GROUP, "room")
    lines = [f"{i:04d} " + "x" * 95 for i in range(100)]  # 10,000 characters
    await bot.adapter.send(Outgoing("\n".join(lines), chat=ChatRef(f"telegram:{GROUP}"),
                                    buttons=((Button("OK", "ok:1"),),)))
    calls = api.calls_to("sendMessage")
    assert len(calls) == 3
    assert "\n".join(shown(c) for c in calls) == "\n".join(lines)
    assert [c.get("reply_markup") is not None for c in calls] == [False, False, True]


def test_chunks_split_a_huge_line_hard() -> None:
    assert list(chunks("a" * 10, 4)) == ["aaaa", "aaaa", "aa"]
    assert list(chunks("ab\ncd\nef", 5)) == ["ab\ncd", "ef"]


def test_chunks_count_emoji_as_telegram_does() -> None:
    assert list(chunks("🧠🧠🧠", 4)) == ["🧠🧠", "🧠"]  # two UTF-16 units each
    assert list(chunks("ŵŷâ", 2)) == ["ŵŷ", "â"]  # one unit each


async def test_emoji_heavy_text_is_split_within_telegrams_limit(bot: Running) -> None:
    api = bot.api
    api.add_group(GROUP, "room")
    text = "\n".join("🧠" * 99 for _ in range(30))  # 2,999 characters, 5,969 UTF-16 units
    await bot.adapter.send(Outgoing(text, chat=ChatRef(f"telegram:{GROUP}")))
    calls = api.calls_to("sendMessage")
    assert len(calls) == 2 and all(c.error is None for c in calls)
    assert "\n".join(shown(c) for c in calls) == text


async def test_buttons_become_an_inline_keyboard(bot: Running) -> None:
    api = bot.api
    api.add_group(GROUP, "room")
    await bot.adapter.send(Outgoing("Pick", chat=ChatRef(f"telegram:{GROUP}"), buttons=(
        (Button("🔔 One", "sub:o1"), Button("🔕 One", "unsub:o1")), (Button("Two", "sub:o2"),))))
    [call] = api.calls_to("sendMessage")
    assert call["reply_markup"] == {"inline_keyboard": [
        [{"text": "🔔 One", "callback_data": "sub:o1"}, {"text": "🔕 One", "callback_data": "unsub:o1"}],
        [{"text": "Two", "callback_data": "sub:o2"}]]}


async def test_events_buttons_subscribe_through_a_callback_query(bot: Running) -> None:
    api = bot.api
    room = api.add_group(GROUP, "room")
    dylan = api.add_user(1005, "Dylan")
    await bot.add_sessions(("Safeguarding adults", "sa1"), ("Court skills", "cs1"))
    api.say(dylan, "/events", group=room)
    [listing] = await api.wait_call("sendMessage", chat_id=GROUP)
    keyboard = listing["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["sub:sa1", "sub:cs1"]

    api.press(dylan, "sub:cs1", message=listing.result)
    [answer] = await api.wait_call("answerCallbackQuery")
    [_, reply] = await api.wait_call("sendMessage", 2, chat_id=GROUP)
    assert shown(reply) == "Subscribed to “Court skills”."
    assert answer["callback_query_id"]
    assert [s.target for s in await bot.app.store.people.subscriptions_of("telegram:1005")] == ["cs1"]


async def test_files_and_images(bot: Running) -> None:
    api = bot.api
    erin = api.add_user(1006, "Erin")
    erin.started = True
    await bot.adapter.send(Outgoing("Your calendar <3", user=UserRef("telegram:1006"),
                                    attachment=Attachment("cpd.ics", b"BEGIN:VCALENDAR", "text/calendar")))
    await bot.adapter.send(Outgoing("Results", user=UserRef("telegram:1006"),
                                    attachment=Attachment("chart.png", b"\x89PNG....", "image/png")))
    [document] = api.calls_to("sendDocument")
    assert document["document"]["filename"] == "cpd.ics"
    assert document["document"]["content"] == b"BEGIN:VCALENDAR"
    assert shown(document) == "Your calendar <3"
    [photo] = api.calls_to("sendPhoto")
    assert photo["photo"]["content"] == b"\x89PNG...."
    assert shown(photo) == "Results"


# --------------------------------------------------------------------------- polls


async def test_native_poll_is_non_anonymous_and_votes_arrive_as_npoll_actions(bot: Running) -> None:
    api = bot.api
    api.add_group(GROUP, "room")
    users = [api.add_user(2000 + i, f"Voter{i}") for i in range(3)]
    seen: list[Incoming] = []
    bot.adapter._on_message = _recording(seen)

    delivered = await bot.adapter.send(Outgoing(
        "Poll 7: Which model? 1. Signs of Safety 2. Motivational interviewing",
        chat=ChatRef(f"telegram:{GROUP}"), kind="poll",
        poll=PollSpec(7, "Which model?", ("Signs of Safety", "Motivational interviewing"), multiple=True)))
    [call] = api.calls_to("sendPoll")
    assert call["is_anonymous"] is False and call["allows_multiple_answers"] is True
    assert [o["text"] if isinstance(o, dict) else o for o in call["options"]] == [
        "Signs of Safety", "Motivational interviewing"]
    poll_id = call.result["poll"]["id"]
    assert delivered == type(delivered)(str(call.result["message_id"]), poll_ref=poll_id)

    api.vote(users[0], poll_id, [0])
    api.vote(users[1], poll_id, [0, 1])
    api.vote(users[2], poll_id, [1])
    await api.wait_until(lambda: len(seen) == 3, what="three votes")
    assert [(i.user.id, i.chat, i.action) for i in seen] == [
        ("telegram:2000", ChatRef("telegram:2000", ChatKind.PRIVATE, "Voter0"), f"npoll:{poll_id}:0"),
        ("telegram:2001", ChatRef("telegram:2001", ChatKind.PRIVATE, "Voter1"), f"npoll:{poll_id}:0,1"),
        ("telegram:2002", ChatRef("telegram:2002", ChatKind.PRIVATE, "Voter2"), f"npoll:{poll_id}:1"),
    ]

    api.vote(users[2], poll_id, [])  # a retracted vote
    await api.wait_until(lambda: len(seen) == 4, what="the retraction")
    assert seen[-1].action == f"npoll:{poll_id}:"

    final = await bot.adapter.end_poll(f"telegram:{GROUP}", str(delivered.message_id))
    [stop] = api.calls_to("stopPoll")
    assert stop["chat_id"] == GROUP and stop.result["is_closed"] is True
    assert final == NativePollAnswers(votes=(2, 1), voters=2)  # stopPoll's final poll: counts only
    # idempotent: a second end gives the same final answers
    assert await bot.adapter.end_poll(f"telegram:{GROUP}", str(delivered.message_id)) == final
    assert await bot.adapter.native_poll_answers(f"telegram:{GROUP}", str(delivered.message_id)) is None


async def test_quiz_poll(bot: Running) -> None:
    api = bot.api
    api.add_group(GROUP, "room")
    await bot.adapter.send(Outgoing("Quiz", chat=ChatRef(f"telegram:{GROUP}"), poll=PollSpec(
        8, "Which act?", ("Care Act 2014", "Children Act 1989", "SSWB Act 2014"), correct_option=2)))
    [call] = api.calls_to("sendPoll")
    assert call["type"] == "quiz" and call["correct_option_ids"] == [2]
    assert call["is_anonymous"] is False


async def test_poll_beyond_telegram_limits_goes_as_text_with_its_buttons(bot: Running) -> None:
    api = bot.api
    api.add_group(GROUP, "room")
    options = tuple(f"Option {i}" for i in range(14))
    delivered = await bot.adapter.send(Outgoing(
        "Poll 9: …", chat=ChatRef(f"telegram:{GROUP}"), poll=PollSpec(9, "Too many?", options),
        buttons=((Button("1", "poll:9:vote:0"),),)))
    assert not api.calls_to("sendPoll")
    [call] = api.calls_to("sendMessage")
    assert call["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "poll:9:vote:0"
    assert delivered.poll_ref is None


async def test_button_votes_arrive_as_actions_and_are_always_answered(bot: Running) -> None:
    api = bot.api
    room = api.add_group(GROUP, "room")
    seen: list[Incoming] = []
    bot.adapter._on_message = _recording(seen)
    sent = await bot.adapter.send(Outgoing("Anonymous poll", chat=ChatRef(f"telegram:{GROUP}"), buttons=(
        (Button("Yes", "poll:3:vote:0"), Button("No", "poll:3:vote:1")),)))
    message = api.calls_to("sendMessage")[0].result
    voters = [api.add_user(3000 + i, f"V{i}") for i in range(3)]
    for voter, option in zip(voters, (0, 1, 0), strict=True):
        api.press(voter, f"poll:3:vote:{option}", message=message)
    await api.wait_call("answerCallbackQuery", 3)
    await api.wait_until(lambda: len(seen) == 3, what="three presses")
    assert [(i.user.id, i.action, i.chat.id, i.message_id) for i in seen] == [
        (f"telegram:{3000 + n}", f"poll:3:vote:{o}", f"telegram:{GROUP}", sent.message_id)
        for n, o in enumerate((0, 1, 0))]
    assert room["id"] == GROUP


# --------------------------------------------------------------------------- failures


async def test_rate_limit_surfaces_as_rate_limited_and_is_not_retried(bot: Running) -> None:
    api = bot.api
    api.add_group(GROUP, "room")
    api.fail_next("sendMessage", rate_limited(7))
    with pytest.raises(RateLimited) as raised:
        await bot.adapter.send(Outgoing("Hello", chat=ChatRef(f"telegram:{GROUP}")))
    assert raised.value.retry_after == 7
    assert raised.value.transient
    # PTB made exactly one request: nothing was retried behind our back (no double send)
    assert len(api.calls_to("sendMessage")) == 1
    await bot.adapter.send(Outgoing("Hello", chat=ChatRef(f"telegram:{GROUP}")))
    assert [c.error for c in api.calls_to("sendMessage")] == ["Too Many Requests: retry after 7", None]


@pytest.mark.parametrize("description", [
    "Forbidden: bot was blocked by the user",
    "Forbidden: bot can't initiate conversation with a user",
    "Forbidden: user is deactivated",
])
async def test_unreachable_people(bot: Running, description: str) -> None:
    api = bot.api
    fiona = api.add_user(1007, "Fiona")
    fiona.started = True
    api.fail_next("sendMessage", BotApiError(403, description))
    with pytest.raises(RecipientUnreachable) as raised:
        await bot.adapter.send(Outgoing("Reminder", user=UserRef("telegram:1007"), kind="reminder"))
    assert raised.value.recipient == "telegram:1007" and not raised.value.transient


async def test_blocked_user_through_the_fake_server_state(bot: Running) -> None:
    api = bot.api
    gwen = api.add_user(1008, "Gwen")
    api.say(gwen, "/help")
    await api.wait_call("sendMessage", chat_id=1008)
    api.block(gwen)
    with pytest.raises(RecipientUnreachable, match="blocked"):
        await bot.adapter.send(Outgoing("Reminder", user=UserRef("telegram:1008"), kind="reminder"))
    api.add_user(1009, "Never")  # never opened a private chat
    with pytest.raises(RecipientUnreachable, match="initiate"):
        await bot.adapter.send(Outgoing("Reminder", user=UserRef("telegram:1009"), kind="reminder"))


async def test_a_429_on_a_reminder_is_waited_out_and_the_reminder_sent_once(bot: Running) -> None:
    api = bot.api
    carys = api.add_user(1012, "Carys")
    await store_occurrences(bot.app, [make_occurrence("Ethics", START + timedelta(days=2, hours=3), id="eth1")])
    api.say(carys, "/subscribe eth1")
    await api.wait_call("sendMessage", chat_id=1012)
    refused_at = []
    api.fail_next("sendMessage", rate_limited(7),
                  when=lambda call: call["chat_id"] == 1012 and not refused_at.append(bot.clock.now()))
    await bot.alarms.advance(timedelta(days=3))
    _, refused, day_before, quarter_hour = await api.wait_call("sendMessage", 4, chat_id=1012)
    assert refused.error == "Too Many Requests: retry after 7"
    assert day_before.result["text"] == refused["text"]  # the same reminder, once, after the wait
    assert day_before.error is None and quarter_hour.error is None
    sent = await bot.app.store.reminders.find(ReminderStatus.SENT)
    first = min(r.sent_at for r in sent if r.sent_at)
    assert first >= refused_at[0].replace(microsecond=0) + timedelta(seconds=7)  # (stored to the second)


async def test_a_blocked_subscriber_gets_one_attempt_and_the_rest_are_failed_unsent(bot: Running) -> None:
    api = bot.api
    bryn = api.add_user(1011, "Bryn")
    await store_occurrences(bot.app, [make_occurrence("Ethics", START + timedelta(days=2, hours=3), id="eth1")])
    api.say(bryn, "/subscribe eth1")
    await api.wait_call("sendMessage", chat_id=1011)
    api.block(bryn)
    await bot.alarms.advance(timedelta(days=3))
    _, attempt = await api.wait_call("sendMessage", 2, chat_id=1011)
    assert attempt.error == "Forbidden: bot was blocked by the user"
    # the quarter-hour reminder fails with the first, without a second attempt at a blocked chat
    counts = await bot.app.store.reminders.counts()
    assert (counts["sent"], counts["failed"]) == (0, 2)
    assert len(api.calls_to("sendMessage", chat_id=1011)) == 2


async def test_a_reminder_that_falls_back_to_the_group_mentions_the_person(bot: Running) -> None:
    api = bot.api
    room = api.add_group(GROUP, "room")
    bryn = api.add_user(1013, "Bryn <&>")  # never opened a private chat with the bot
    await store_occurrences(bot.app, [make_occurrence("Ethics", START + timedelta(days=2, hours=3), id="eth1")])
    api.say(bryn, "/subscribe eth1", group=room)
    await api.wait_call("sendMessage", chat_id=GROUP)
    await bot.alarms.advance(timedelta(days=3))
    refused, = api.calls_to("sendMessage", chat_id=1013)
    assert "initiate" in (refused.error or "")
    _, told, day_before, quarter_hour = await api.wait_call("sendMessage", 4, chat_id=GROUP)
    assert shown(told).startswith("Bryn <&>, I could not send you a private reminder for “Ethics”")
    assert shown(day_before).startswith("Bryn <&>: ⏰ “Ethics” starts on ")
    assert shown(quarter_hour) == "Bryn <&>: ⏰ “Ethics” starts at 11:00 GMT, in 15 minutes."
    # The name is a mention of Bryn, which notifies Bryn; the rest is the same plain text.
    for call in (told, day_before, quarter_hour):
        assert call["text"].startswith('<a href="tg://user?id=1013">Bryn &lt;&amp;&gt;</a>')
        assert call.result["entities"] == [{"type": "text_link", "offset": 0, "length": 8,
                                            "url": "tg://user?id=1013"}]
    counts = await bot.app.store.reminders.counts()
    assert (counts["sent"], counts["failed"]) == (2, 0)


async def test_bad_request_is_permanent_and_server_errors_transient(bot: Running) -> None:
    api = bot.api
    with pytest.raises(DeliveryFailed, match=r"(?i)chat not found") as raised:
        await bot.adapter.send(Outgoing("x", chat=ChatRef("telegram:-555")))
    assert not raised.value.transient and not isinstance(raised.value, RecipientUnreachable)
    api.add_group(GROUP, "room")
    api.fail_next("sendMessage", BotApiError(502, "Bad Gateway"))
    with pytest.raises(DeliveryFailed) as raised:
        await bot.adapter.send(Outgoing("x", chat=ChatRef(f"telegram:{GROUP}")))
    assert raised.value.transient
    with pytest.raises(DeliveryFailed, match="not a Telegram"):
        await bot.adapter.send(Outgoing("x", chat=ChatRef("telegram:room")))


async def test_malformed_update_is_ignored_with_a_log_line(bot: Running, caplog: pytest.LogCaptureFixture) -> None:
    api = bot.api
    hywel = api.add_user(1010, "Hywel")
    caplog.set_level(logging.INFO)
    bad = api.push_update({"poll_answer": {"poll_id": "1", "user": hywel.json()}})  # PTB cannot parse it
    chatless = api.push_update({"message": {"message_id": 1, "date": 1_742_198_400, "text": "/help",
                                            "from": hywel.json()}})  # parses, but answers nowhere
    api.push_update({"callback_query": {"id": "1", "from": hywel.json(), "chat_instance": "1"}})  # no data
    api.say(hywel, "/help")
    [reply] = await api.wait_call("sendMessage", chat_id=1010)
    assert "/subscribe" in shown(reply)
    assert f"ignored malformed Telegram update {bad}" in caplog.text
    assert f"ignored update {chatless}: a message without a chat" in caplog.text
    assert "without callback data" in caplog.text
    assert len(api.calls_to("sendMessage")) == 1


# --------------------------------------------------------------------------- command menu and logs


async def test_command_menu_published_in_english_and_welsh(bot: Running) -> None:
    api = bot.api
    calls = await api.wait_call("setMyCommands", 4)
    assert [(c.get("scope"), c.get("language_code")) for c in calls] == [
        (None, None), (None, "cy"),
        ({"type": "chat", "chat_id": ORGANISER}, None), ({"type": "chat", "chat_id": ORGANISER}, "cy")]
    english = {c["command"]: c["description"] for c in api.commands["default", ""]}
    assert english["subscribe"] == "Get reminders for a session, a series, or all."
    assert {"help", "start", "events", "subscribe", "mine"} <= set(english)
    welsh = {c["command"]: c["description"] for c in api.commands["default", "cy"]}
    assert set(english) == set(welsh)
    assert all(1 <= len(d) <= 256 for d in welsh.values())
    assert welsh["subscribe"] == translator("cy")("Get reminders for a session, a series, or all.")
    assert welsh["start"] == "Dechrau yma: beth alla i ei wneud."
    # organiser-only commands are listed in the organisers' private chats only
    organiser_only = {spec.name for spec in bot.app.services.router.commands() if spec.role is Role.ORGANISER}
    assert organiser_only and not organiser_only & set(english)
    full = {c["command"] for c in api.commands[f"chat:{ORGANISER}", ""]}
    assert full == set(english) | organiser_only


async def test_the_token_never_appears_in_logs(tmp_path: Path, api: FakeBotApi,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ivan = api.add_user(1011, "Ivan")
    async with running(tmp_path, api) as run:
        api.say(ivan, "/help")
        await api.wait_call("sendMessage", chat_id=1011)
        api.fail_next("sendMessage", rate_limited(3))
        with pytest.raises(RateLimited):
            await run.adapter.send(Outgoing("x", user=UserRef("telegram:1011")))
        api.fail_next("getUpdates", BotApiError(502, "Bad Gateway"))
        api.say(ivan, "/mine")  # ends the open long poll, so the next one meets the failure
        await api.wait_until(lambda: "Bad Gateway" in caplog.text, what="a polling error logged")
    assert "api.telegram" not in caplog.text and caplog.records
    assert any("getUpdates" in r.getMessage() or "Bot API" in r.getMessage() for r in caplog.records)
    assert api.token not in caplog.text
    assert api.token.split(":")[1] not in caplog.text


async def test_httpx_request_lines_stay_quiet_at_info(tmp_path: Path, api: FakeBotApi,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with running(tmp_path, api):
        await api.wait_call("getUpdates")
    assert not [r for r in caplog.records if r.name.startswith("httpx")]


# --------------------------------------------------------------------------- webhook mode


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_webhook_mode_receives_updates_and_checks_the_secret(tmp_path: Path, api: FakeBotApi) -> None:
    import aiohttp

    port = _free_port()
    jane = api.add_user(1012, "Jane")
    jane.started = True
    async with running(tmp_path, api, telegram_webhook_url="https://bot.example.org/tg/hook",
                       telegram_webhook_listen=f"127.0.0.1:{port}"):
        [hook] = api.calls_to("setWebhook")
        assert hook["url"] == "https://bot.example.org/tg/hook"
        secret = hook["secret_token"]
        assert secret and api.token not in secret
        assert not api.calls_to("getUpdates")
        update = {"update_id": 1, "message": {"message_id": 5, "date": 1_742_198_400, "from": jane.json(),
                                              "chat": jane.private_chat(), "text": "/help",
                                              "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/tg/hook", json=update,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}) as refused:
                assert refused.status == 403
            async with session.post(f"http://127.0.0.1:{port}/tg/hook", json=update,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as accepted:
                assert accepted.status == 200
        [reply] = await api.wait_call("sendMessage", chat_id=1012)
        assert "/subscribe" in shown(reply)


# --------------------------------------------------------------------------- Q&A (adapter level)


async def test_questions_and_upvotes_reach_the_core_as_text_and_actions(bot: Running) -> None:
    api = bot.api
    room = api.add_group(GROUP, "CPD room")
    kate, liam = api.add_user(1013, "Kate"), api.add_user(1014, "Liam", username="liam_sw")
    seen: list[Incoming] = []
    bot.adapter._on_message = _recording(seen)
    api.say(kate, "/ask@eventbot_test_bot Is <consent> & capacity covered? Ŵyr?", group=room)
    question = await bot.adapter.send(Outgoing("Q1: Is <consent> & capacity covered? Ŵyr?",
                                               chat=ChatRef(f"telegram:{GROUP}"),
                                               buttons=((Button("👍 1", "q:1:up"),),)))
    api.press(liam, "q:1:up", message=api.calls_to("sendMessage")[0].result)
    await api.wait_until(lambda: len(seen) == 2, what="the question and the upvote")
    ask, upvote = seen
    assert ask.text == "/ask Is <consent> & capacity covered? Ŵyr?"
    assert ask.chat.id == f"telegram:{GROUP}" and ask.user == UserRef("telegram:1013", "Kate")
    assert (upvote.action, upvote.user, upvote.message_id) == (
        "q:1:up", UserRef("telegram:1014", "liam_sw", username="liam_sw"), question.message_id)
    await api.wait_call("answerCallbackQuery")


def test_base_url_forms() -> None:
    from adapters.telegram.adapter import _api_url

    assert _api_url("http://localhost:8081", "bot") == "http://localhost:8081/bot"
    assert _api_url("http://localhost:8081/", "file") == "http://localhost:8081/file/bot"
    assert _api_url("http://localhost:8081/bot", "file") == "http://localhost:8081/file/bot"
    assert _api_url("http://h/bot{token}/test", "bot") == "http://h/bot{token}/test"
    assert _api_url("http://h/bot{token}/test", "file") == "http://h/file/bot{token}/test"


async def test_base_url_without_the_bot_suffix_works(tmp_path: Path, api: FakeBotApi) -> None:
    async with running(tmp_path, api, telegram_base_url=f"http://127.0.0.1:{api.port}") as run:
        assert run.adapter.username == "eventbot_test_bot"


def test_webhook_listen_address_is_checked() -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="HOST:PORT"):
        TelegramAdapter("1:x", webhook_url="https://bot.example.org/hook", webhook_listen="localhost")
    TelegramAdapter("1:x", webhook_listen="ignored without a webhook URL")


async def test_failing_to_start_polling_is_a_clear_start_up_error(tmp_path: Path, api: FakeBotApi) -> None:
    api.fail_next("deleteWebhook", BotApiError(500, "Internal Server Error"))
    config = telegram_config(tmp_path, api)
    adapter = TelegramAdapter.from_config(config)
    clock = FakeClock(START)
    with pytest.raises(AdapterUnavailable, match="could not start receiving updates"):
        async with open_app(config, adapters=[adapter], clock=clock, alarms=ManualAlarms(clock)):
            pass
    assert adapter._app is None


async def test_an_adapter_started_alone_sends_but_receives_only_when_told(tmp_path: Path, api: FakeBotApi) -> None:
    jane = api.add_user(1012, "Jane")
    jane.started = True
    adapter = TelegramAdapter.from_config(telegram_config(tmp_path, api))
    await adapter.start(_ignore)
    try:
        await adapter.send(Outgoing("hello", user=UserRef("telegram:1012")))
        assert not adapter.receiving and not api.calls_to("getUpdates")
        await adapter.set_receiving(True)
        await adapter.set_receiving(True)  # already polling: nothing more
        await api.wait_call("getUpdates")
        assert adapter.receiving and len(api.calls_to("deleteWebhook")) == 1
        await adapter.set_receiving(False)
        assert not adapter.receiving
    finally:
        await adapter.stop()


async def test_grants_go_to_the_person_a_text_mention_or_a_reply_points_at(bot: Running) -> None:
    api = bot.api
    room = api.add_group(GROUP, "Room")
    organiser = api.add_user(ORGANISER, "Org", username="the_org")
    impostor = api.add_user(1006, "megan")  # no username: anyone may call themselves megan
    megan = api.add_user(1005, "megan")
    await bot.add_sessions(("Safeguarding adults", "ev1"))
    api.say(impostor, "hi", group=room)
    # "/facilitator add megan ev1" where "megan" is a text mention picked from the menu.
    text = "/facilitator add megan ev1"
    api.push_update({"message": {
        "message_id": 900, "date": 1_742_198_400, "from": organiser.json(), "chat": room, "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": 12},
                     {"type": "text_mention", "offset": 17, "length": 5, "user": megan.json()}]}})
    [reply] = await api.wait_call("sendMessage", chat_id=GROUP)
    assert shown(reply) == "telegram:1005 now facilitates “Safeguarding adults”."
    # A reply to someone's message names them.
    api.push_update({"message": {
        "message_id": 901, "date": 1_742_198_400, "from": organiser.json(), "chat": room,
        "text": "/facilitator remove ev1", "entities": [{"type": "bot_command", "offset": 0, "length": 12}],
        "reply_to_message": {"message_id": 899, "date": 1_742_198_300, "from": megan.json(), "chat": room,
                             "text": "I can run it"}}})
    replies = await api.wait_call("sendMessage", chat_id=GROUP, count=2)
    assert shown(replies[-1]) == "telegram:1005 no longer facilitates “Safeguarding adults”."
    # The display name alone is refused, with the candidates.
    api.say(organiser, "/facilitator add megan", group=room)
    replies = await api.wait_call("sendMessage", chat_id=GROUP, count=3)
    assert "only a display name" in shown(replies[-1]) and "telegram:1006" in shown(replies[-1])
    assert await bot.app.store.people.facilitator_grants() == []


async def test_at_debug_the_log_never_says_who_pressed_which_anonymous_button(bot: Running) -> None:
    # An operator runs with -vv while an anonymous poll is open: the log is written through the
    # same filters eventbot puts on its handlers, and must not pair a voter with a choice.
    import io
    import logging

    from bot.redact import PlatformPayloads, SecretRedactor

    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.addFilter(SecretRedactor())
    handler.addFilter(PlatformPayloads())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        api = bot.api
        api.add_group(GROUP, "room")
        bot.adapter._on_message = _recording([])
        await bot.adapter.send(Outgoing("Anonymous poll", chat=ChatRef(f"telegram:{GROUP}"), buttons=(
            (Button("Yes", "poll:3:vote:0"), Button("No", "poll:3:vote:1")),)))
        message = api.calls_to("sendMessage")[0].result
        voter = api.add_user(3777, "Secret Voter")
        api.press(voter, "poll:3:vote:1", message=message)
        await api.wait_call("answerCallbackQuery", 1)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    for line in written.getvalue().splitlines():
        assert not ("3777" in line and "vote" in line), line
