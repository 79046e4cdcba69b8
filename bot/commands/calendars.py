"""Calendar feeds: /import, /calendars and /ics in chat; ``calendars`` and ``export`` on the
command line; and the scheduled refresh of the feeds listed in the config."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot.calendars import (
    CalendarService,
    ChangeNotices,
    default_calendar_name,
    summary_lines,
)
from bot.commands.router import CommandSpec, Flag, Param, ParsedCommand, PerPerson, Router
from bot.context import Context
from bot.errors import FeedError, UsageError, UserError
from bot.feeds import FeedFetcher, is_url
from bot.i18n import N_, translator
from bot.ical.export import build_ics
from bot.models import Attachment, Role, SubscriptionScope
from bot.timeutil import zone
from bot.workers import once_across

if TYPE_CHECKING:
    from bot.config import Config
    from bot.services import Services

log = logging.getLogger(__name__)

HORIZON_JOB = "calendars:horizon"
DEFAULT_REFRESH_MINUTES = 15
FIRST_REFRESH = timedelta(minutes=1)


def feed_job_id(name: str) -> str:
    return f"calendars:refresh:{name}"


# --------------------------------------------------------------------------- set-up


async def setup(services: Services, stack: contextlib.AsyncExitStack) -> None:
    """Open the feed fetcher, make the calendar service the app's schedule (planning change
    notices with each refresh, and telling the organisers of a held one), and refresh the
    configured feeds on their intervals."""
    config = services.config
    configured = {feed.name for feed in config.feeds}
    fetcher = await stack.enter_async_context(
        FeedFetcher(max_bytes=config.feed_max_bytes, timeout=config.feed_timeout,
                    allow_private=config.allow_private_feeds))
    service = CalendarService(services.store, services.clock, horizon_days=config.horizon_days,
                              default_timezone=config.timezone, fetcher=fetcher,
                              max_cancel_share=config.feed_max_cancel_share,
                              notices=ChangeNotices(services.store, config.organisers), metrics=services.metrics)
    services.calendars = service
    for feed in config.feeds:
        schedule_feed(services, service, feed.name, feed.source, feed.refresh_minutes, feed.timezone or None,
                      configured=True)
    # Calendars imported from an address (in chat or on the command line) are followed too.
    for info in await service.list_calendars():
        if info.name not in configured and is_url(info.source):
            schedule_feed(services, service, info.name, info.source,
                          info.refresh_minutes or DEFAULT_REFRESH_MINUTES, None)
    services.alarms.every(HORIZON_JOB, timedelta(days=1), once_across(services, HORIZON_JOB, service.advance_horizon))


def schedule_feed(services: Services, service: CalendarService, name: str, source: str,
                  refresh_minutes: int, timezone: str | None, *, configured: bool = False) -> None:
    """Refresh a feed now and then every ``refresh_minutes``; a refused feed is logged and
    recorded as the calendar's last error, and the next refresh tries again. A feed that
    is not in the config stops being followed once its calendar is removed (by any process)."""

    async def refresh() -> None:
        if not configured and await services.store.calendars.get_calendar(name) is None:
            services.alarms.cancel(feed_job_id(name))
            return
        try:
            # A followed feed is refreshed from the store's own row (under the calendar's lock),
            # so a removal that lands in between is not undone.
            await service.sync(name, source if configured else None, timezone=timezone,
                               refresh_minutes=refresh_minutes, configured=configured)
        except (FeedError, UserError) as error:
            log.warning("scheduled refresh of %s failed: %s", name, error)

    # The first refresh comes a minute after start-up, so that short command-line runs
    # (which open the app too) finish before any network traffic starts.
    services.alarms.every(feed_job_id(name), timedelta(minutes=max(1, refresh_minutes)),
                          once_across(services, feed_job_id(name), refresh), first=services.clock.now() + FIRST_REFRESH)


# --------------------------------------------------------------------------- chat


async def import_(ctx: Context, cmd: ParsedCommand) -> None:
    service = _service(ctx.services)
    source = cmd.args["url"]
    if not is_url(source):
        # Chat may only name addresses: a path would let anyone with the organiser role
        # probe the bot's own files.
        raise UsageError(N_("Give an http(s) or webcal address of an .ics feed."))
    name = cmd.args.get("name") or default_calendar_name(source)
    await ctx.reply(ctx._("Importing “{name}”…", name=name))
    existing = await ctx.services.store.calendars.get_calendar(name)
    minutes = (existing.refresh_minutes if existing else None) or DEFAULT_REFRESH_MINUTES
    report = await service.sync(name, source, refresh_minutes=minutes, force=cmd.flag("force"))
    if name not in {feed.name for feed in ctx.services.config.feeds}:
        schedule_feed(ctx.services, service, name, source, minutes, None)
    await ctx.reply(report.render(ctx._) + "\n" +
                    ctx._("I will check it for changes every {minutes} minutes.", minutes=minutes))


async def calendars(ctx: Context, cmd: ParsedCommand) -> None:
    if cmd.args.get("action"):
        await _remove(ctx, cmd.args.get("name", ""))
        return
    found = await _service(ctx.services).list_calendars()
    if not found:
        await ctx.reply(ctx._("No calendars yet. Import one with /import URL [NAME]."))
        return
    # Sources and errors are the organisers' business, not the room's.
    await ctx.reply_in_private("\n".join(summary_lines(found, ctx.timezone, ctx._)),
                               fallback=ctx._("I could not message you privately: ask me for /calendars "
                                              "in a private chat."))


async def _remove(ctx: Context, name: str) -> None:
    if not name:
        raise UsageError(N_("Name the calendar to remove: /calendars remove NAME."))
    if name in {feed.name for feed in ctx.services.config.feeds}:
        raise UserError(N_("“{name}” is listed in the config file: remove it there."), name=name)
    report = await _service(ctx.services).remove(name)
    ctx.services.alarms.cancel(feed_job_id(name))
    await ctx.reply(ctx._.plural(
        "Removed “{name}”. {n} session to come was cancelled and its subscribers told.",
        "Removed “{name}”. {n} sessions to come were cancelled and their subscribers told.",
        len(report.cancelled), name=name))


async def ics(ctx: Context, cmd: ParsedCommand) -> None:
    """The person's subscribed sessions as an .ics file: whole series where they follow a
    series (so their calendar app keeps the recurrence), single sessions otherwise."""
    _ = ctx._
    store = ctx.services.store
    service = _service(ctx.services)
    subscriptions = await store.people.subscriptions_of(ctx.user.id)
    if not subscriptions:
        await ctx.reply(_("You follow no sessions yet. Try /events, then /subscribe ID."))
        return
    series_ids: dict[str, None] = {}
    occurrences = []
    for sub in subscriptions:
        if sub.scope is SubscriptionScope.ALL:
            for info in await service.list_calendars():
                if sub.calendar in ("", info.name):
                    for record in await store.calendars.list_series(info.name):
                        series_ids[record.series_id] = None
        elif sub.scope is SubscriptionScope.SERIES:
            series_ids[sub.target] = None
        else:
            occurrence = await store.calendars.get_occurrence(sub.target)
            if occurrence is not None:
                occurrences.append(occurrence)
    records = [r for sid in series_ids if (r := await store.calendars.find_series(sid)) is not None]
    occurrences = [o for o in occurrences if o.series_id not in series_ids]
    count = len(records) + len(occurrences)
    data = build_ics(records, occurrences, name=_("My sessions"),
                     timezone=ctx.settings.timezone or ctx.services.config.timezone)
    text = _.plural("Here are your {n} event as an .ics file: open it to add it to your calendar.",
                    "Here are your {n} events as an .ics file: open it to add them to your calendar.", count)
    attachment = Attachment("my-sessions.ics", data, "text/calendar")
    # What someone follows is their own business: in a shared chat, send it privately.
    await ctx.reply_in_private(text, attachment=attachment)


def _service(services: Services) -> CalendarService:
    service = services.calendars
    if not isinstance(service, CalendarService):
        raise UserError(N_("Calendars are not available in this configuration."))
    return service


def register(router: Router) -> None:
    router.add(CommandSpec(
        "import", N_("Import or refresh a calendar from an iCal address."), import_,
        params=(Param("url", N_("An http(s) or webcal address of an .ics feed")),
                Param("name", N_("A name for the calendar"), required=False)),
        flags=(Flag("force", N_("Apply a refresh even if it cancels most of the upcoming sessions")),),
        role=Role.ORGANISER, usage_hint="URL [NAME] [--force]"))
    router.add(CommandSpec(
        "calendars", N_("List calendars, their last sync and errors (privately), or remove one."), calendars,
        params=(Param("action", N_("remove, to remove a calendar and its sessions"), kind="choice",
                      required=False, choices=("remove",)),
                Param("name", N_("The calendar to remove"), required=False)),
        role=Role.ORGANISER, usage_hint="[remove NAME]"))
    # Building a file of every followed series is the costliest thing an attendee can ask for.
    router.add(CommandSpec("ics", N_("Get the sessions you follow as an .ics file."), ics,
                           limit=PerPerson(3, timedelta(minutes=1))))


# --------------------------------------------------------------------------- command line


def add_cli(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    listing = sub.add_parser("calendars", help="list calendars with their last sync, last error and counts")
    listing.add_argument("--show-urls", action="store_true",
                         help="show secret feed addresses in full (they are credentials)")
    listing.add_argument("--remove", metavar="NAME",
                         help="remove a calendar and its sessions; their subscribers are told")
    listing.set_defaults(handler=_cli_calendars)
    export = sub.add_parser("export", help="write a calendar as a clean .ics file")
    export.add_argument("--calendar", required=True, help="calendar name")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(handler=_cli_export)


async def _cli_calendars(args: argparse.Namespace, config: Config) -> int:
    from bot.app import open_app

    _ = translator(config.language)
    if args.remove:
        if args.remove in {feed.name for feed in config.feeds}:
            raise UserError(N_("“{name}” is listed in the config file: remove it there."), name=args.remove)
        async with open_app(config) as app:
            # Subscribers' notices go through ChangeNotices, as a command-line import's do; this
            # process runs no chat adapter, so the line claims only what it did itself.
            report = await _service(app.services).remove(args.remove)
        print(_.plural("Removed “{name}”, with {n} session to come (cancelled for its subscribers).",
                       "Removed “{name}”, with {n} sessions to come (cancelled for their subscribers).",
                       len(report.cancelled), name=args.remove))
        return 0
    async with open_app(config) as app:
        found = await _service(app.services).list_calendars()
    if not found:
        print(_("No calendars yet. Import one with: eventbot import SOURCE --calendar NAME"), file=sys.stderr)
        return 0
    print("\n".join(summary_lines(found, zone(config.timezone), _, show_urls=args.show_urls)))
    return 0


async def _cli_export(args: argparse.Namespace, config: Config) -> int:
    from bot.app import open_app

    async with open_app(config) as app:
        data = await _service(app.services).export_calendar(args.calendar)
    if args.output:
        await asyncio.to_thread(Path(args.output).write_bytes, data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
