"""What the bot counts, for Prometheus (``/metrics``).

Each app builds its own ``Metrics`` (one ``CollectorRegistry``, never the library's global
one), so two apps in one process, or two tests, never share a count. The composition root
hands it to whoever counts, through ``Services.metrics``.

Labels are bounded: platform names (the adapters), command names (the router's), and
nothing typed by a person.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENESS_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, float("inf"))
"""Seconds a reminder arrived after it was due: on time, a fan-out's tail, an outage."""
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf"))


class Metrics:
    """The collectors, on one registry; ``render()`` is the exposition text."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.reminders_planned = Counter(
            "eventbot_reminders_planned", "Reminders added to the outbox.", registry=registry)
        self.reminders_sent = Counter(
            "eventbot_reminders_sent", "Reminders and change notices delivered.", ["platform"], registry=registry)
        self.reminders_failed = Counter(
            "eventbot_reminders_failed", "Reminders and change notices given up on (unreachable, refused, "
            "out of attempts).", ["platform"], registry=registry)
        self.reminder_lateness = Histogram(
            "eventbot_reminder_lateness_seconds", "Delivery time minus due time of each reminder sent "
            "(0 when early or on time).", ["platform"], buckets=LATENESS_BUCKETS, registry=registry)
        self.rate_limited = Counter(
            "eventbot_rate_limited", "Sends a platform refused with a rate limit (HTTP 429).", ["platform"],
            registry=registry)
        self.feed_refreshes = Counter(
            "eventbot_feed_refreshes", "Calendar imports and refreshes attempted.", registry=registry)
        self.feed_errors = Counter(
            "eventbot_feed_errors", "Calendar imports and refreshes that failed.", registry=registry)
        self.command_seconds = Histogram(
            "eventbot_command_seconds", "Time to handle a command or button press, reply included.", ["command"],
            buckets=LATENCY_BUCKETS, registry=registry)
        self.votes = Counter(
            "eventbot_votes", "Votes cast or changed in polls (commands, buttons, native polls).", ["platform"],
            registry=registry)

    def render(self) -> bytes:
        """The Prometheus text exposition of every collector (serve with ``content_type``)."""
        return generate_latest(self.registry)
