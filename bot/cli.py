"""``eventbot``: run the bot, try it with a demo, and manage schedules from the shell.

Every failure a user can cause (a wrong option, a missing file, a bad feed) ends with one
line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from bot.config import Config, load_config
from bot.errors import BotError, UserError
from bot.feeds import secret_parts
from bot.i18n import translator
from bot.logformat import FORMATS, TEXT_FORMAT, formatter
from bot.models import Occurrence
from bot.redact import PlatformPayloads, SecretRedactor, install

log = logging.getLogger("eventbot")

DEMO_WEB_PORT = 8080
"""Where ``eventbot demo`` serves its pages (a free port instead, if that one is taken)."""

Command = Callable[[argparse.Namespace, Config], Coroutine[Any, Any, int]]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="eventbot", description="Self-hosted chat bot for professional events.")
    _add_global_options(parser, defaults=True)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the bot (on the console when no platform token is set)")
    run.add_argument("--adapter", action="append", dest="adapters", metavar="NAME",
                     help="adapter to run (repeatable): console, telegram, discord")
    run.set_defaults(handler=_run)

    demo = sub.add_parser("demo", help="run on a throwaway database with the sample schedules and a demo session")
    demo.add_argument("--adapter", action="append", dest="adapters", metavar="NAME")
    demo.add_argument("--minutes", type=float, default=3.0, help="minutes until the demo session starts")
    demo.set_defaults(handler=_demo)

    imp = sub.add_parser("import", help="import or refresh a calendar from an .ics file or URL")
    imp.add_argument("source", help="file path, http(s):// or webcal:// URL")
    imp.add_argument("--calendar", help="calendar name (default: the file name)")
    imp.add_argument("--timezone", help="zone for floating times, if the feed names none")
    imp.add_argument("--force", action="store_true",
                     help="apply the refresh even if it cancels more than feed_max_cancel_share of the upcoming "
                          "sessions (otherwise it is held, and the command exits with status 3)")
    imp.set_defaults(handler=_import)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    copy = db_sub.add_parser("copy", help="copy a whole database into an empty one (SQLite to PostgreSQL)")
    copy.add_argument("--from", dest="source", required=True, metavar="DB", help="path or URL to copy from")
    copy.add_argument("--to", dest="target", required=True, metavar="DB", help="path or URL of an empty database")
    copy.set_defaults(handler=_db_copy)

    ev = sub.add_parser("events", help="list sessions")
    ev.add_argument("--from", dest="start", help="first date (YYYY-MM-DD or ISO time; default now)")
    ev.add_argument("--to", dest="end", help="last date, inclusive (default 30 days after --from)")
    ev.add_argument("--tz", help="zone to show times in (default: config timezone)")
    ev.add_argument("--calendar", help="only this calendar")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(handler=_events)

    # Feature modules add their own subcommands: ``add_cli(subparsers)`` sets a ``handler``
    # coroutine ``(args, config) -> exit code`` on each parser it adds.
    from bot.app import FEATURES

    for feature in FEATURES:
        add_cli = getattr(feature, "add_cli", None)
        if add_cli is not None:
            add_cli(sub)
    # The global options work after the subcommand too (`eventbot run --db x.db`).
    for subparser in sub.choices.values():
        _add_global_options(subparser, defaults=False)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--db", default=default(None),
                        help="SQLite file or database URL, e.g. postgresql+asyncpg://user@host/eventbot "
                             "(env EVENTBOT_DB, default ./eventbot.db)")
    parser.add_argument("--config", type=Path, default=default(None),
                        help="TOML settings file (env EVENTBOT_CONFIG); EVENTBOT_* variables override it")
    parser.add_argument("-v", "--verbose", action="count", default=default(0),
                        help="more log output (-vv for debug)")
    parser.add_argument("--log-format", choices=FORMATS,
                        default=default(os.environ.get("EVENTBOT_LOG_FORMAT") or "text"),
                        help="text, or json: one JSON object per line (env EVENTBOT_LOG_FORMAT)")


def configure_logging(verbosity: int, log_format: str = "text") -> SecretRedactor:
    """Log to stderr at WARNING, INFO (``-v``) or DEBUG (``-vv``), as text or JSON lines,
    through a redactor on every handler (so for every logger, at every level); secrets are
    added to it as they become known."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity, 2)]
    logging.basicConfig(level=level, format=TEXT_FORMAT, stream=sys.stderr)
    logging.getLogger().setLevel(level)
    if log_format != "text":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(formatter(log_format))
    redactor = SecretRedactor()
    install(redactor)
    install(PlatformPayloads())
    return redactor


def config_secrets(config: Config) -> list[str]:
    """The platform tokens and the keys in the configured feeds' addresses."""
    secrets = [token.reveal() for token in (config.telegram_token, config.discord_token, config.matrix_token,
                                            config.matrix_password, config.web_secret) if token]
    return secrets + [part for feed in config.feeds for part in secret_parts(feed.source)]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    redactor = configure_logging(args.verbose, args.log_format)
    _ = translator(None)
    try:
        config_path = args.config or (Path(os.environ["EVENTBOT_CONFIG"]) if os.environ.get("EVENTBOT_CONFIG")
                                      else None)
        config = load_config(config_path, overrides={"db": args.db})
        _ = translator(config.language)
        redactor.protect(*config_secrets(config))
        return asyncio.run(args.handler(args, config))
    except UserError as exc:
        print(_("error: {message}", message=_(exc.msgid, **exc.params)), file=sys.stderr)
    except BotError as exc:
        print(_("error: {message}", message=exc), file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


async def _run(args: argparse.Namespace, config: Config, *, demo_dir: Path | None = None) -> int:
    from bot.app import default_adapters, load_adapter, open_app, settle_heap
    from bot.samples import add_demo_session, load_shipped_schedules
    from bot.store.sql import describe_database

    names = args.adapters or default_adapters(config)
    adapters = [load_adapter(name, config) for name in names]
    async with open_app(config, adapters=adapters, start_adapters=False, web_any_port=demo_dir is not None) as app:
        if names == ["console"] and not config.feeds:
            await load_shipped_schedules(app.services)
        if demo_dir is not None:
            demo_id = await add_demo_session(app.services, demo_dir, args.minutes)
            _ = translator(config.language)
            print(_("Demo: session [{id}] starts in {minutes} minutes. Try /events, /subscribe {id}, "
                    "/live {id}, /poll \"How are you?\" Good Tired, /ask A question…",
                    id=demo_id, minutes=f"{args.minutes:g}"), flush=True)
            if app.web is not None:
                print(_("Web pages: {url} (in a live room, /projector gives the projector link; "
                        "/admin the organisers' status page).", url=app.web.url), flush=True)
        await app.start_adapters()
        settle_heap()
        log.info("eventbot running with %s on %s", ", ".join(names), describe_database(config.db))
        await app.wait_finished()
    return 0


async def _demo(args: argparse.Namespace, config: Config) -> int:
    import tempfile
    from dataclasses import replace

    with tempfile.TemporaryDirectory(prefix="eventbot-demo-") as tmp:
        config = replace(config, db=Path(tmp) / "demo.db",
                         web_port=DEMO_WEB_PORT if config.web_port is None else config.web_port)
        args.adapters = args.adapters or ["console"]
        return await _run(args, config, demo_dir=Path(tmp))


def _parse_when(text: str, tz: Any, *, end: bool = False) -> datetime:
    from bot.timeutil import parse_date

    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        day = parse_date(text)
        when = datetime.combine(day + timedelta(days=1) if end else day, time(), tz)
    if len(text) == 10 and end:
        when = datetime.combine(when.date() + timedelta(days=1), time(), tz)
    return when if when.tzinfo else when.replace(tzinfo=tz)


async def _events(args: argparse.Namespace, config: Config) -> int:
    from bot.app import open_app
    from bot.timeutil import zone

    tz = zone(args.tz or config.timezone)
    start = _parse_when(args.start, tz) if args.start else datetime.now(UTC)
    end = _parse_when(args.end, tz, end=True) if args.end else start + timedelta(days=30)
    async with open_app(config) as app:
        source = app.services.calendars
        if source is not None:
            found = await source.occurrences_between(start, end, calendar=args.calendar)
        else:
            found = await app.store.calendars.occurrences_between(start, end, calendar=args.calendar)
    if args.json:
        print(json.dumps([occurrence_json(o, tz) for o in found], ensure_ascii=False, indent=2))
        return 0
    from bot.render import occurrence_line

    _ = translator(config.language)
    for o in found:
        print(occurrence_line(o, tz, _))
    if not found:
        print(_("No sessions found."), file=sys.stderr)
    return 0


def occurrence_json(o: Occurrence, tz: ZoneInfo) -> dict[str, Any]:
    """One occurrence as ``eventbot events --json`` prints it."""
    if o.all_day and o.start_date:
        start, end = o.start_date.isoformat(), (o.end_date or o.start_date).isoformat()
    else:
        start, end = o.start.astimezone(tz).isoformat(), o.end.astimezone(tz).isoformat()
    return {"id": o.id, "series_id": o.series_id, "calendar": o.calendar, "uid": o.uid,
            "recurrence_id": o.recurrence_id or None, "title": o.title, "start": start, "end": end,
            "all_day": o.all_day, "status": o.status.value, "location": o.location, "url": o.url,
            "facilitator": o.facilitator, "cpd_hours": o.cpd_hours, "description": o.description}


async def _db_copy(args: argparse.Namespace, config: Config) -> int:
    from bot.progress import ProgressBar
    from bot.store.copy import copy_database

    _ = translator(config.language)
    bar = ProgressBar(_)
    try:
        report = await copy_database(args.source, args.target, bar)
    finally:
        bar.close()
    print(_("Copied {rows} rows in {tables} tables; every table's count matches.",
            rows=f"{report.rows:,}", tables=len(report.counts)))
    return 0


async def _import(args: argparse.Namespace, config: Config) -> int:
    from bot.app import open_app
    from bot.calendars import import_command

    async with open_app(config) as app:
        return await import_command(app.services, args.source, args.calendar, args.timezone, args.force)


if __name__ == "__main__":
    raise SystemExit(main())
