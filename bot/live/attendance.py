"""Attendance for CPD: /checkin, /attendance (facilitators) and /mycpd."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from bot.commands.router import CommandSpec, Param, ParsedCommand, PerPerson, Router
from bot.commands.targets import resolve_occurrence
from bot.context import Context
from bot.errors import UsageError, UserError
from bot.i18n import N_
from bot.live.certificate import certificate_pdf, issue_certificate, verify_url
from bot.live.session import (
    CHECKIN_OPENS_BEFORE,
    bound_occurrence,
    cpd_hours,
    format_hours,
    in_window,
    live_occurrence,
)
from bot.models import Attachment, Checkin, Occurrence
from bot.ports import Capability
from bot.timeutil import format_when, local

MAX_CODE = 32


async def checkin(ctx: Context, cmd: ParsedCommand) -> None:
    given = cmd.args.get("code", "")
    if given.lower() == "code" and cmd.extra:
        await _set_code(ctx, cmd.extra[0])
        return
    if cmd.extra:
        raise UsageError(N_("Usage: {usage}"), usage="/checkin [CODE]")
    _ = ctx._
    occurrence = await live_occurrence(ctx)
    now = ctx.now
    if not in_window(occurrence, now):
        opens = local(occurrence.start - CHECKIN_OPENS_BEFORE, ctx.timezone)
        if now < occurrence.start - CHECKIN_OPENS_BEFORE:
            raise UserError(N_("Check-in for “{title}” opens at {time}, 15 minutes before it starts."),
                            title=occurrence.title, time=f"{opens:%H:%M} {opens.tzname() or ''}".rstrip())
        raise UserError(N_("Check-in for “{title}” has closed: the session has ended."), title=occurrence.title)
    live = ctx.services.store.live
    session = await live.get_session(occurrence.id)
    if session.checkin_code:
        if not given:
            raise UserError(N_("This session needs the check-in code the facilitator announces: /checkin CODE."))
        if given.strip().casefold() != session.checkin_code.casefold():
            raise UserError(N_("That check-in code is not right. Check it with the facilitator."))
    hours = format_hours(cpd_hours(occurrence))
    if not await live.check_in(Checkin(occurrence.id, ctx.user.id, ctx.user.display, now)):
        await ctx.reply(_("You are already checked in to “{title}”.", title=occurrence.title))
        return
    await ctx.reply(_("✅ {name}, you are checked in to “{title}” ({hours} CPD hours). See your record with /mycpd.",
                      name=ctx.user.display, title=occurrence.title, hours=hours))


async def _set_code(ctx: Context, code: str) -> None:
    _ = ctx._
    occurrence = await live_occurrence(ctx)
    await ctx.require_facilitator(occurrence, "checkin code")
    if len(code) > MAX_CODE:
        raise UsageError(N_("Keep the check-in code under 32 characters."))
    live = ctx.services.store.live
    session = await live.get_session(occurrence.id)
    clear = code.lower() in {"off", "none"}
    await live.update_session(replace(session, checkin_code="" if clear else code))
    await ctx.reply(_("Check-in no longer needs a code.") if clear
                    else _("Check-in now needs the code {code}: /checkin {code}", code=code))


async def attendance(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    query = cmd.args.get("event")
    occurrence: Occurrence | None
    occurrence = await resolve_occurrence(ctx, query) if query else await bound_occurrence(ctx)
    if occurrence is None:
        raise UsageError(N_("Usage: {usage}"), usage="/attendance EVENT")
    await ctx.require_facilitator(occurrence, "attendance")
    found = await ctx.services.store.live.attendance(occurrence.id)
    lines = [_.plural("{n} person checked in to “{title}”:", "{n} people checked in to “{title}”:",
                      len(found), title=occurrence.title)]
    for c in found:
        lines.append(f"• {c.name} ({local(c.checked_in_at, ctx.timezone):%H:%M})")
    await ctx.reply_in_private("\n".join(lines))


async def mycpd(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    calendars = ctx.services.store.calendars
    total = 0.0
    lines = [_("Your CPD record:")]
    for c in await ctx.services.store.live.checkins_of(ctx.user.id):
        o = await calendars.get_occurrence(c.occurrence_id)
        if o is None:
            continue
        hours = cpd_hours(o)
        total += hours
        when = format_when(o.start, ctx.timezone, _, all_day=o.all_day, start_date=o.start_date)
        lines.append(_("• {when} · {title} — {hours} h", when=when, title=o.title, hours=format_hours(hours)))
    if len(lines) == 1:
        await ctx.reply(_("You have not checked in to any session yet. Use /checkin during a session."))
        return
    lines.append(_("Total: {hours} CPD hours.", hours=format_hours(round(total, 2))))
    await ctx.reply_in_private("\n".join(lines))


async def certificate(ctx: Context, cmd: ParsedCommand) -> None:
    """Send a person their certificate for one session they checked in to, privately."""
    _ = ctx._
    query = cmd.args.get("event")
    occurrence = await resolve_occurrence(ctx, query) if query else await bound_occurrence(ctx)
    if occurrence is None:
        raise UsageError(N_("Usage: {usage}"), usage="/certificate EVENT")
    mine = [c for c in await ctx.services.store.live.checkins_of(ctx.user.id) if c.occurrence_id == occurrence.id]
    if not mine:
        raise UserError(N_("You did not check in to “{title}”, so there is no certificate for it."),
                        title=occurrence.title)
    messenger = ctx.services.messenger
    if not (messenger.can(ctx.user.id, Capability.FILES) and messenger.can(ctx.user.id, Capability.DIRECT_MESSAGES)):
        raise UserError(N_("I cannot send files here; an organiser can make your certificate with "
                           "eventbot certificate --event {id}."), id=occurrence.id)
    record = await issue_certificate(ctx.services.store, occurrence, mine[0],
                                     name=ctx.settings.display_name or mine[0].name, now=ctx.now)
    document = await asyncio.to_thread(certificate_pdf, record, occurrence, _,
                                       verify_url=verify_url(ctx.services.config, record))
    await ctx.reply_private(
        _("Your certificate of attendance for “{title}” ({hours} CPD hours).", title=occurrence.title,
          hours=format_hours(record.hours)),
        attachment=Attachment(f"certificate-{occurrence.id}.pdf", document, "application/pdf"))


def register(router: Router) -> None:
    router.add(CommandSpec(
        "checkin", N_("Record that you attended the session on now (with the code, if one was given)."),
        checkin, params=(Param("code", N_("The check-in code"), required=False),), variadic=True,
        # Few tries a minute: a check-in code is short enough to guess otherwise.
        usage_hint="[CODE]", limit=PerPerson(5, timedelta(minutes=1))))
    router.add(CommandSpec(
        "attendance", N_("Facilitators: who checked in to a session."), attendance,
        params=(Param("event", N_("A session id or title words"), kind="event", required=False, rest=True),),
        limit=PerPerson(10, timedelta(minutes=1))))
    router.add(CommandSpec("mycpd", N_("Your attended sessions and CPD hours."), mycpd,
                           limit=PerPerson(10, timedelta(minutes=1))))
    router.add(CommandSpec(
        "certificate", N_("Get your certificate of attendance for a session you checked in to."), certificate,
        params=(Param("event", N_("A session id or title words"), kind="event", required=False, rest=True),),
        limit=PerPerson(3, timedelta(minutes=1))))
