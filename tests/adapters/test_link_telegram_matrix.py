"""One attendee on Telegram and Matrix: both adapters in one app on one database.

Alice's Telegram account is the real python-telegram-bot client against the fake Bot API;
her Matrix account is a matrix-nio client on the session's Synapse. She links them, is
reminded once where she chose, and checks in from each into one CPD record.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("nio", reason="eventbot[matrix] is not installed")
pytest.importorskip("synapse", reason="matrix-synapse (the test extra) is not installed")

from adapters.telegram import TelegramAdapter
from bot.alarms import ManualAlarms
from bot.config import SecretStr
from bot.models import ReminderStatus
from tests.adapters.test_telegram import GROUP, ORGANISER, shown
from tests.fakes.telegram_api import FakeBotApi, FakeUser
from tests.harness import START, make_occurrence, store_occurrences
from tests.matrix_people import world
from tests.synapse import Synapse

pytestmark = pytest.mark.slow

CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")
SUPERVISION = make_occurrence("Reflective supervision", START + timedelta(hours=2), 60, id="rs1", cpd_hours=1.5)
CONSENT = make_occurrence("Consent in practice", START + timedelta(hours=2), 60, id="cp1", cpd_hours=2.0)


async def answer(api: FakeBotApi, user: FakeUser, text: str) -> str:
    """What the bot answers ``user`` privately on Telegram to ``text``."""
    before = len(api.calls_to("sendMessage", chat_id=user.id))
    api.say(user, text)
    return shown((await api.wait_call("sendMessage", before + 1, chat_id=user.id))[-1])


async def test_linked_over_telegram_and_matrix_one_reminder_where_chosen_and_one_cpd_record(
        tmp_path: Path, synapse: Synapse) -> None:
    async with FakeBotApi() as api, world(
            tmp_path, synapse, others=(TelegramAdapter.from_config,), offsets=(timedelta(minutes=15),),
            telegram_token=SecretStr(api.token), telegram_base_url=api.base_url,
            organisers=(f"telegram:{ORGANISER}", f"matrix:{synapse.accounts['bob'].user_id}")) as w:
        bot = w.bot.user_id
        await store_occurrences(w.bot.app, [SUPERVISION, CONSENT])
        alice = api.add_user(1001, "Alice", username="alice", language_code="en-GB")
        assert await answer(api, alice, f"/subscribe {SUPERVISION.id}") == "Subscribed to “Reflective supervision”."

        code = CODE.search(await answer(api, alice, "/link"))
        assert code
        dm = await w.direct_chat(w.alice)
        told = len(api.calls_to("sendMessage", chat_id=alice.id))
        await w.alice.say(dm, f"!link {code.group(1)}")
        linked = await w.alice.from_bot(bot, dm, "Linked:", "the link made")
        assert "Telegram" in linked.body and "Matrix" in linked.body, linked.body
        notice = shown((await api.wait_call("sendMessage", told + 1, chat_id=alice.id))[-1])
        assert notice.startswith("Your Matrix account") and "is now linked" in notice, notice

        # Subscribed from her second account too, and reminded on Matrix: still one reminder.
        await w.alice.say(dm, f"!subscribe {SUPERVISION.id}")
        await w.alice.from_bot(bot, dm, "You already follow “Reflective supervision”.")
        await w.alice.say(dm, "!delivery dm")
        await w.alice.from_bot(bot, dm, "Your reminders will come by private message.")

        assert isinstance(w.bot.alarms, ManualAlarms)
        await w.bot.alarms.advance(SUPERVISION.start - START - timedelta(minutes=15))
        reminder = await w.alice.from_bot(bot, dm, "⏰", "the reminder on Matrix")
        assert "Reflective supervision" in reminder.body
        repo = w.bot.app.services.store.reminders
        assert len(await repo.find(ReminderStatus.SENT)) == 1 and not await repo.find(ReminderStatus.PENDING)
        assert [s for s in w.alice.seen if s.sender == bot and "⏰" in s.body] == [reminder]
        assert not [c for c in api.calls_to("sendMessage") if "⏰" in shown(c)]

        # Each session goes live on its own platform; she checks in from each account.
        await w.bot.alarms.advance(timedelta(minutes=5))
        group = api.add_group(GROUP, "Supervision room")
        api.say(api.add_user(ORGANISER, "Olwen"), f"/live {SUPERVISION.id}", group=group)
        await api.wait_call("sendMessage", chat_id=GROUP)
        api.say(alice, "/checkin", group=group)
        [_, checked] = await api.wait_call("sendMessage", 2, chat_id=GROUP)
        assert shown(checked).startswith("✅"), shown(checked)
        room = await w.group(w.alice, by=w.bob, name="Consent room")
        await w.bob.say(room, f"!live {CONSENT.id}")
        await w.bob.from_bot(bot, room, "Consent in practice", "the room going live")
        await w.alice.say(room, "!checkin")
        await w.alice.from_bot(bot, room, "you are checked in", "the check-in on Matrix")

        await w.alice.say(dm, "!mycpd")
        for record in (await answer(api, alice, "/mycpd"),
                       (await w.alice.from_bot(bot, dm, "Your CPD record", "the record on Matrix")).body):
            assert "Reflective supervision" in record and "Consent in practice" in record, record
            assert "Total: 3.5 CPD hours." in record, record
