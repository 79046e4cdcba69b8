"""One attendee across platforms: /link, /link CODE, /link keep, /unlink.

Alice follows the programme from the console and from a second platform (the fake adapter);
each is a fake adapter on one clock and one database, so everything she sees is what the bot
sent. Bob and Mallory try codes that are not theirs.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.fake import FakeAdapter
from bot.models import ReminderStatus
from bot.ports import Capability
from tests.harness import START, Harness, make_occurrence
from tests.live.test_certificates import pdf_text

SESSION = make_occurrence("Safeguarding adults", START + timedelta(days=2), 60, id="ev1", cpd_hours=1.5)
LATER = make_occurrence("Mental Capacity Act refresher", START + timedelta(days=2, hours=3), 60, id="ev2",
                        cpd_hours=2.0)
CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    console = FakeAdapter(name="console")
    files = FakeAdapter(capabilities=FakeAdapter.capabilities | {Capability.FILES})
    async with Harness.open(tmp_path, adapter=files, others=[console], offsets=(timedelta(minutes=15),)) as harness:
        await harness.add_occurrences(SESSION, LATER)
        yield harness


def console(h: Harness) -> FakeAdapter:
    return h.others[0]


async def dm(adapter: FakeAdapter, user: str, text: str) -> list[str]:
    return await adapter.say(user, text, chat=adapter.dm(user))


async def code_for(adapter: FakeAdapter, user: str) -> str:
    reply = await dm(adapter, user, "/link")
    found = CODE.search(reply[0])
    assert found, reply
    return found.group(1)


async def link_alice(h: Harness) -> list[str]:
    code = await code_for(console(h), "alice")
    return await dm(h.adapter, "alice", f"/link {code}")


def reminders(adapter: FakeAdapter) -> list[str]:
    return [m.text for m in adapter.sent if m.kind == "reminder"]


async def test_linked_attendee_is_reminded_once_where_she_chose(h: Harness) -> None:
    await dm(console(h), "alice", "/subscribe all")
    await dm(h.adapter, "alice", f"/subscribe {SESSION.id}")
    pending = await h.app.store.reminders.find(ReminderStatus.PENDING)
    assert sorted(r.user_id for r in pending) == ["console:alice", "console:alice", "fake:alice"]

    reply = await link_alice(h)
    assert reply[0].startswith("Linked: your Console, Fake accounts are now one attendee")
    assert "You are reminded once, by private message on Console." in reply[0]
    assert "To get reminders here instead, send /delivery dm here." in reply[0]
    assert console(h).texts(console(h).to("alice"))[-1].startswith("Your Fake account alice is now linked")
    # The duplicate that was already pending for the other platform is gone.
    pending = await h.app.store.reminders.find(ReminderStatus.PENDING)
    assert sorted((r.user_id, r.occurrence_id) for r in pending) == [("console:alice", "ev1"), ("console:alice", "ev2")]

    await h.advance(SESSION.start - START - timedelta(minutes=14))
    assert len(reminders(console(h))) == 1 and reminders(h.adapter) == []

    # She moves her reminders to the other platform: the next one comes there, once.
    assert await dm(h.adapter, "alice", "/delivery dm") == ["Your reminders will come by private message."]
    await h.advance(timedelta(hours=3))
    assert len(reminders(console(h))) == 1 and len(reminders(h.adapter)) == 1
    assert "Mental Capacity Act refresher" in reminders(h.adapter)[0]


async def test_cpd_record_and_certificate_are_one_persons(h: Harness) -> None:
    await link_alice(h)
    await h.advance(SESSION.start - START)
    await console(h).say("you", f"/live {SESSION.id}")
    assert (await console(h).say("alice", "/checkin"))[0].startswith("✅ alice, you are checked in")
    # The same session from her other account: already in.
    await h.say("org", f"/live {SESSION.id}")
    assert await h.say("alice", "/checkin") == ["You are already checked in to “Safeguarding adults”."]
    await h.advance(LATER.start - SESSION.start)
    await h.say("org", f"/live {LATER.id}")
    assert (await h.say("alice", "/checkin"))[0].startswith("✅")

    for adapter in (console(h), h.adapter):
        record = (await dm(adapter, "alice", "/mycpd"))[0]
        assert "Safeguarding adults" in record and "Mental Capacity Act refresher" in record
        assert "3.5" in record, record
    await h.say("org", f"/attendance {SESSION.id}")
    listing = h.adapter.texts(h.adapter.to("org"))[-1]
    assert listing.splitlines()[0] == "1 person checked in to “Safeguarding adults”:"
    # A certificate for the session checked in from the console, asked for on the other platform.
    await dm(h.adapter, "alice", f"/certificate {SESSION.id}")
    sent = h.adapter.to("alice")[-1]
    assert sent.attachment is not None and sent.attachment.mime_type == "application/pdf"
    assert "Safeguarding adults" in pdf_text(sent.attachment.content)


async def test_a_code_works_once(h: Harness) -> None:
    code = await code_for(console(h), "alice")
    assert (await dm(h.adapter, "alice", f"/link {code.lower()}"))[0].startswith("Linked:")
    assert await dm(h.adapter, "carol", f"/link {code}") == [
        "That code is not right, or it has expired or been used. Tries left before /link is locked for "
        "10 minutes: 2."]


async def test_a_code_joins_only_its_issuer(h: Harness) -> None:
    code = await code_for(console(h), "alice")
    # Bob is on the issuer's own platform: the code is not his to use, and it counts against him.
    assert await dm(console(h), "bob", f"/link {code}") == [
        "That code is not for this account: send it from your account on another platform. Tries left before "
        "/link is locked for 10 minutes: 2."]
    assert await dm(console(h), "alice", f"/link {code}") == [
        "That is this account's own code: send it from your account on another platform."]
    assert (await dm(h.adapter, "alice", f"/link {code}"))[0].startswith("Linked:")
    assert await dm(h.adapter, "alice", "/link " + await code_for(console(h), "alice")) == [
        "These accounts are already linked."]


async def test_an_expired_code_is_refused(h: Harness) -> None:
    code = await code_for(console(h), "alice")
    await h.advance(timedelta(minutes=10, seconds=1))
    assert (await dm(h.adapter, "alice", f"/link {code}"))[0].startswith("That code is not right")


async def test_three_wrong_codes_lock_link_even_across_a_restart(h: Harness) -> None:
    code = await code_for(console(h), "alice")
    await dm(h.adapter, "mallory", "/link AAAA-AAAA")
    await dm(h.adapter, "mallory", "/link BBBB-BBBB")
    assert await dm(h.adapter, "mallory", "/link CCCC-CCCC") == [
        "Too many wrong codes: /link is locked for this account until 08:10."]
    await h.restart()
    assert await dm(h.adapter, "mallory", f"/link {code}") == [
        "Too many wrong codes: /link is locked for this account until 08:10."]
    assert await dm(h.adapter, "mallory", "/link") == [
        "Too many wrong codes: /link is locked for this account until 08:10."]
    await h.advance(timedelta(minutes=10))
    # Unlocked; the code, never used, still joins only a new platform's account to Alice.
    assert (await dm(h.adapter, "mallory", "/link"))[0].startswith("Your link code is")


async def test_settings_that_differ_are_asked_about_and_the_choice_kept(h: Harness) -> None:
    await dm(console(h), "alice", "/timezone Europe/Paris")
    await dm(console(h), "alice", "/remind 1h")
    await dm(h.adapter, "alice", "/timezone America/New_York")
    await dm(h.adapter, "alice", "/quiet 22:00-07:00")
    await dm(h.adapter, "alice", "/remind 1h")
    reply = await link_alice(h)
    lines = reply[0].splitlines()
    assert "Your accounts had different settings. Until you choose, the Console ones stand:" in lines
    assert "• time zone: Europe/Paris on Console, America/New_York on Fake" in lines
    assert "Which should I keep? Answer /link keep console or /link keep fake." in lines
    assert not any("reminder times" in line for line in lines)  # the same on both
    buttons = h.adapter.sent[-2].buttons if h.adapter.sent[-1].user else h.adapter.sent[-1].buttons
    assert [b.action for row in buttons for b in row] == ["link:keep:console", "link:keep:fake"]
    # Until she answers, the console's zone stands; the quiet hours only one side chose apply.
    mine = (await dm(h.adapter, "alice", "/mine"))[0]
    assert "Europe/Paris" in mine and "22:00–07:00" in mine

    assert await dm(console(h), "alice", "/link keep discord") == [
        "None of your linked accounts is on discord. Choose one of: console, fake."]
    await h.restart()  # the question outlives a restart
    assert (await h.press("alice", "link:keep:fake", chat=h.adapter.dm("alice")))[0].startswith(
        "Kept the settings of your Fake account. You are reminded by private message on Fake")
    mine = (await dm(console(h), "alice", "/mine"))[0]
    assert "America/New_York" in mine and "22:00–07:00" in mine
    assert await dm(console(h), "alice", "/link keep console") == [
        "There is no choice of settings waiting: your accounts share one set already."]


async def test_unlink_splits_and_each_side_keeps_its_own(h: Harness) -> None:
    await dm(console(h), "alice", f"/subscribe {SESSION.id}")
    await link_alice(h)
    await dm(h.adapter, "alice", f"/subscribe {LATER.id}")
    await dm(h.adapter, "alice", "/timezone Asia/Tokyo")
    assert "Safeguarding adults" in (await dm(h.adapter, "alice", "/mine"))[0]

    reply = await dm(h.adapter, "alice", "/unlink")
    assert reply == ["Unlinked: this Fake account is an attendee of its own again. It keeps the subscriptions and "
                     "check-ins made from it and a copy of your settings, and its reminders come here. Your Console "
                     "account keeps what was made from it."]
    assert console(h).texts(console(h).to("alice"))[-1] == "Your Fake account alice is no longer linked to this one."
    mine = (await dm(h.adapter, "alice", "/mine"))[0]
    assert "Asia/Tokyo" in mine and "Mental Capacity Act" in mine and "Safeguarding" not in mine
    mine = (await dm(console(h), "alice", "/mine"))[0]
    assert "Asia/Tokyo" in mine and "Safeguarding" in mine and "Mental Capacity Act" not in mine
    assert await dm(h.adapter, "alice", "/unlink") == ["This account is not linked to another."]
    # Each is reminded of its own again.
    await h.advance(LATER.start - START)
    assert len(reminders(console(h))) == 1 and len(reminders(h.adapter)) == 1


async def test_links_survive_a_restart(h: Harness) -> None:
    await dm(console(h), "alice", "/subscribe all")
    await dm(h.adapter, "alice", "/subscribe all")
    await link_alice(h)
    await h.restart()
    assert "Linked accounts: Console, Fake" in (await dm(h.adapter, "alice", "/mine"))[0]
    await h.advance(SESSION.start - START)
    assert len(reminders(console(h))) == 1 and reminders(h.adapter) == []


async def test_an_open_anonymous_poll_still_sees_one_ballot(h: Harness) -> None:
    """Anonymous keys are made from the platform account, never the person: a link changes no
    key, so a ballot cast before linking is replaced, not doubled, by one cast after."""
    await h.advance(SESSION.start - START)
    await h.say("org", f"/live {SESSION.id}")
    await h.say("org", '/poll "Ready?" "Yes" "No" --anonymous')
    await h.say("alice", "/vote 1")
    await link_alice(h)
    await h.say("alice", "/vote 2")
    await h.say("org", "/closepoll")
    results = h.adapter.texts(h.adapter.in_chat())[-1]
    assert "1 person voted." in results, results

