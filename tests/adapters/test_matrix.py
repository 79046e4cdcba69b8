"""The Matrix adapter against a real Synapse on 127.0.0.1, with people as matrix-nio clients.

Synapse starts once per session (the ``synapse`` fixture in tests/adapters/conftest.py). Its
message limit is Synapse's default; every account but ``slowbot`` has it lifted through the
admin API's ``override_ratelimit``, and the one test about the limit uses ``slowbot``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("nio", reason="eventbot[matrix] is not installed")
pytest.importorskip("synapse", reason="matrix-synapse (the test extra) is not installed")

from nio import MemoryDownloadResponse

from adapters.matrix import convert
from bot.alarms import ManualAlarms
from bot.clock import FakeClock
from bot.models import ReminderStatus
from tests.harness import START, make_occurrence, store_occurrences
from tests.matrix_people import MatrixBot, Seen, World, eventually, world
from tests.synapse import Synapse

pytestmark = pytest.mark.slow


def bot_messages(seen: list[Seen], bot: MatrixBot, room: str) -> list[Seen]:
    return [s for s in seen if s.room_id == room and s.sender == bot.user_id and s.type == "m.room.message"]


async def test_subscribe_by_dm_then_the_reminder_arrives_there_on_time(tmp_path: Path, synapse: Synapse) -> None:
    async with world(tmp_path, synapse) as w:
        occurrence = make_occurrence("Reflective supervision", START + timedelta(hours=2))
        await store_occurrences(w.bot.app, [occurrence])
        dm = await w.direct_chat(w.bob)
        command = await w.bob.say(dm, "!subscribe all")
        reply = await w.bob.from_bot(w.bot.user_id, dm, "every session")
        # threaded to the command, with HTML beside the plain text
        assert reply.content["m.relates_to"]["m.in_reply_to"]["event_id"] == command
        assert reply.content["format"] == "org.matrix.custom.html" and reply.content["formatted_body"]
        assert "<" not in reply.body
        repo = w.bot.app.services.store.reminders
        [pending] = await eventually(lambda: repo.find(ReminderStatus.PENDING), "the reminder planned")
        assert pending.due == occurrence.start - timedelta(minutes=15)

        assert isinstance(w.bot.clock, FakeClock) and isinstance(w.bot.alarms, ManualAlarms)
        await w.bot.alarms.advance(pending.due - w.bot.clock.now() - timedelta(minutes=1))
        assert not await repo.find(ReminderStatus.SENT)  # not early
        await w.bot.alarms.advance(timedelta(minutes=1))
        reminder = await w.bob.from_bot(w.bot.user_id, dm, "Reflective supervision", "the reminder")
        assert "m.relates_to" not in reminder.content  # a reminder answers no one
        [sent] = await repo.find(ReminderStatus.SENT)
        assert sent.sent_at is not None and timedelta(0) <= pending.due - sent.sent_at <= timedelta(seconds=10)


async def test_the_ics_file_arrives_as_a_file_in_the_private_chat(tmp_path: Path, synapse: Synapse) -> None:
    async with world(tmp_path, synapse) as w:
        occurrence = make_occurrence("Reflective supervision", START + timedelta(hours=2))
        await store_occurrences(w.bot.app, [occurrence])
        dm = await w.direct_chat(w.bob)
        await w.bob.say(dm, f"!subscribe {occurrence.id}")
        await w.bob.from_bot(w.bot.user_id, dm, "Reflective supervision")
        command = await w.bob.say(dm, "!ics")
        sent = await w.bob.from_bot(w.bot.user_id, dm, ".ics file", "the .ics file")
        # one event: the file, with the answer as its caption, threaded to the command
        assert sent.content["msgtype"] == "m.file" and sent.content["filename"] == "my-sessions.ics"
        assert sent.body.startswith("Here are your 1 event") and sent.content["formatted_body"]
        assert sent.content["m.relates_to"]["m.in_reply_to"]["event_id"] == command
        assert sent.content["info"]["mimetype"] == "text/calendar" and sent.content["url"].startswith("mxc://")
        downloaded = await w.bob.client.download(mxc=sent.content["url"])
        assert isinstance(downloaded, MemoryDownloadResponse), downloaded
        assert downloaded.body.startswith(b"BEGIN:VCALENDAR") and b"Reflective supervision" in downloaded.body
        assert len(downloaded.body) == sent.content["info"]["size"]


async def go_live(w: World, room: str) -> None:
    occurrence = make_occurrence("Consent workshop", START - timedelta(minutes=5))
    await store_occurrences(w.bot.app, [occurrence])
    # A mention addresses the bot in a room, as Element's pill sends it.
    await w.alice.say(room, f"EventBot: live {occurrence.id}", **{"m.mentions": {"user_ids": [w.bot.user_id]}})
    await w.alice.from_bot(w.bot.user_id, room, "Consent workshop", "the room going live")


async def test_a_native_poll_voted_by_three_people_then_closed(tmp_path: Path, synapse: Synapse) -> None:
    async with world(tmp_path, synapse) as w:
        room = await w.group(w.bob, w.carol)
        await go_live(w, room)
        await w.alice.say(room, '!poll "Which topic next?" Consent Risk Ethics')
        start = await w.bob.wait_for(lambda seen: next(
            (s for s in seen if s.room_id == room and s.type in convert.POLL_START), None), "the poll")
        poll_content = start.content
        assert poll_content["m.poll"]["question"]["m.text"][0]["body"] == "Which topic next?"
        assert [a["org.matrix.msc1767.text"] for a in poll_content["org.matrix.msc3381.poll.start"]["answers"]] \
            == ["Consent", "Risk", "Ethics"]
        # one answers in the stable form, two in the unstable one Element sends; Bob changes his mind
        relates = {"rel_type": "m.reference", "event_id": start.event_id}
        await w.bob.send(room, "m.poll.response", {"m.relates_to": relates, "m.selections": ["1"]})
        await w.carol.send(room, "org.matrix.msc3381.poll.response",
                           {"m.relates_to": relates, "org.matrix.msc3381.poll.response": {"answers": ["2"]}})
        await w.alice.send(room, "org.matrix.msc3381.poll.response",
                           {"m.relates_to": relates, "org.matrix.msc3381.poll.response": {"answers": ["2"]}})
        await w.bob.send(room, "m.poll.response", {"m.relates_to": relates, "m.selections": ["3"]})
        live = w.bot.app.services.store.live
        poll = await live.poll_by_ref(start.event_id)
        assert poll is not None


        async def three_votes() -> object:
            tally = await live.tally(poll)
            return tally.voters == 3 and tally.votes == (0, 2, 1)

        await eventually(three_votes, "three votes counted, Bob's second replacing his first")
        await w.alice.say(room, "!closepoll")
        end = await w.bob.wait_for(lambda seen: next(
            (s for s in seen if s.room_id == room and s.type in convert.POLL_END), None), "the poll's end")
        assert end.content["m.relates_to"]["event_id"] == start.event_id
        results = await w.bob.from_bot(w.bot.user_id, room, "Which topic next?", "the results")
        closed = await live.get_poll(poll.id, fresh=True)
        assert closed is not None and not closed.is_open
        assert (await live.tally(closed)).votes == (0, 2, 1)
        assert "Risk" in results.body
        # the chart comes with them, in the same event: an image whose caption is the results
        assert results.content["msgtype"] == "m.image" and results.content["info"]["mimetype"] == "image/png"
        chart = await w.bob.client.download(mxc=results.content["url"])
        assert isinstance(chart, MemoryDownloadResponse), chart
        assert chart.body.startswith(b"\x89PNG") and len(chart.body) == results.content["info"]["size"]


async def test_an_anonymous_poll_takes_votes_by_dm(tmp_path: Path, synapse: Synapse) -> None:
    async with world(tmp_path, synapse) as w:
        room = await w.group(w.bob, w.carol)
        await go_live(w, room)
        await w.alice.say(room, '!poll "How confident do you feel?" Very Somewhat --anonymous')
        posted = await w.bob.from_bot(w.bot.user_id, room, "How confident", "the anonymous poll")
        assert "1" in posted.body and "Very" in posted.body
        assert not [s for s in w.bob.seen if s.room_id == room and s.type in convert.POLL_START]  # never native: Matrix shows voters
        for person, choice in ((w.bob, 2), (w.carol, 1)):
            dm = await w.direct_chat(person)
            await person.say(dm, f"!vote {choice}")
            confirmed = await person.from_bot(w.bot.user_id, dm, "How confident", "the vote's confirmation")
            assert "is counted" in confirmed.body
        live = w.bot.app.services.store.live
        poll = await live.latest_poll(f"matrix:{room}")
        assert poll is not None and poll.anonymous
        tally = await live.tally(poll)
        assert (tally.voters, tally.votes) == (2, (1, 1))


async def test_a_thumbs_up_on_a_question_upvotes_it(tmp_path: Path, synapse: Synapse) -> None:
    async with world(tmp_path, synapse) as w:
        room = await w.group(w.bob, w.carol)
        await go_live(w, room)
        await w.bob.say(room, "!ask How do we record consent?")
        question = await w.carol.from_bot(w.bot.user_id, room, "How do we record consent?", "the question")
        react = {"m.relates_to": {"rel_type": "m.annotation", "event_id": question.event_id, "key": "👍️"}}
        await w.carol.send(room, "m.reaction", react)
        await w.alice.send(room, "m.reaction", {"m.relates_to": {**react["m.relates_to"], "key": "🎉"}})
        await w.carol.from_bot(w.bot.user_id, room, "1 upvote", "the upvote")
        [asked] = await w.bot.app.services.store.live.questions_of(
            (await w.bot.app.services.store.live.binding_for(f"matrix:{room}")).occurrence_id)  # type: ignore[union-attr]
        assert asked.upvotes == 1


async def test_a_restart_answers_what_came_while_down_and_nothing_twice(tmp_path: Path, synapse: Synapse) -> None:
    async with world(tmp_path, synapse) as w:
        dm = await w.direct_chat(w.carol)
        await w.carol.say(dm, "!timezone Europe/Paris")
        await w.carol.from_bot(w.bot.user_id, dm, "Europe/Paris")
        await w.bot.close()
        await w.carol.say(dm, "/help")  # while the bot is down
        await w.bot.open()
        await w.carol.from_bot(w.bot.user_id, dm, "!subscribe", "the help sent while the bot was down")
        await w.carol.say(dm, "!language cy")
        await w.carol.wait_for(lambda seen: len(bot_messages(seen, w.bot, dm)) >= 3, "the third answer")
        replies = bot_messages(w.carol.seen, w.bot, dm)
        assert len(replies) == 3, [r.body[:40] for r in replies]  # none of the commands answered twice


async def test_a_new_database_answers_nothing_said_before_it_even_straight_after_another(
        tmp_path: Path, synapse: Synapse) -> None:
    """Synapse keeps /sync responses for two minutes: a bot started afresh on the same account
    within them must not take the old position from that cache and answer the history again."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    async with world(first, synapse) as w:
        dm = await w.direct_chat(w.carol)
        await w.carol.say(dm, "!timezone Europe/Paris")
        await w.carol.from_bot(w.bot.user_id, dm, "Europe/Paris")
    async with world(second, synapse) as w:
        await w.carol.say(dm, "!help")
        await w.carol.from_bot(w.bot.user_id, dm, "!subscribe", "the answer to !help")
        # A replayed command would have been answered first: batches are handled in order.
        replies = bot_messages(w.carol.seen, w.bot, dm)
        assert len(replies) == 1, [r.body[:40] for r in replies]


async def test_the_default_rate_limit_is_honoured_and_no_message_is_lost(tmp_path: Path, synapse: Synapse) -> None:
    """SlowBot keeps Synapse's default (0.2 msg/s, burst 10) but declares far more, as an admin
    who forgot to raise ``rc_message`` would: Synapse answers M_LIMIT_EXCEEDED, and the
    dispatcher waits as long as it says, then delivers every reminder once."""
    async with world(tmp_path, synapse, bot="slowbot", real_time=True, matrix_rate=100.0,
                     offsets=(timedelta(minutes=15),)) as w:
        dm = await w.direct_chat(w.alice)
        now = w.bot.clock.now()
        count = 12
        sessions = [make_occurrence(f"Session {n}", now + timedelta(minutes=15, seconds=3), uid=f"s{n}@test")
                    for n in range(count)]
        await store_occurrences(w.bot.app, sessions)
        await w.alice.say(dm, "!subscribe all")
        await w.alice.wait_for(lambda seen: sum(1 for s in bot_messages(seen, w.bot, dm)
                                                if "Session " in s.body) >= count,
                               "every reminder", deadline=120)
        reminders = [s.body for s in bot_messages(w.alice.seen, w.bot, dm) if "Session " in s.body]
        titles = sorted(t for t in (f"Session {n}" for n in range(count)) if any(t + "”" in r or t + "\"" in r
                                                                                for r in reminders))
        assert len(reminders) == count and len(titles) == count  # each once, none lost
        repo = w.bot.app.services.store.reminders

        async def all_recorded() -> bool:
            return len(await repo.find(ReminderStatus.SENT)) == count  # the batch's outcomes are stored at its end

        await eventually(all_recorded, "every reminder recorded as sent")
        assert not await repo.find(ReminderStatus.FAILED)
        assert w.bot.adapter.rate_limited > 0  # Synapse did say wait: the limit was met, not avoided


async def test_an_encrypted_room_is_told_once_in_clear_and_the_organiser_too(tmp_path: Path, synapse: Synapse) -> None:
    async with world(tmp_path, synapse) as w:
        alice_dm = await w.direct_chat(w.alice)
        room = await w.bob.create_room(invite=[w.bot.user_id, w.carol.user_id], encrypted=True, name="Secret")
        notice = await w.bob.from_bot(w.bot.user_id, room, "encrypted", "the notice in the room")
        assert notice.type == "m.room.message"  # clear text, which every member can read
        told = await w.alice.from_bot(w.bot.user_id, alice_dm, room, "the organiser being told")
        assert "Secret" in told.body
        # what people say there arrives encrypted; the bot does not repeat itself
        await w.bob.send(room, "m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgA",
                                                    "sender_key": "x", "session_id": "y", "device_id": "Z"})
        await w.bob.say(room, "!help")
        await w.bob.from_bot(w.bot.user_id, room, "!subscribe", "the answer to a clear !help")
        assert len([s for s in bot_messages(w.bob.seen, w.bot, room) if "encrypted" in s.body]) == 1
