"""SIGKILL the real bot mid-fan-out, start it again, and check that every reminder arrives,
with duplicates confined to the batch that was in flight.

The real process (``python -m bot run``) runs the fake adapter in its file mode: every
delivery is appended to a JSON-lines file and fsynced before ``send`` returns, so the file
is what the "platform" received, whatever happens to the process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.models import Subscription, SubscriptionScope
from bot.store.sql import SqlStore
from tests.conftest import REPO
from tests.harness import make_occurrence, store_occurrences

SUBSCRIBERS = 300
BATCH = 20


class _StoreApp:
    """Just enough of ``App`` for ``store_occurrences``."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.services = type("S", (), {"clock": store.clock})()


async def _prepare(db: Path) -> None:
    store = await SqlStore.open(db, SystemClock())
    try:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
        await store_occurrences(_StoreApp(store), [make_occurrence("Kill test plenary", start)])  # type: ignore[arg-type]
        for i in range(SUBSCRIBERS):
            await store.people.subscribe(Subscription(f"fake:user{i}", SubscriptionScope.ALL))
    finally:
        await store.close()


def _entry_points(site: Path) -> None:
    # The process finds adapters through entry points; declare the fake one for it.
    dist = site / "eventbot_killtest-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: eventbot-killtest\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[eventbot.adapters]\nfake = adapters.fake:FakeAdapter\n")


def _deliveries(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _wait_for(path: Path, count: int, deadline: float) -> list[dict[str, str]]:
    while True:
        found = _deliveries(path)
        if len({d["to"] for d in found}) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)  # polling a file another process writes; the deadline bounds it


@pytest.mark.slow
def test_sigkill_mid_fanout_then_restart_delivers_everything(tmp_path: Path) -> None:
    db, out, site = tmp_path / "bot.db", tmp_path / "deliveries.jsonl", tmp_path / "site"
    asyncio.run(_prepare(db))
    _entry_points(site)
    config = tmp_path / "bot.toml"
    config.write_text(
        'adapters = ["fake"]\noffsets = ["15m"]\n'
        f"reminder_batch = {BATCH}\nreminder_lease_seconds = 2\n"
        f'[extra]\nfake_deliveries = "{out}"\nfake_send_delay = 0.002\nfake_rate = 60\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    command = [sys.executable, "-m", "bot", "--db", str(db), "--config", str(config), "-v", "run"]
    deadline = time.monotonic() + 25

    with (tmp_path / "first.log").open("w") as log:
        first = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            before = _wait_for(out, 60, deadline)
            first.send_signal(signal.SIGKILL)
        finally:
            first.kill()
            first.wait()
    killed_at = len(before)
    assert 0 < len({d["to"] for d in before}) < SUBSCRIBERS, "the kill did not land mid-fan-out"

    with (tmp_path / "second.log").open("w") as log:
        second = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            delivered = _wait_for(out, SUBSCRIBERS, deadline)
        finally:
            second.terminate()
            second.wait()

    reminders = [d for d in delivered if d["kind"] == "reminder"]
    per_person = Counter(d["to"] for d in reminders)
    duplicates = sum(n - 1 for n in per_person.values())
    print(f"kill test: {killed_at} delivered before SIGKILL, {len(reminders)} in all, "
          f"{len(per_person)} people, {duplicates} duplicates (batch {BATCH})")
    assert set(per_person) == {f"fake:user{i}" for i in range(SUBSCRIBERS)}
    assert duplicates <= BATCH
