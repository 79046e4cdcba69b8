"""SIGKILL the real bot mid-fan-out, start it again at once, and check that every reminder
arrives before its session starts, with duplicates confined to the batch that was in flight.

The lease is left at its default (two minutes) and the session starts well within it: the
batch the killed process had claimed must come back because its worker is gone, not because
its lease ran out.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.bot_process import BotProcess, claimed, kill_figures, prepare, wait_for

SUBSCRIBERS = 300
BATCH = 20
KILL_AT = 70
"""Mid-batch: the fourth batch is claimed and partly sent."""
START_IN = timedelta(seconds=40)
"""Far enough ahead for two start-ups and the sending on a busy machine; well inside the lease."""


@pytest.mark.slow
def test_sigkill_mid_fanout_then_restart_delivers_everything_before_the_start(tmp_path: Path) -> None:
    bot = BotProcess(tmp_path, settings={"offsets": ["1m"], "reminder_batch": BATCH})
    start = datetime.now(UTC).replace(microsecond=0) + START_IN
    asyncio.run(prepare(bot.db, title="Kill test plenary", start=start, subscribers=SUBSCRIBERS))
    deadline = time.monotonic() + (start - datetime.now(UTC)).total_seconds() + 2

    bot.start("first")
    try:
        before = wait_for(bot.out, KILL_AT, deadline)
    finally:
        bot.kill()
    assert 0 < len({d["to"] for d in before}) < SUBSCRIBERS, "the kill did not land mid-fan-out"
    in_flight = asyncio.run(claimed(bot.db))

    restarted = bot.start("second")
    try:
        delivered = wait_for(bot.out, SUBSCRIBERS, deadline)
    finally:
        bot.stop()

    figures = kill_figures(delivered, before_kill=len(before), in_flight=in_flight, restarted=restarted,
                           due=start - timedelta(minutes=1), people=SUBSCRIBERS)
    print(f"kill test (batch {BATCH}): {figures.as_dict()}")
    assert in_flight, "the killed process had nothing claimed"
    assert figures.lost == 0
    assert figures.late_after_start == 0
    assert figures.duplicates <= BATCH
