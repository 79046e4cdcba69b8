"""Live mode: /live EVENT binds a chat to a session, /live end closes it with a summary, and
chats configured for a calendar (``live_chats`` of a ``[[feeds]]`` entry) are bound
automatically as each of its sessions starts.

Auto-binding is driven by two alarms rebuilt at start-up: one at the next session start,
and a periodic scan that catches sessions imported since. Each (chat, session) pair is
bound automatically at most once, so ``/live end`` is not undone by the next scan.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import timedelta

from bot.commands.router import CommandSpec, Param, ParsedCommand, Router
from bot.commands.targets import resolve_occurrence
from bot.context import Context
from bot.errors import DeliveryFailed, PermissionDenied, UserError
from bot.i18n import N_, Translator
from bot.live import polls
from bot.live.session import bound_occurrence, cpd_hours, format_hours, room_translator
from bot.models import ChatKind, ChatRef, Occurrence, Outgoing, QuestionStatus, platform_of
from bot.render import occurrence_line
from bot.services import Services
from bot.timeutil import zone
from bot.workers import once_across

log = logging.getLogger(__name__)

NEXT_JOB = "live:autobind-next"
SCAN_JOB = "live:autobind-scan"
SCAN_EVERY = timedelta(minutes=5)
FIRST_SCAN_AFTER = timedelta(seconds=10)
LOOKAHEAD = timedelta(days=14)


def live_line(o: Occurrence, _: Translator, services: Services) -> str:
    return "\n".join([
        _("🔴 Now live: {title}", title=o.title),
        occurrence_line(o, zone(services.config.timezone), _),
        _("Ask with /ask, vote with /vote N, and record your CPD with /checkin ({hours} hours).",
          hours=format_hours(cpd_hours(o))),
    ])


async def live(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    query = cmd.args.get("event", "").strip()
    if not query:
        current = await bound_occurrence(ctx)
        await ctx.reply(_("This chat is live for “{title}”. End with /live end.", title=current.title) if current
                        else _("No session is live in this chat. Start one with /live EVENT."))
        return
    if query.lower() == "end":
        await end(ctx)
        return
    occurrence = await resolve_occurrence(ctx, query)
    await ctx.require_facilitator(occurrence, "live")
    if ctx.chat.is_private:
        raise UserError(N_("Start live mode in the group or channel where the session takes place."))
    current = await bound_occurrence(ctx)
    if current is not None and current.id != occurrence.id and not await ctx.is_facilitator_for(current):
        # Switching a live room ends the session live in it, so it needs that session's rights,
        # as /live end does.
        raise PermissionDenied(N_("Only facilitators of “{title}”, live in this chat now, and organisers "
                                  "can switch it to another session."), title=current.title)
    await ctx.services.store.live.bind_chat(ctx.chat.id, occurrence.id, ctx.user.id, ctx.now)
    await ctx.reply(live_line(occurrence, _, ctx.services))


async def end(ctx: Context) -> None:
    _ = ctx._
    occurrence = await bound_occurrence(ctx)
    if occurrence is None:
        raise UserError(N_("No session is live in this chat."))
    await ctx.require_facilitator(occurrence, "live end")
    services = ctx.services
    store = services.store.live
    for poll in await store.polls_of(occurrence.id, open_only=True):
        if poll.chat_id == ctx.chat.id:
            await polls.finish_poll(services, poll.id, _)
    await store.end_binding(ctx.chat.id, ctx.now)
    session = await store.get_session(occurrence.id)
    if session.qa_open and not await store.chats_bound_to(occurrence.id):
        # Q&A closes with the last chat live for the session (it may run on two platforms).
        await store.update_session(replace(session, qa_open=False))
    all_polls = [p for p in await store.polls_of(occurrence.id) if p.chat_id == ctx.chat.id]
    questions = await store.questions_of(occurrence.id)
    answered = sum(1 for q in questions if q.status is QuestionStatus.ANSWERED)
    asked = sum(1 for q in questions if q.status is not QuestionStatus.HIDDEN)
    attended = len(await store.attendance(occurrence.id))
    await ctx.reply("\n".join([
        _("⏹ “{title}” is no longer live here. Thank you!", title=occurrence.title),
        _.plural("{n} poll", "{n} polls", len(all_polls)) + " · "
        + _.plural("{n} question", "{n} questions", asked) + " "
        + _("({answered} answered)", answered=answered) + " · "
        + _.plural("{n} check-in", "{n} check-ins", attended),
    ]))


# -- automatic binding at session start -------------------------------------------------------


async def autobind(services: Services) -> None:
    """Bind configured chats to the sessions that have started, then set the next alarm."""
    now = services.clock.now()
    calendars = services.store.calendars
    next_start = None
    for feed in services.config.feeds:
        if not feed.live_chats:
            continue
        current = await calendars.occurrences_between(now, now + timedelta(seconds=1), calendar=feed.name)
        started = [o for o in current if o.start <= now and not o.all_day]
        if started:
            newest = max(started, key=lambda o: (o.start, o.id))
            for chat_id in feed.live_chats:
                await _bind_automatically(services, chat_id, newest)
        upcoming = await calendars.occurrences_between(now, now + LOOKAHEAD, calendar=feed.name)
        starts = [o.start for o in upcoming if o.start > now and not o.all_day]
        if starts and (next_start is None or min(starts) < next_start):
            next_start = min(starts)
    if next_start is not None:
        async def fire() -> None:
            await autobind(services)

        services.alarms.at(NEXT_JOB, next_start, once_across(services, NEXT_JOB, fire, catch_up=True))


async def _bind_automatically(services: Services, chat_id: str, o: Occurrence) -> None:
    live = services.store.live
    if await live.was_bound(chat_id, o.id):
        return
    if not any(a.name == platform_of(chat_id) for a in services.messenger.adapters):
        return  # bind when the bot runs on that platform, so the room is told
    await live.bind_chat(chat_id, o.id, "", services.clock.now())
    try:
        _ = await room_translator(services, chat_id)
        await services.messenger.send(Outgoing(text=live_line(o, _, services),
                                               chat=ChatRef(chat_id, ChatKind.GROUP), kind="notice"))
    except DeliveryFailed:
        log.warning("bound %s to %s but could not tell the room", chat_id, o.id, exc_info=True)


async def setup(services: Services, stack: AsyncExitStack) -> None:
    if not any(feed.live_chats for feed in services.config.feeds):
        return

    async def scan() -> None:
        await autobind(services)

    # The first scan waits a moment: features are set up before the adapters start, and a
    # "now live" line can only be posted once they have.
    services.alarms.every(SCAN_JOB, SCAN_EVERY, once_across(services, SCAN_JOB, scan),
                          first=services.clock.now() + FIRST_SCAN_AFTER)


def register(router: Router) -> None:
    router.add(CommandSpec(
        "live", N_("Facilitators: make this chat live for a session (/live EVENT), or /live end."), live,
        params=(Param("event", N_("A session id or title words, or end"), kind="event", required=False,
                      rest=True),),
        usage_hint="EVENT|end"))
