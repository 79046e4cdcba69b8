"""Shared set-up for live-session tests: a session on now, a facilitator, a live room."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.fake import FakeAdapter
from bot.models import Delivered, NativePollAnswers, Occurrence, Outgoing
from bot.ports import Capability
from tests.harness import START, Harness, make_occurrence

SESSION = make_occurrence("Safeguarding adults", START, 90, id="ev1", cpd_hours=1.5,
                          facilitator="Dr Megan Rhys")


@dataclass
class NativePollAdapter(FakeAdapter):
    """A fake platform with native polls and images, like Telegram."""

    capabilities: frozenset[Capability] = frozenset({
        Capability.DIRECT_MESSAGES, Capability.BUTTONS, Capability.NATIVE_POLLS, Capability.IMAGES,
        Capability.FILES})
    closed: list[tuple[str, str]] = field(default_factory=list)
    # What the platform holds per native poll (by message id), where a test says so.
    held: dict[str, NativePollAnswers] = field(default_factory=dict)

    async def send(self, message: Outgoing) -> Delivered:
        delivered = await super().send(message)
        if message.poll is not None:
            return Delivered(delivered.message_id, poll_ref=f"native-{message.poll.poll_id}")
        return delivered

    async def end_poll(self, chat_id: str, message_id: str) -> NativePollAnswers | None:
        self.closed.append((chat_id, message_id))
        return self.held.get(message_id)

    async def native_poll_answers(self, chat_id: str, message_id: str) -> NativePollAnswers | None:
        return self.held.get(message_id)


async def go_live(h: Harness, occurrence: Occurrence = SESSION) -> None:
    await h.add_occurrences(occurrence)
    await h.say("org", f"/facilitator add fake:fac {occurrence.id}")
    replies = await h.say("fac", f"/live {occurrence.id}")
    assert any("Now live" in r for r in replies), replies
    h.adapter.clear()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness.open(tmp_path) as h:
        await go_live(h)
        yield h


@pytest.fixture
async def native(tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness.open(tmp_path, adapter=NativePollAdapter()) as h:
        await go_live(h)
        yield h


def last(h: Harness) -> Outgoing:
    return h.adapter.sent[-1]


