"""How many anonymous voters, askers and upvoters can someone holding the database link to a
person, before and after the poll and Q&A close?

N people take part in a live session through the fake adapter (anonymous multiple-choice poll,
anonymous questions sent privately, upvotes, some questions asked under a name). A copy of the
database files is taken while everything is open and again after ``/closepoll`` and
``/qa close``; ``tests.deanon.link_identities`` attacks each copy with every participant (and
some bystanders) as candidates.

    python benchmarks/deanonymise.py               # 30 participants
    python benchmarks/deanonymise.py --people 200 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.deanon import link_identities
from tests.harness import Harness, make_occurrence
from tests.live.conftest import SESSION


def backup(h: Harness, to: Path) -> Path:
    to.mkdir()
    for path in (h.config.db, Path(f"{h.config.db}-wal")):
        if path.exists():
            shutil.copy(path, to / path.name)
    return to / h.config.db.name


async def run(people: int) -> dict[str, object]:
    voters = [f"voter{i}" for i in range(people)]
    askers = voters[: max(1, people // 3)]
    named = [f"named{i}" for i in range(max(1, people // 10))]
    candidates = [f"fake:{p}" for p in [*voters, *named, "fac", "org", *(f"bystander{i}" for i in range(10))]]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with Harness.open(root) as h:
            await h.add_occurrences(make_occurrence(SESSION.title, SESSION.start, 90, id=SESSION.id))
            await h.say("org", f"/facilitator add fake:fac {SESSION.id}")
            await h.say("fac", f"/live {SESSION.id}")
            await h.say("fac", '/poll "Enough supervision?" "Yes" "No" "Unsure" --anonymous --multi')
            for i, voter in enumerate(voters):
                await h.say(voter, f"/vote {1 + i % 3}", chat=h.adapter.dm(voter))
            for asker in askers:
                await h.say(asker, f"/ask --anonymous Something {asker} would not ask aloud?",
                            chat=h.adapter.dm(asker))
            for person in named:
                await h.say(person, f"/ask A question from {person}")
            for i, voter in enumerate(voters):
                await h.say(voter, f"/upvote {1 + i % len(askers)}", chat=h.adapter.dm(voter))
            before = link_identities(backup(h, root / "open"), candidates)
            await h.say("fac", "/closepoll")
            await h.say("fac", "/qa close")
            after = link_identities(backup(h, root / "closed"), candidates)
    return {"people": people, "candidates": len(candidates),
            "open": {**asdict(before), "linked": before.linked, "total": before.total},
            "closed": {**asdict(after), "linked": after.linked, "total": after.total}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.people))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['people']} participants, {result['candidates']} candidate ids")
    for moment in ("open", "closed"):
        r: dict[str, object] = result[moment]  # type: ignore[assignment]
        print(f"  {moment:>6}: linked {r['linked']} of {r['total']} anonymous acts "
              f"(voters {r['voters']}, askers {r['askers']}, upvotes {r['upvoters']})")


if __name__ == "__main__":
    main()
