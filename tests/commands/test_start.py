"""/start: the greeting, and the deep-link payload ``sub_ID`` that subscribes in one tap."""

from __future__ import annotations

from datetime import timedelta

from bot.models import ChatKind, ChatRef, SubscriptionScope
from tests.harness import START, Harness, make_occurrence


def dm(name: str) -> ChatRef:
    return ChatRef(f"fake:dm-{name}", ChatKind.PRIVATE, name)


async def test_start_greets_with_the_help_text(harness: Harness) -> None:
    [reply] = await harness.say("alice", "/start", chat=dm("alice"))
    assert reply.startswith("eventbot keeps you on time")
    assert "/subscribe" in reply


async def test_start_with_a_subscribe_payload_subscribes(harness: Harness) -> None:
    session = make_occurrence("Reflective supervision", START + timedelta(days=2), id="rs1")
    await harness.add_occurrences(session)
    [reply] = await harness.say("alice", "/start sub_rs1", chat=dm("alice"))
    assert reply == "Subscribed to “Reflective supervision”."
    [sub] = await harness.app.store.people.subscriptions_of("fake:alice")
    assert (sub.scope, sub.target) == (SubscriptionScope.OCCURRENCE, "rs1")


async def test_start_payload_for_a_series_and_for_everything(harness: Harness) -> None:
    session = make_occurrence("Court skills", START + timedelta(days=2), series_id="court1")
    await harness.add_occurrences(session)
    assert await harness.say("bob", "/start sub_court1", chat=dm("bob")) == [
        "Subscribed to every session of “Court skills”."]
    assert await harness.say("bob", "/start sub_all", chat=dm("bob")) == ["You will be reminded of every session."]


async def test_start_payload_for_an_unknown_session_says_so(harness: Harness) -> None:
    [reply] = await harness.say("carol", "/start sub_nope", chat=dm("carol"))
    assert "No session matches “nope”" in reply
    assert await harness.app.store.people.subscriptions_of("fake:carol") == []


async def test_other_start_payloads_just_greet(harness: Harness) -> None:
    [reply] = await harness.say("dan", "/start hello", chat=dm("dan"))
    assert reply.startswith("eventbot keeps you on time")
