"""Personal settings and help: /help, /start, /timezone, /remind, /language."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.commands.router import CommandSpec, Flag, Param, ParsedCommand, PerPerson, Router
from bot.context import Context
from bot.errors import PermissionDenied, UserError
from bot.i18n import LANGUAGES, N_, translator
from bot.models import Role
from bot.timeutil import format_duration, parse_offsets, zone

SUBSCRIBE_PAYLOAD = "sub_"
# Each of these settings replans the person's reminders.
SETTINGS = PerPerson(5, timedelta(minutes=1))


async def help_(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    lines = [_("eventbot keeps you on time for the sessions you care about. Commands:")]
    lines += ctx.services.router.help_lines(_, ctx.role)
    await ctx.reply("\n".join(lines))


async def start(ctx: Context, cmd: ParsedCommand) -> None:
    """``/start`` greets with the help text. Telegram deep links (``t.me/BOT?start=sub_ID``,
    built by the Telegram adapter) arrive as ``/start sub_ID`` and subscribe the person."""
    payload = cmd.args.get("payload", "")
    if payload.startswith(SUBSCRIBE_PAYLOAD) and len(payload) > len(SUBSCRIBE_PAYLOAD):
        from bot.commands.schedule import subscribe

        await subscribe(ctx, ParsedCommand("subscribe", {"event": payload[len(SUBSCRIBE_PAYLOAD):]}, {}))
        return
    await help_(ctx, cmd)


async def timezone(ctx: Context, cmd: ParsedCommand) -> None:
    tz = zone(cmd.args["zone"])
    await ctx.services.store.people.save_settings(replace(ctx.settings, timezone=tz.key))
    await ctx.services.person_changed(ctx.user.id)
    now_there = ctx.now.astimezone(tz)
    await ctx.reply(ctx._("Your time zone is now {zone} (it is {time} there).",
                          zone=tz.key, time=f"{now_there:%H:%M}"))


async def remind(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    words = [cmd.args["offsets"], *cmd.extra]
    people = ctx.services.store.people
    if len(words) == 1 and words[0].lower() == "default":
        await people.save_settings(replace(ctx.settings, offsets=None))
        offsets = ctx.services.config.offsets
    else:
        offsets = parse_offsets(words)
        await people.save_settings(replace(ctx.settings, offsets=offsets))
    await ctx.services.person_changed(ctx.user.id)
    await ctx.reply(_("You will be reminded {offsets} before each session you follow.",
                      offsets=", ".join(format_duration(o, _) for o in offsets)))


async def _facilitates_live_session(ctx: Context) -> bool:
    binding = await ctx.services.store.live.binding_for(ctx.chat.id)
    if binding is None:
        return False
    return await ctx.is_facilitator_for(await ctx.services.store.calendars.get_occurrence(binding.occurrence_id))


async def language(ctx: Context, cmd: ParsedCommand) -> None:
    """``/language cy`` for oneself; ``/language cy --here`` for a group chat as a whole: what is
    posted to the room, and replies to everyone there who has not chosen their own."""
    code = cmd.args["language"]
    _ = translator(code)
    if cmd.flag("here"):
        if ctx.chat.is_private:
            raise UserError(N_("--here sets the language of a group chat: send it in that chat."))
        # Organisers anywhere; otherwise only a facilitator of the session live in this room.
        if ctx.role < Role.ORGANISER and not await _facilitates_live_session(ctx):
            raise PermissionDenied(N_("Only organisers, and facilitators of the session live in this chat, "
                                      "can set the language of a chat."))
        await ctx.services.store.people.set_chat_language(ctx.chat.id, code, int(ctx.now.timestamp()))
        await ctx.reply(_("I will write in this chat in {language}, except to people who chose their own "
                          "language with /language.", language=LANGUAGES[code]))
        return
    await ctx.services.store.people.save_settings(replace(ctx.settings, language=code))
    await ctx.reply(_("I will write to you in {language}.", language=LANGUAGES[code]))


def register(router: Router) -> None:
    router.add(CommandSpec("help", N_("Show what I can do."), help_))
    router.add(CommandSpec(
        "start", N_("Start here: what I can do."), start,
        params=(Param("payload", N_("A start code from a link, such as sub_ID"), required=False),),
        usage_hint="", limit=PerPerson(10, timedelta(minutes=1))))
    router.add(CommandSpec(
        "timezone", N_("Set the time zone your times are shown in."), timezone,
        params=(Param("zone", N_("An IANA zone such as Europe/London"), kind="timezone"),), limit=SETTINGS))
    router.add(CommandSpec(
        "remind", N_("Choose how long before a session you are reminded (e.g. 1d 15m)."), remind,
        params=(Param("offsets", N_("Offsets such as 1d 15m, or default"), kind="duration"),),
        variadic=True, usage_hint="OFFSETS… (e.g. 1d 15m)", limit=SETTINGS))
    router.add(CommandSpec(
        "language", N_("Choose English or Welsh."), language,
        params=(Param("language", N_("en or cy"), kind="language", choices=tuple(LANGUAGES)),),
        flags=(Flag("here", N_("For this whole group chat (organisers and facilitators)")),), limit=SETTINGS))
