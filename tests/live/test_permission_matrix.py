"""Every privileged command, tried by every kind of person, in the room and in private.

The commands come from the router: each one it declares must be listed here, either with the
forms that need rights (and who has them) or as open to everyone, so a new command cannot
slip past the matrix. A person without the right gets a refusal and changes nothing in the
database; a person with it is not refused.

The room is live for ev1. The people: an attendee, a facilitator of another session (ev7),
a facilitator of ev1, and an organiser.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.app import build_router
from bot.models import Role
from bot.store import schema
from tests.harness import Harness, make_occurrence
from tests.live.conftest import SESSION, go_live

ACTORS = ("attendee", "other", "fac", "org")
SESSION_RIGHTS = frozenset({"fac", "org"})  # ev1's facilitators, and organisers
ORGANISERS = frozenset({"org"})
OTHER = make_occurrence("Another session", SESSION.start, 60, id="ev7")


@dataclass(frozen=True)
class Form:
    text: str
    allowed: frozenset[str]


PRIVILEGED: dict[str, tuple[Form, ...]] = {
    "facilitator": (Form("/facilitator add fake:alice ev1", ORGANISERS),
                    Form("/facilitator remove fake:fac ev1", ORGANISERS),
                    Form("/facilitator list", ORGANISERS)),
    "import": (Form("/import http://127.0.0.1:9/feed.ics", ORGANISERS),),
    "calendars": (Form("/calendars", ORGANISERS),),
    # Rebinding the room to another session needs the rights to the one live in it now.
    "live": (Form("/live ev1", SESSION_RIGHTS), Form("/live ev7", ORGANISERS), Form("/live end", SESSION_RIGHTS)),
    "poll": (Form('/poll "Lunch?" "Soup" "Salad"', SESSION_RIGHTS),),
    "closepoll": (Form("/closepoll", SESSION_RIGHTS), Form("/closepoll 1", SESSION_RIGHTS)),
    "answered": (Form("/answered 1", SESSION_RIGHTS),),
    "hide": (Form("/hide 1", SESSION_RIGHTS),),
    "approve": (Form("/approve 1", SESSION_RIGHTS),),
    "qa": (Form("/qa close", SESSION_RIGHTS), Form("/qa open", SESSION_RIGHTS),
           Form("/qa moderate on", SESSION_RIGHTS)),
    "checkin": (Form("/checkin code ABC", SESSION_RIGHTS),),
    "attendance": (Form("/attendance", SESSION_RIGHTS), Form("/attendance ev1", SESSION_RIGHTS)),
    "language": (Form("/language cy --here", SESSION_RIGHTS),),
    "projector": (Form("/projector", SESSION_RIGHTS),),
    "admin": (Form("/admin", ORGANISERS),),
}

# Commands anyone may use (each acts on the sender's own data, or only reads what the room sees).
OPEN = {"help", "start", "timezone", "remind", "events", "subscribe", "unsubscribe", "mine", "ics",
        "vote", "results", "ask", "questions", "upvote", "mycpd", "certificate", "delivery", "quiet",
        # their other forms (plain /checkin, /language xx for oneself) are open
        "checkin", "language", "link", "unlink"}

# What someone without the right may hear instead of a refusal, because the place is wrong
# for everyone (in private there is no room to bind, end or set a language for).
WRONG_PLACE = (
    "Start live mode in the group or channel where the session takes place.",
    "No session is live in this chat.",
    "--here sets the language of a group chat: send it in that chat.",
    "Usage: /attendance EVENT",
)

CELLS = [(command, form, actor, place) for command, forms in PRIVILEGED.items() for form in forms
         for actor in ACTORS for place in ("room", "private")]


def test_every_command_is_in_the_matrix() -> None:
    specs = build_router().commands()
    names = {spec.name for spec in specs}
    unlisted = names - set(PRIVILEGED) - OPEN
    assert not unlisted, f"add these commands to the permission matrix: {sorted(unlisted)}"
    assert not (set(PRIVILEGED) | OPEN) - names, "the matrix lists commands the router no longer has"
    restricted = {spec.name for spec in specs if spec.role > Role.ATTENDEE}
    assert restricted <= set(PRIVILEGED), restricted - set(PRIVILEGED)
    for spec in specs:
        if spec.role is Role.ORGANISER:
            assert all(form.allowed == ORGANISERS for form in PRIVILEGED[spec.name]), spec.name


async def snapshot(h: Harness) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but ``users`` (which only notes names as people write) and
    ``workers`` and ``leases`` (heartbeats), on whichever store the test runs."""
    async with h.app.store.engine.connect() as conn:
        return {t.name: sorted((tuple(r) for r in await conn.execute(sa.select(t))), key=repr)
                for t in schema.metadata.sorted_tables if t.name not in {"users", "workers", "leases"}}


@pytest.mark.parametrize(("command", "form", "actor", "place"), CELLS,
                         ids=[f"{f.text}|{a}|{p}" for _c, f, a, p in CELLS])
async def test_permission_matrix(tmp_path: Path, command: str, form: Form, actor: str, place: str) -> None:
    handle = {"attendee": "alice"}.get(actor, actor)
    async with Harness.open(tmp_path) as h:
        await go_live(h, SESSION)
        await h.add_occurrences(OTHER)
        await h.say("org", "/facilitator add fake:other ev7")
        await h.say("fac", '/poll "Open?" "Yes" "No"')
        await h.say("alice", "/ask A question")
        await h.say("alice", "/checkin")
        await h.say(handle, "hello")
        before = await snapshot(h)
        chat = h.adapter.dm(handle) if place == "private" else None
        replies = await h.say(handle, form.text, chat=chat)
        refused = any(r.startswith("Only ") for r in replies)
        if actor in form.allowed:
            assert not refused, replies
            return
        assert refused or (place == "private" and any(r.startswith(WRONG_PLACE) for r in replies)), replies
        assert await snapshot(h) == before, "a refused command changed the database"
