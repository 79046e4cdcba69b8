"""/link over Telegram: the real python-telegram-bot client against the fake Bot API on
127.0.0.1, paired with the fake adapter as the person's second platform, one core behind both.

Nothing sleeps: every wait is on the fake server's recorded calls, time moves on a fake clock.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from adapters.fake import FakeAdapter
from adapters.telegram import TelegramAdapter
from bot.alarms import ManualAlarms
from bot.app import open_app
from bot.clock import FakeClock
from tests.adapters.test_telegram import shown, telegram_config
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import START, make_occurrence, store_occurrences

CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")
SESSION = make_occurrence("Reflective supervision", START + timedelta(days=2, hours=3), id="rs1")


async def test_link_from_telegram_asks_with_buttons_and_reminds_once(tmp_path: Path) -> None:
    async with FakeBotApi() as api:
        config = telegram_config(tmp_path, api, offsets=(timedelta(minutes=15),))
        clock = FakeClock(START)
        alarms = ManualAlarms(clock)
        fake = FakeAdapter(clock=clock)
        async with open_app(config, adapters=[TelegramAdapter.from_config(config), fake], clock=clock,
                            alarms=alarms) as app:
            await store_occurrences(app, [SESSION])
            alice = api.add_user(1001, "Alice", username="alice", language_code="en-GB")
            home = fake.dm("alice")

            api.say(alice, "/timezone Europe/London")
            api.say(alice, "/subscribe rs1")
            await api.wait_call("sendMessage", 2, chat_id=1001)
            await fake.say("alice", "/timezone Europe/Paris", chat=home)
            await fake.say("alice", "/subscribe rs1", chat=home)
            [issued] = await fake.say("alice", "/link", chat=home)
            code = CODE.search(issued)
            assert code, issued

            # A wrong code first, as a person mistyping it would.
            api.say(alice, "/link ZZZZ-ZZZZ")
            wrong = (await api.wait_call("sendMessage", 3, chat_id=1001))[-1]
            assert shown(wrong).startswith("That code is not right")

            api.say(alice, f"/link {code.group(1)}")
            linked = (await api.wait_call("sendMessage", 4, chat_id=1001))[-1]
            lines = shown(linked).splitlines()
            assert lines[0].startswith("Linked: your Fake, Telegram accounts are now one attendee")
            assert "• time zone: Europe/Paris on Fake, Europe/London on Telegram" in lines
            keyboard = linked["reply_markup"]["inline_keyboard"]
            assert [b["callback_data"] for row in keyboard for b in row] == ["link:keep:fake", "link:keep:telegram"]

            api.press(alice, "link:keep:telegram", message=linked.result)
            kept = (await api.wait_call("sendMessage", 5, chat_id=1001))[-1]
            assert shown(kept).startswith("Kept the settings of your Telegram account. You are reminded by "
                                          "private message on Telegram")
            # (Told on the other platform by the handler that answered the code, which has finished.)
            assert fake.texts(fake.to("alice"))[-1].startswith("Your Telegram account alice is now linked")
            assert (await app.store.people.get_settings("fake:alice")).timezone == "Europe/London"

            await alarms.advance(SESSION.start - START)
            reminders = [c for c in api.calls_to("sendMessage", chat_id=1001) if shown(c).startswith("⏰")]
            assert [shown(c) for c in reminders] == ["⏰ “Reflective supervision” starts at 11:00 GMT, in 15 minutes."]
            assert [m for m in fake.sent if m.kind == "reminder"] == []
