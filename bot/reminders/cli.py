"""``eventbot reminders``: the outbox as organisers see it — counts by status, the current
fan-out's progress, the bot processes working on it, and the reminders (and programme-change
notices) of one status (failed
by default)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from bot.clock import SystemClock
from bot.config import Config
from bot.i18n import Translator, translator
from bot.models import Reminder, ReminderStatus
from bot.store.sql import SqlStore


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "reminders", help="show the reminder outbox: counts by status, fan-out progress, failures")
    parser.add_argument("--status", choices=[s.value for s in ReminderStatus],
                        help="list reminders with this status (default: failed)")
    parser.add_argument("--limit", type=int, default=50, help="how many to list (default 50)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=reminders_command)


def reminder_json(r: Reminder, titles: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": r.id, "kind": "reminder" if r.notice is None else "notice", "user": r.user_id,
           "occurrence": r.occurrence_id, "title": titles.get(r.occurrence_id, ""),
           "offset_seconds": int(r.offset.total_seconds()), "start": r.start.isoformat(), "due": r.due.isoformat(),
           "next_try": r.ready.isoformat(), "status": r.status.value, "attempts": r.attempts,
           "last_error": r.last_error, "sent_at": r.sent_at.isoformat() if r.sent_at else None}
    if r.notice is not None:
        # A notice tells of sessions as the refresh saw them; "start" is when they are over.
        row["title"] = r.notice.title
        row["calendar"] = r.notice.calendar
        row["sessions"] = [{"occurrence": i.after.id, "title": i.after.title, "change": i.kind.value,
                            "fields": list(i.fields)} for i in r.notice.items]
        row["more_sessions"] = r.notice.more
        if r.notice.held is not None:
            # The organisers' notice of a held refresh (the source stays out: it may be secret).
            row["held"] = {"cancels": r.notice.held.cancels, "upcoming": r.notice.held.upcoming}
    return row


async def reminders_command(args: argparse.Namespace, config: Config) -> int:
    # Only the store: opening the whole app here would start a second dispatcher.
    store = await SqlStore.open(config.db, SystemClock())
    try:
        status = ReminderStatus(args.status) if args.status else ReminderStatus.FAILED
        counts = await store.reminders.counts()
        progress_text = await store.reminders.get_meta("fanout")
        progress = json.loads(progress_text) if progress_text else None
        found = await store.reminders.find(status, limit=max(0, args.limit))
        now = int(SystemClock().now().timestamp())
        workers = [{"id": w.id, "host": w.host, "pid": w.pid,
                    "started": datetime.fromtimestamp(w.started_ts, UTC).isoformat(),
                    "silent_seconds": max(0, now - w.heartbeat_ts)} for w in await store.workers.workers()]
        titles: dict[str, str] = {}
        for r in found:
            if r.occurrence_id not in titles and r.notice is None:
                o = await store.calendars.get_occurrence(r.occurrence_id)
                titles[r.occurrence_id] = o.title if o else ""
    finally:
        await store.close()
    rows = [reminder_json(r, titles) for r in found]
    if args.json:
        print(json.dumps({"counts": counts, "fanout": progress, "workers": workers, "status": status.value,
                          "reminders": rows}, ensure_ascii=False, indent=2))
        return 0
    _ = translator(config.language)
    # The statuses are printed as they are typed after --status.
    print(_("reminders: {counts}", counts=", ".join(f"{name} {n}" for name, n in counts.items())))
    if progress:
        state = _("finished {time}", time=progress["finished"]) if progress.get("finished") else _("running")
        print(_("fan-out started {started} ({state}): {sent} sent, {failed} failed, {expired} expired, "
                "{retried} to retry, {waiting} waiting, {rate} msg/s, {limited} rate limits honoured",
                started=progress["started"], state=state, sent=progress["sent"], failed=progress["failed"],
                expired=progress["expired"], retried=progress["retried"], waiting=progress["waiting"],
                rate=progress["rate_per_second"], limited=progress["rate_limited"]))
    for w in workers:
        # A worker silent for long is a crashed process; the next bot to start forgets it.
        print(_("worker #{id} {host} pid {pid}, started {started}, last heartbeat {seconds}s ago",
                id=w["id"], host=w["host"], pid=w["pid"], started=w["started"], seconds=w["silent_seconds"]))
    if not rows:
        print(_("no {status} reminders", status=status.value), file=sys.stderr)
    for row in rows:
        print(_row_line(row, _))
    return 0


def _row_line(row: dict[str, Any], _: Translator) -> str:
    """One reminder or notice of the listing, as a line."""
    common = {"id": row["id"], "status": row["status"], "user": row["user"], "due": row["due"],
              "start": row["start"], "attempts": row["attempts"]}
    if row.get("held"):
        line = _("#{id} {status} notice {user}: refresh of “{calendar}” held ({cancels} of {upcoming} sessions): "
                 "planned {due}, attempts {attempts}", calendar=row["calendar"], cancels=row["held"]["cancels"],
                 upcoming=row["held"]["upcoming"], **common)
    elif row["kind"] == "notice":
        more = len(row["sessions"]) - 1 + row["more_sessions"]
        title = _("“{title}” and {more} more", title=row["title"], more=more) if more else f"“{row['title']}”"
        line = _("#{id} {status} notice {user} {title}: planned {due} (matters until {start}), attempts {attempts}",
                 title=title, **common)
    else:
        line = _("#{id} {status} {user} “{title}” due {due} (start {start}), attempts {attempts}",
                 title=row["title"] or row["occurrence"], **common)
    if row["last_error"]:
        line = _("{line}: {error}", line=line, error=row["last_error"])
    return line
