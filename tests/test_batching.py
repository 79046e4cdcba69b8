"""Group commit and coalesced reads: results reach the right callers, failures stay isolated."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.models import Poll, UserSettings
from bot.store.batching import BatchLoader, WriteBatcher
from bot.store.sql import SqlStore
from tests.harness import Harness


async def test_batch_loader_coalesces_and_answers_each_caller() -> None:
    calls: list[list[int]] = []

    async def load(keys: list[int]) -> dict[int, int]:
        calls.append(sorted(keys))
        await asyncio.sleep(0)
        return {k: k * 10 for k in keys if k != 13}

    loader: BatchLoader[int, int] = BatchLoader(load)
    results = await asyncio.gather(*(loader.load(k) for k in (1, 2, 2, 3)))
    assert results == [10, 20, 20, 30]
    assert calls == [[1, 2, 3]]
    with pytest.raises(KeyError):
        await loader.load(13)


async def test_write_batcher_isolates_a_bad_item() -> None:
    written: list[list[int]] = []

    async def write(items: list[int]) -> None:
        if -1 in items:
            raise ValueError("bad item")
        written.append(items)

    batcher: WriteBatcher[int] = WriteBatcher(write)
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in (1, -1, 2)), return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None and isinstance(outcomes[1], ValueError)
    assert sorted(i for batch in written for i in batch) == [1, 2]


@pytest.mark.parametrize("returning", [True, False], ids=["update-returning", "without-returning"])
async def test_ballots_in_one_batch_apply_in_order(backend: Path | str, returning: bool) -> None:
    store = await SqlStore.open(backend, FakeClock())
    # A database without UPDATE … RETURNING takes the polls' locks and reads them in two statements.
    store.engine.dialect.update_returning = returning
    try:
        live = store.live
        poll = await live.create_poll(Poll(0, "ev", "fake:room", "Q", ("a", "b", "c"), multi=True))
        results = await asyncio.gather(
            live.set_votes(poll, "u1", [0]), live.toggle_vote(poll, "u1", 1), live.toggle_vote(poll, "u1", 0),
            live.set_votes(poll, "u2", [2]), live.set_votes(poll, "u2", []))
        assert results == [True, True, False, True, True]
        assert await live.choices_of(poll, "u1") == [1]
        assert await live.choices_of(poll, "u2") == []
        await live.close_poll(poll.id, FakeClock().now())
        assert await live.set_votes(poll, "u3", [0]) is False
        assert await live.toggle_vote(poll, "u3", 0) is None
    finally:
        await store.close()


async def test_settings_saved_together_are_all_kept(backend: Path | str) -> None:
    store = await SqlStore.open(backend, FakeClock())
    try:
        people = store.people
        await people.save_settings(UserSettings("fake:old", display_name="Old"))
        await asyncio.gather(*(people.save_settings(UserSettings(f"fake:{i}", display_name=f"P{i}"))
                               for i in range(50)),
                             people.save_settings(UserSettings("fake:old", display_name="New", timezone="UTC")))
        assert (await people.get_settings("fake:7")).display_name == "P7"
        old = await people.get_settings("fake:old")
        assert (old.display_name, old.timezone) == ("New", "UTC")
    finally:
        await store.close()


async def test_a_crowd_asking_for_a_snapshot_at_once_reads_it_once() -> None:
    # A vote storm's first messages all ask for the facilitator grants before any load is done.
    from bot.store.people import Snapshot

    loads = 0

    async def load() -> list[str]:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0)
        return ["grant"]

    snapshot: Snapshot[list[str]] = Snapshot(load)
    assert await asyncio.gather(*(snapshot.get() for _ in range(200))) == [["grant"]] * 200
    assert loads == 1
    snapshot.changed()
    assert await snapshot.get() == ["grant"] and loads == 2


async def test_a_crowd_of_newcomers_setting_preferences_keeps_names_and_preferences(harness: Harness) -> None:
    """Each newcomer's first message stores their name, and the handler then saves a
    preference (/timezone, /language): neither is lost, whatever batches they land in."""
    zones = ["Europe/London", "Europe/Paris", "America/Toronto", "Asia/Kolkata"]
    await asyncio.gather(*(harness.say(f"new{i}", f"/timezone {zones[i % 4]}" if i % 2 else "/language cy")
                           for i in range(40)))
    assert len(harness.adapter.sent) == 40 and not [t for t in harness.adapter.texts() if "went wrong" in t]
    settings = await harness.app.store.people.get_many_settings([f"fake:new{i}" for i in range(40)])
    for i in range(40):
        s = settings[f"fake:new{i}"]
        assert s.display_name == harness.adapter.user(f"new{i}").name
        assert (s.timezone, s.language) == ((zones[i % 4], None) if i % 2 else (None, "cy"))


async def test_a_name_that_cannot_be_stored_does_not_cost_the_answer(harness: Harness,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    async def refuse(settings: UserSettings) -> None:
        raise RuntimeError("the disk is full")

    harness.app.store.people.save_settings = refuse  # type: ignore[method-assign]
    [reply] = await harness.say("newcomer", "/help")
    assert "/events" in reply
    assert "could not store the name of fake:newcomer" in caplog.text
