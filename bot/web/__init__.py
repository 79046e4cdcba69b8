"""The web pages: the projector view of a live session, the organiser's status page, and the
health, metrics and certificate-verification routes.

This package is a feature (``register`` adds ``/projector`` and ``/admin``, ``add_cli`` adds
``eventbot admin-link``); the composition root opens the server itself
(``bot.web.server.open_web``), only when ``web_port`` is set, so aiohttp and Jinja2 are
imported only here and only then. The modules other than ``server`` never import aiohttp.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from bot.commands.router import CommandSpec, ParsedCommand, Router
from bot.config import Config
from bot.context import Context
from bot.errors import ConfigError, UserError
from bot.i18n import N_
from bot.live.session import live_occurrence
from bot.models import Role
from bot.web import links


def _require_web(ctx: Context) -> None:
    try:
        links.base_url(ctx.services.config)
    except ConfigError:
        raise UserError(N_("The web pages are switched off on this bot (an operator sets web_port).")) from None


async def projector_command(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    occurrence = await live_occurrence(ctx)
    await ctx.require_facilitator(occurrence, "projector")
    _require_web(ctx)
    mine = await links.live_link(ctx.services, occurrence, ctx.user.id, links.FACILITATOR)
    shared = await links.live_link(ctx.services, occurrence, ctx.user.id, links.VIEWER)
    text = "\n".join([
        _("🖥 Projector view of “{title}”. Your link (keep it to yourself: its keys mark questions "
          "answered):", title=occurrence.title),
        mine,
        _("A read-only link you can share:"),
        shared,
        _("Both stop working 30 minutes after the session ends."),
    ])
    await ctx.reply_in_private(text, fallback=_(
        "I could not send you the link privately. Write to me directly once, then send /projector again."))


async def admin_command(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    _require_web(ctx)
    url = await links.admin_link(ctx.services.config, ctx.services.store, ctx.now, ctx.user.id)
    text = _("📋 The organisers' status page (read-only, for {hours} hours):", hours=int(
        links.ADMIN_TTL.total_seconds() // 3600)) + "\n" + url
    await ctx.reply_in_private(text, fallback=_(
        "I could not send you the link privately. Write to me directly once, then send /admin again."))


def register(router: Router) -> None:
    router.add(CommandSpec(
        "projector", N_("Facilitators: get a link to show this session's polls and questions on a big screen."),
        projector_command, role=Role.FACILITATOR))
    router.add(CommandSpec(
        "admin", N_("Organisers: get a private link to the status page (calendars, reminders, platforms)."),
        admin_command, role=Role.ORGANISER))


def add_cli(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("admin-link", help="print a link to the organisers' status page")
    parser.add_argument("--hours", type=float, default=links.ADMIN_TTL.total_seconds() / 3600,
                        help="how long the link works (default 12)")
    parser.set_defaults(handler=_admin_link)


async def _admin_link(args: argparse.Namespace, config: Config) -> int:
    from bot.clock import SystemClock
    from bot.store.sql import SqlStore

    if not 0 < args.hours <= 24 * 31:
        raise ConfigError("--hours must be more than 0 and at most 744 (31 days)")
    links.base_url(config)  # before opening anything: a clear error if the pages are off
    clock = SystemClock()
    # Only the store: opening the whole app here would start a second dispatcher.
    store = await SqlStore.open(config.db, clock)
    try:
        url = await links.admin_link(config, store, clock.now(), links.OPERATOR, timedelta(hours=args.hours))
    finally:
        await store.close()
    print(url)
    return 0
