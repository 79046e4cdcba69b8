"""An attacker holding a copy of the database: who voted, asked and upvoted anonymously?

``link_identities(db_path, candidates)`` is what someone with the SQLite file (or a backup of
it, with its ``-wal`` beside it) and a list of people who might have taken part can do:

- every 64-hex-digit string anywhere in the files' bytes, live rows, free pages or WAL frames
  alike, is tried as a salt: ``HMAC(salt, "poll<id>:<user>")`` and ``HMAC(salt, "qa<session>:<user>")``
  for every candidate, poll and session, as the bot keys people;
- a key stored beside a name is a key that names: an anonymous question or upvote whose key
  equals the key of a question asked under a name is linked to that name.

It reports, for anonymous ballots, anonymous askers and upvotes, how many there are and how
many it linked to a person. ``python -m tests.deanon DB USER_ID…`` prints the same as JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

_HEX64 = re.compile(rb"[0-9a-f]{64}")


@dataclass(frozen=True)
class Linked:
    """``(linked, total)`` per kind of anonymous act."""

    voters: tuple[int, int]
    askers: tuple[int, int]
    upvoters: tuple[int, int]

    @property
    def linked(self) -> int:
        return self.voters[0] + self.askers[0] + self.upvoters[0]

    @property
    def total(self) -> int:
        return self.voters[1] + self.askers[1] + self.upvoters[1]


def _files(db_path: Path) -> list[Path]:
    return [p for p in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-journal")) if p.exists()]


def _salts(db_path: Path) -> set[str]:
    found: set[str] = set()
    for path in _files(db_path):
        found |= {m.decode() for m in _HEX64.findall(path.read_bytes())}
    return found


def _key(salt: str, scope: str, user_id: str) -> str:
    return hmac.new(bytes.fromhex(salt), f"{scope}:{user_id}".encode(), hashlib.sha256).hexdigest()


def link_identities(db_path: Path | str, candidates: Sequence[str]) -> Linked:
    """Try to link every anonymous ballot, question and upvote in ``db_path`` to a candidate."""
    db_path = Path(db_path)
    salts = _salts(db_path)
    with tempfile.TemporaryDirectory() as tmp:  # read a copy: opening the original could checkpoint it
        copy = Path(tmp) / db_path.name
        for path in _files(db_path):
            shutil.copy(path, Path(tmp) / path.name)
        with sqlite3.connect(copy) as conn:
            ballots = conn.execute("SELECT DISTINCT v.poll_id, v.voter FROM poll_votes v "
                                   "JOIN polls p ON p.id = v.poll_id WHERE p.anonymous").fetchall()
            asked = conn.execute("SELECT occurrence_id, author_key, author_id FROM questions").fetchall()
            upvotes = conn.execute("SELECT q.occurrence_id, u.voter_key FROM question_upvotes u "
                                   "JOIN questions q ON q.id = u.question_id").fetchall()
    sessions = {occurrence for occurrence, _key_, _author in asked}
    poll_ids = {poll_id for poll_id, _voter in ballots}
    table: dict[str, str] = {}  # stored key -> person
    for salt in salts:
        for user in candidates:
            for poll_id in poll_ids:
                table[_key(salt, f"poll{poll_id}", user)] = user
            for occurrence in sessions:
                table[_key(salt, f"qa{occurrence}", user)] = user
    for _occurrence, key, author in asked:
        if author and key:
            table.setdefault(key, author)  # a named question's key names whoever shares it

    anonymous_askers = [key for _o, key, author in asked if not author]
    return Linked(
        voters=(sum(voter in table for _p, voter in ballots), len(ballots)),
        askers=(sum(key in table for key in anonymous_askers), len(anonymous_askers)),
        upvoters=(sum(key in table for _o, key in upvotes), len(upvotes)),
    )


if __name__ == "__main__":
    result = link_identities(sys.argv[1], sys.argv[2:])
    print(json.dumps({**asdict(result), "linked": result.linked, "total": result.total}))
