"""The programme and subscriptions: /events, /subscribe, /unsubscribe, /mine."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot.commands.link import where_reminders_go
from bot.commands.router import CommandSpec, Param, ParsedCommand, PerPerson, Router
from bot.commands.targets import resolve_target
from bot.context import Context
from bot.errors import UsageError
from bot.i18n import N_
from bot.identities import platform_name
from bot.models import Button, Occurrence, Subscription, SubscriptionScope, platform_of
from bot.ports import Capability
from bot.reminders.commands import describe_delivery
from bot.render import occurrence_line
from bot.timeutil import day_bounds, format_duration, parse_date

UPCOMING_LIMIT = 10
PER_MINUTE = PerPerson(10, timedelta(minutes=1))


async def _occurrences(ctx: Context, start: datetime, end: datetime) -> list[Occurrence]:
    calendars = getattr(ctx.services, "calendars", None)
    if calendars is not None:
        found: list[Occurrence] = await calendars.occurrences_between(start, end)
        return found
    return await ctx.services.store.calendars.occurrences_between(start, end)


async def events(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    now, tz = ctx.now, ctx.timezone
    query = cmd.args.get("when", "").strip()
    word = query.lower()
    if word in {"", "upcoming"}:
        found = (await _occurrences(ctx, now, now + timedelta(days=400)))[:UPCOMING_LIMIT]
        heading = _("Sessions on now and coming up:")
    elif word == "today":
        found = await _occurrences(ctx, *day_bounds(now.astimezone(tz).date(), tz))
        heading = _("Sessions today:")
    elif word == "week":
        found = await _occurrences(ctx, now, now + timedelta(days=7))
        heading = _("Sessions in the next 7 days:")
    elif query[:4].isdigit() and "-" in query:
        day = parse_date(query)
        found = await _occurrences(ctx, *day_bounds(day, tz))
        heading = _("Sessions on {date}:", date=day.isoformat())
    else:
        found = await ctx.services.store.calendars.search_occurrences(query, after=now, limit=UPCOMING_LIMIT)
        heading = _("Sessions matching “{query}”:", query=query)
    if not found and word in {"", "upcoming"}:
        await ctx.reply(await _nothing_upcoming(ctx))
        return
    if not found:
        await ctx.reply(_("No sessions found. Try /events for what is coming up."))
        return
    lines = [heading, *(occurrence_line(o, tz, _, now) for o in found),
             _("Subscribe with /subscribe ID (or /subscribe all).")]
    buttons: tuple[tuple[Button, ...], ...] = ()
    if ctx.services.messenger.can(ctx.chat.id, Capability.BUTTONS):
        buttons = tuple((Button(_("🔔 {title}", title=o.title[:40]), f"sub:{o.id}"),) for o in found[:8])
    await ctx.reply("\n".join(lines), buttons=buttons)


async def _nothing_upcoming(ctx: Context) -> str:
    """No future sessions: say so, and show the most recent ones so the programme is visible."""
    _ = ctx._
    recent = await _occurrences(ctx, ctx.now - timedelta(days=800), ctx.now)
    if not recent:
        return _("No sessions found. Organisers can load a programme with /import.")
    lines = [_("No upcoming sessions. The most recent were:")]
    lines += [occurrence_line(o, ctx.timezone, _, ctx.now) for o in recent[-3:]]
    return "\n".join(lines)


async def _subscribe(ctx: Context, query: str) -> None:
    _ = ctx._
    people = ctx.services.store.people
    if query.lower() == "all":
        added = await people.subscribe(Subscription(ctx.user.id, SubscriptionScope.ALL))
        await ctx.reply(_("You will be reminded of every session.") if added
                        else _("You already follow every session."))
    else:
        target = await resolve_target(ctx, query)
        added = await people.subscribe(Subscription(ctx.user.id, target.scope, target.id))
        if target.scope is SubscriptionScope.SERIES:
            text = (_("Subscribed to every session of “{title}”.", title=target.title) if added
                    else _("You already follow “{title}”.", title=target.title))
        else:
            text = (_("Subscribed to “{title}”.", title=target.title) if added
                    else _("You already follow “{title}”.", title=target.title))
        await ctx.reply(text)
    await _remember_chat(ctx)
    await ctx.services.person_changed(ctx.user.id)


async def _remember_chat(ctx: Context) -> None:
    """Keep the shared chat people subscribe from, for channel delivery and for telling
    them there if their private messages stop arriving."""
    if not ctx.chat.is_private and ctx.settings.delivery_chat != ctx.chat.id:
        settings = await ctx.services.store.people.get_settings(ctx.user.id)
        await ctx.services.store.people.save_settings(replace(settings, delivery_chat=ctx.chat.id))


async def subscribe(ctx: Context, cmd: ParsedCommand) -> None:
    await _subscribe(ctx, cmd.args["event"])


async def unsubscribe(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    people = ctx.services.store.people
    query = cmd.args["event"]
    if query.lower() == "all":
        removed = await people.unsubscribe_all(ctx.user.id)
        await ctx.reply(_.plural("Unsubscribed from {n} subscription.", "Unsubscribed from {n} subscriptions.",
                                 removed) if removed else _("You had no subscriptions."))
    else:
        target = await resolve_target(ctx, query)
        removed = await people.unsubscribe(Subscription(ctx.user.id, target.scope, target.id))
        if not removed and target.occurrence is not None:
            # Unsubscribing one session of a followed series is the natural reading.
            removed = await people.unsubscribe(
                Subscription(ctx.user.id, SubscriptionScope.SERIES, target.occurrence.series_id))
        await ctx.reply(_("Unsubscribed from “{title}”.", title=target.title) if removed
                        else _("You were not subscribed to “{title}”.", title=target.title))
    await ctx.services.person_changed(ctx.user.id)


async def mine(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    store = ctx.services.store
    subs = await store.people.subscriptions_of(ctx.user.id)
    config = ctx.services.config
    offsets = ctx.settings.offsets or config.offsets
    lines = [_("Your settings: time zone {zone}, reminders {offsets} before, language {language}.",
               zone=ctx.timezone.key, offsets=", ".join(format_duration(o, _) for o in offsets),
               language=ctx.language)]
    settings = await store.people.get_settings(ctx.user.id)
    lines.append(describe_delivery(settings, _))
    accounts = await store.people.accounts_of(ctx.user.id)
    if len(accounts) > 1:
        lines.append(_("Linked accounts: {platforms}; reminders come {where}.",
                       platforms=", ".join(platform_name(platform_of(a)) for a in accounts),
                       where=where_reminders_go(settings, accounts, _)))
    if not subs:
        lines.append(_("You follow no sessions yet. Try /events, then /subscribe ID."))
    for sub in subs:
        if sub.scope is SubscriptionScope.ALL:
            lines.append(_("• every session"))
        elif sub.scope is SubscriptionScope.SERIES:
            series = await store.calendars.find_series(sub.target)
            title = series.title if series else sub.target
            lines.append(_("• every session of “{title}” [{id}]", title=title, id=sub.target))
        else:
            o = await store.calendars.get_occurrence(sub.target)
            lines.append("• " + (occurrence_line(o, ctx.timezone, _, ctx.now) if o
                                 else _("a session that is no longer in the programme [{id}]", id=sub.target)))
    await ctx.reply("\n".join(lines))


async def subscribe_button(ctx: Context, parts: list[str]) -> None:
    if len(parts) != 1:
        raise UsageError(N_("That button is no longer valid."))
    await _subscribe(ctx, parts[0])


async def unsubscribe_button(ctx: Context, parts: list[str]) -> None:
    if len(parts) != 1:
        raise UsageError(N_("That button is no longer valid."))
    await unsubscribe(ctx, ParsedCommand("unsubscribe", {"event": parts[0]}, {}))


def register(router: Router) -> None:
    router.add(CommandSpec(
        "events", N_("List sessions: today, week, a date (YYYY-MM-DD) or words from a title."), events,
        params=(Param("when", N_("today, week, a date or words"), required=False, rest=True),),
        usage_hint="[today|week|DATE|words]", limit=PER_MINUTE))
    router.add(CommandSpec(
        "subscribe", N_("Get reminders for a session, a series, or all."), subscribe,
        params=(Param("event", N_("A session id, series id, title words, or all"), kind="event", rest=True),),
        usage_hint="EVENT|all", limit=PER_MINUTE))
    router.add(CommandSpec(
        "unsubscribe", N_("Stop reminders for a session, a series, or all."), unsubscribe,
        params=(Param("event", N_("A session id, series id, title words, or all"), kind="event", rest=True),),
        usage_hint="EVENT|all", limit=PER_MINUTE))
    router.add(CommandSpec("mine", N_("Show your subscriptions and settings."), mine, limit=PER_MINUTE))
    router.action("sub", counts_as="subscribe")(subscribe_button)
    router.action("unsub", counts_as="unsubscribe")(unsubscribe_button)
