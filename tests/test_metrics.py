"""/metrics: what the bot counts, read from the exposition text as Prometheus would, while the
bot is driven through the fake adapter on the fake clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.errors import DeliveryFailed, FeedError, RateLimited
from bot.metrics import Metrics
from tests.harness import START, Harness, make_occurrence
from tests.live.conftest import go_live


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """The value of one sample (0 when it has not appeared yet)."""
    text = metrics.render().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


async def test_reminders_planned_sent_failed_and_late(tmp_path: Path) -> None:
    session = make_occurrence("Ethics in practice", START + timedelta(hours=2))
    async with Harness.open(tmp_path, offsets=(timedelta(minutes=30),)) as h:
        m = h.app.services.metrics
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        await h.say("bob", "/subscribe all")
        await h.say("carol", "/subscribe all", chat=h.adapter.dm("carol"))
        assert sample(m, "eventbot_reminders_planned_total") == 3
        h.adapter.unreachable.add("fake:carol")  # blocked the bot, and has no shared chat to fall back on
        h.adapter.fail_next(DeliveryFailed("platform hiccup", transient=True))  # one is retried, late
        await h.advance(timedelta(hours=2))
        assert sample(m, "eventbot_reminders_sent_total", platform="fake") == 2
        assert sample(m, "eventbot_reminders_failed_total", platform="fake") == 1
        assert sample(m, "eventbot_reminder_lateness_seconds_count", platform="fake") == 2
        # One was on time, the retried one late by its backoff (7.5 to 15 s).
        assert sample(m, "eventbot_reminder_lateness_seconds_bucket", platform="fake", le="1.0") == 1
        assert 5 <= sample(m, "eventbot_reminder_lateness_seconds_sum", platform="fake") <= 16


async def test_429s_are_counted_per_platform(tmp_path: Path) -> None:
    session = make_occurrence("Storm", START + timedelta(hours=1))
    async with Harness.open(tmp_path, offsets=(timedelta(minutes=30),)) as h:
        await h.add_occurrences(session)
        await h.say("alice", "/subscribe all")
        h.adapter.fail_next(RateLimited(2.0), RateLimited(2.0))
        await h.advance(timedelta(minutes=45))
        m = h.app.services.metrics
        assert sample(m, "eventbot_rate_limited_total", platform="fake") == 2
        assert sample(m, "eventbot_reminders_sent_total", platform="fake") == 1


async def test_votes_and_command_latency(tmp_path: Path) -> None:
    async with Harness.open(tmp_path) as h:
        await go_live(h)
        await h.say("fac", '/poll "Tea or coffee?" Tea Coffee')
        await h.say("alice", "/vote 1")
        await h.say("bob", "/vote 2")
        await h.say("bob", "/vote 1")  # a change counts as a vote cast
        await h.say("carol", "/vote 9")  # refused: not counted
        m = h.app.services.metrics
        assert sample(m, "eventbot_votes_total", platform="fake") == 3
        assert sample(m, "eventbot_command_seconds_count", command="vote") == 4
        assert sample(m, "eventbot_command_seconds_count", command="poll") == 1
        # What was typed never becomes a label: an unknown command is not timed at all.
        await h.say("alice", "/nonsense-" + "x" * 40)
        assert "nonsense" not in m.render().decode()


async def test_feed_refreshes_and_errors(tmp_path: Path) -> None:
    feed = tmp_path / "sww.ics"
    feed.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:a@t\r\n"
                    "DTSTAMP:20250101T000000Z\r\nDTSTART:20250318T100000Z\r\nDTEND:20250318T110000Z\r\n"
                    "SUMMARY:Keynote\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", encoding="utf-8")
    async with Harness.open(tmp_path) as h:
        calendars = h.app.services.calendars
        assert calendars is not None
        await calendars.sync("sww", str(feed))  # type: ignore[attr-defined]
        with pytest.raises(FeedError):
            await calendars.sync("gone", str(tmp_path / "missing.ics"))  # type: ignore[attr-defined]
        m = h.app.services.metrics
        assert sample(m, "eventbot_feed_refreshes_total") == 2
        assert sample(m, "eventbot_feed_errors_total") == 1


async def test_each_app_counts_for_itself(tmp_path: Path) -> None:
    async with Harness.open(tmp_path / "one") as one, Harness.open(tmp_path / "two") as two:
        await go_live(one)
        await one.say("fac", '/poll "Ready?" Yes No')
        await one.say("alice", "/vote 1")
        assert sample(one.app.services.metrics, "eventbot_votes_total", platform="fake") == 1
        assert sample(two.app.services.metrics, "eventbot_votes_total", platform="fake") == 0
        assert one.app.services.metrics.registry is not two.app.services.metrics.registry
