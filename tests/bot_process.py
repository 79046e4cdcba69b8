"""The real bot as a separate process, for crash tests and the kill benchmark.

``python -m bot run`` runs the fake adapter in its file mode: every delivery is appended to a
JSON-lines file and fsynced before ``send`` returns, so the file is what the "platform"
received, whatever happens to the process. Killing it with SIGKILL is then a crash as an
operator would see one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from bot.clock import SystemClock
from bot.models import Subscription, SubscriptionScope
from bot.store.schema import reminders
from bot.store.sql import SqlStore
from tests.harness import make_occurrence, store_occurrences

REPO = Path(__file__).resolve().parents[1]


class _StoreApp:
    """Just enough of ``App`` for ``store_occurrences``."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.services = type("S", (), {"clock": store.clock})()


async def prepare(db: Path, *, title: str, start: datetime, subscribers: int) -> None:
    """One session starting at ``start``, followed by ``fake:user0`` … ``fake:user{n-1}``."""
    store = await SqlStore.open(db, SystemClock())
    try:
        await store_occurrences(_StoreApp(store), [make_occurrence(title, start)])  # type: ignore[arg-type]
        for i in range(subscribers):
            await store.people.subscribe(Subscription(f"fake:user{i}", SubscriptionScope.ALL))
    finally:
        await store.close()


async def claimed(db: Path) -> set[str]:
    """Who has a reminder claimed (being sent) right now: after a kill, the batch in flight."""
    store = await SqlStore.open(db, SystemClock())
    try:
        async with store.engine.connect() as conn:
            rows = await conn.execute(sa.select(reminders.c.user_id).where(reminders.c.status == "sending"))
            return {row[0] for row in rows}
    finally:
        await store.close()


def deliveries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    # Another process may be writing the last line right now: only whole lines count.
    text = path.read_bytes()
    whole = text[:text.rfind(b"\n") + 1].decode("utf-8")
    return [json.loads(line) for line in whole.splitlines() if line.strip()]


def wait_for(path: Path, people: int, deadline: float) -> list[dict[str, Any]]:
    """Deliveries once ``people`` distinct people have had one, or at the (monotonic) deadline."""
    while True:
        found = deliveries(path)
        if len({d["to"] for d in found}) >= people or time.monotonic() > deadline:
            return found
        time.sleep(0.02)  # polling a file another process writes; the deadline bounds it


@dataclass
class BotProcess:
    """``python -m bot run`` on the fake adapter in a scratch directory."""

    root: Path
    settings: dict[str, Any] = field(default_factory=dict)
    fake_rate: float = 60.0
    fake_send_delay: float = 0.002
    _process: subprocess.Popen[bytes] | None = None
    _log: IO[str] | None = None

    @property
    def db(self) -> Path:
        return self.root / "bot.db"

    @property
    def out(self) -> Path:
        return self.root / "deliveries.jsonl"

    def __post_init__(self) -> None:
        site = self.root / "site"
        # The process finds adapters through entry points; declare the fake one for it.
        dist = site / "eventbot_killtest-0.dist-info"
        dist.mkdir(parents=True, exist_ok=True)
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: eventbot-killtest\nVersion: 0\n")
        (dist / "entry_points.txt").write_text("[eventbot.adapters]\nfake = adapters.fake:FakeAdapter\n")
        lines = ['adapters = ["fake"]'] + [f"{k} = {json.dumps(v)}" for k, v in self.settings.items()]
        lines += ["[extra]", f"fake_deliveries = {json.dumps(str(self.out))}",
                  f"fake_send_delay = {self.fake_send_delay}", f"fake_rate = {self.fake_rate}"]
        (self.root / "bot.toml").write_text("\n".join(lines) + "\n")
        self._env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}

    def start(self, name: str) -> datetime:
        """Start the bot (logging to ``name``.log); return when it was started."""
        self._log = (self.root / f"{name}.log").open("w")
        command = [sys.executable, "-m", "bot", "--db", str(self.db), "--config", str(self.root / "bot.toml"),
                   "-v", "run"]
        started = datetime.now(UTC)
        self._process = subprocess.Popen(command, cwd=REPO, env=self._env, stdout=self._log,
                                         stderr=subprocess.STDOUT)
        return started

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass(frozen=True)
class KillFigures:
    """What the platform received across a SIGKILL and a restart."""

    before_kill: int
    in_flight: int
    """Reminders claimed by the killed process (its batch in flight)."""
    lost: int
    duplicates: int
    recovery_s: float | None
    """From the restart to the first reminder of the batch in flight sent again."""
    first_after_restart_s: float | None
    late_after_start: int
    """Reminders that arrived after their session had started (or never)."""
    lateness_p50_s: float | None
    lateness_max_s: float | None
    """After the due instant."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def kill_figures(delivered: list[dict[str, Any]], *, before_kill: int, in_flight: set[str], restarted: datetime,
                 due: datetime, people: int) -> KillFigures:
    sent = [d for d in delivered if d["kind"] == "reminder"]
    per_person = Counter(d["to"] for d in sent)
    after = sent[before_kill:]
    resent = [datetime.fromisoformat(d["at"]) for d in after if d["to"] in in_flight]
    first: dict[str, dict[str, Any]] = {}
    for d in sent:
        first.setdefault(d["to"], d)
    late = sum(1 for d in first.values() if datetime.fromisoformat(d["at"]) >= datetime.fromisoformat(d["starts_at"]))
    lateness = sorted((datetime.fromisoformat(d["at"]) - due).total_seconds() for d in first.values())
    return KillFigures(
        before_kill=before_kill, in_flight=len(in_flight), lost=people - len(per_person),
        duplicates=sum(n - 1 for n in per_person.values()),
        recovery_s=round((min(resent) - restarted).total_seconds(), 3) if resent else None,
        first_after_restart_s=(round((datetime.fromisoformat(after[0]["at"]) - restarted).total_seconds(), 3)
                               if after else None),
        late_after_start=late + people - len(per_person),
        lateness_p50_s=round(lateness[len(lateness) // 2], 3) if lateness else None,
        lateness_max_s=round(lateness[-1], 3) if lateness else None)
