"""Exports after the session: ``eventbot export-results``, ``export-attendance``, ``certificate`` (PDF).

Results JSON::

    {"polls": [{"id", "event", "question", "options": [{"text", "votes", "voters"?}],
                "anonymous", "closed", "multi", "correct", "voters", "right"}],
     "questions": [{"event", "number", "text", "upvotes", "status", "author"?}]}

``correct`` is the 1-based number of a quiz's right option (null for a plain poll) and
``right`` how many voters chose exactly it. ``voters`` inside an option lists who chose it
(``{"id", "name"}``) for NON-anonymous polls only: people voted in the open, and a
facilitator may need the list (e.g. to follow up a "who needs help" poll). For anonymous
polls the store cannot say who voted what, so no export can. ``author`` is absent for
anonymous questions. The CSV carries counts only, never voters.

These commands open the store directly rather than the whole app: an export must not
start alarms or bind chats as a side effect.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from bot.clock import SystemClock
from bot.config import Config
from bot.errors import UserError
from bot.i18n import N_, translator
from bot.live.certificate import certificate_html, certificate_pdf, issue_certificate, verify_url
from bot.live.session import cpd_hours
from bot.ports import Store
from bot.store.sql import SqlStore
from bot.timeutil import zone

RESULT_FIELDS = ["kind", "event", "poll", "question", "option", "text", "votes", "anonymous", "closed",
                 "multi", "correct", "number", "upvotes", "status", "author"]
ATTENDANCE_FIELDS = ["event", "title", "start", "end", "timezone", "cpd_hours", "facilitator", "user_id", "name",
                     "checked_in_at"]


async def results_data(store: Store, event: str | None = None) -> dict[str, Any]:
    live = store.live
    names: dict[str, str | None] = {}
    polls_out = []
    for poll in await live.polls_of(event):
        tally = await live.tally(poll)
        voters = None if poll.anonymous else await live.voters_by_option(poll)
        options = []
        for i, (text, votes) in enumerate(zip(poll.options, tally.votes, strict=True)):
            option: dict[str, Any] = {"text": text, "votes": votes}
            if voters is not None:
                option["voters"] = [{"id": v, "name": await _name(store, names, v)} for v in voters[i]]
            options.append(option)
        polls_out.append({
            "id": poll.id, "event": poll.occurrence_id, "question": poll.question, "options": options,
            "anonymous": poll.anonymous, "closed": not poll.is_open, "multi": poll.multi,
            "correct": None if poll.correct is None else poll.correct + 1, "voters": tally.voters,
            "right": tally.right if poll.correct is not None else None,
        })
    events = [event] if event else await live.sessions_with_questions()
    questions_out = []
    for occurrence_id in events:
        for q in await live.questions_of(occurrence_id):
            entry: dict[str, Any] = {"event": q.occurrence_id, "number": q.number, "text": q.text,
                                     "upvotes": q.upvotes, "status": q.status.value}
            if not q.anonymous:
                entry["author"] = q.author_name or q.author_id
            questions_out.append(entry)
    return {"polls": polls_out, "questions": questions_out}


async def _name(store: Store, cache: dict[str, str | None], user_id: str) -> str | None:
    if user_id not in cache:
        cache[user_id] = (await store.people.get_settings(user_id)).display_name
    return cache[user_id]


def results_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RESULT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for poll in data["polls"]:
        for n, option in enumerate(poll["options"], 1):
            writer.writerow({"kind": "poll", "event": poll["event"], "poll": poll["id"], "question": poll["question"],
                             "option": n, "text": option["text"], "votes": option["votes"],
                             "anonymous": poll["anonymous"], "closed": poll["closed"], "multi": poll["multi"],
                             "correct": poll["correct"] == n if poll["correct"] is not None else ""})
    for q in data["questions"]:
        writer.writerow({"kind": "question", "event": q["event"], "number": q["number"], "text": q["text"],
                         "upvotes": q["upvotes"], "status": q["status"], "author": q.get("author", "")})
    return out.getvalue()


async def attendance_rows(store: Store, calendar: str) -> list[dict[str, Any]]:
    rows = []
    cache: dict[str, Any] = {}
    for c in await store.live.attendance_of_calendar(calendar):
        o = cache.get(c.occurrence_id) or await store.calendars.get_occurrence(c.occurrence_id)
        if o is None:
            continue
        cache[c.occurrence_id] = o
        tz = zone(o.timezone or "UTC")
        rows.append({"event": o.id, "title": o.title, "start": o.start.astimezone(tz).isoformat(),
                     "end": o.end.astimezone(tz).isoformat(), "timezone": tz.key, "cpd_hours": cpd_hours(o),
                     "facilitator": o.facilitator, "user_id": c.user_id, "name": c.name,
                     "checked_in_at": c.checked_in_at.isoformat()})
    return rows


def rows_csv(rows: list[dict[str, Any]], fields: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# -- CLI -------------------------------------------------------------------------------


async def _export_results(args: argparse.Namespace, config: Config) -> int:
    store = await SqlStore.open(config.db, SystemClock())
    try:
        data = await results_data(store, args.event)
    finally:
        await store.close()
    if args.csv:
        sys.stdout.write(results_csv(data))
    else:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


async def _export_attendance(args: argparse.Namespace, config: Config) -> int:
    store = await SqlStore.open(config.db, SystemClock())
    try:
        if await store.calendars.get_calendar(args.calendar) is None:
            raise UserError(N_("There is no calendar named “{name}”."), name=args.calendar)
        rows = await attendance_rows(store, args.calendar)
    finally:
        await store.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(rows_csv(rows, ATTENDANCE_FIELDS))
    return 0


async def _certificate(args: argparse.Namespace, config: Config) -> int:
    store = await SqlStore.open(config.db, SystemClock())
    try:
        occurrence = await store.calendars.get_occurrence(args.event)
        if occurrence is None:
            raise UserError(N_("There is no session with id “{id}”."), id=args.event)
        found = [c for c in await store.live.attendance(occurrence.id) if c.user_id == args.user]
        if not found:
            raise UserError(N_("{user} did not check in to {id}."), user=args.user, id=occurrence.id)
        settings = await store.people.get_settings(args.user)
        name = settings.display_name or found[0].name
        record = await issue_certificate(store, occurrence, found[0], name=name, now=SystemClock().now())
    finally:
        await store.close()
    reader = translator(settings.language or config.language)  # the certificate's
    _ = translator(config.language)  # whoever runs the command
    document: bytes
    if args.html:
        document = certificate_html(occurrence, found[0], reader, name=name, code=record.code).encode("utf-8")
    else:
        document = await asyncio.to_thread(certificate_pdf, record, occurrence, reader,
                                           verify_url=verify_url(config, record))
    if args.out:
        await asyncio.to_thread(Path(args.out).write_bytes, document)
        print(_("wrote {path} (verification code {code})", path=args.out, code=record.code),
              file=sys.stderr)
    elif sys.stdout.isatty() and not args.html:
        print(_("error: {message}", message=_(
            "a PDF is not for a terminal: give --out FILE, or redirect the output")), file=sys.stderr)
        return 2
    else:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
    return 0


def add_cli(subparsers: argparse._SubParsersAction[Any]) -> None:
    results = subparsers.add_parser("export-results", help="poll results and questions, as JSON or CSV")
    results.add_argument("--event", help="only this session id")
    fmt = results.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON (the default)")
    fmt.add_argument("--csv", action="store_true", help="CSV")
    results.set_defaults(handler=_export_results)

    att = subparsers.add_parser("export-attendance", help="check-ins of a calendar's sessions, for CPD records")
    att.add_argument("--calendar", required=True, help="calendar name")
    fmt = att.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV (the default)")
    fmt.add_argument("--json", action="store_true", help="JSON")
    att.set_defaults(handler=_export_attendance)

    cert = subparsers.add_parser("certificate", help="a PDF certificate of attendance for one person and session")
    cert.add_argument("--event", required=True, help="session id")
    cert.add_argument("--user", required=True, help="namespaced user id, like telegram:1001")
    cert.add_argument("--out", help="file to write (default: standard output)")
    cert.add_argument("--html", action="store_true", help="the HTML page instead of the PDF")
    cert.set_defaults(handler=_certificate)
