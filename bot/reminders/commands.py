"""Personal reminder settings: /delivery dm|channel and /quiet HH:MM-HH:MM|off.

(/remind and /timezone live in ``bot.commands.basic``; every one of them replans through
``services.person_changed``.)
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from bot.commands.router import CommandSpec, Param, ParsedCommand, PerPerson, Router
from bot.context import Context
from bot.errors import UsageError, UserError
from bot.i18n import N_, Translator
from bot.models import Delivery, UserSettings
from bot.ports import Capability

# Each of these settings replans the person's reminders.
SETTINGS = PerPerson(5, timedelta(minutes=1))
_QUIET = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)$")


def format_minutes(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def describe_delivery(settings: UserSettings, _: Translator) -> str:
    """One line for /mine: where reminders go and the quiet hours."""
    if settings.delivery is Delivery.CHANNEL and settings.delivery_chat:
        where = _("in the chat you subscribed from")
    else:
        where = _("by private message")
    if settings.quiet_start is not None and settings.quiet_end is not None:
        quiet = _("quiet hours {start}–{end}", start=format_minutes(settings.quiet_start),
                  end=format_minutes(settings.quiet_end))
    else:
        quiet = _("no quiet hours")
    return _("Reminders come {where}; {quiet}.", where=where, quiet=quiet)


async def delivery(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    choice = cmd.args["mode"].lower()
    settings = await ctx.services.store.people.get_settings(ctx.user.id)
    if choice == Delivery.CHANNEL.value:
        chat = settings.delivery_chat if ctx.chat.is_private else ctx.chat.id
        if not chat:
            raise UserError(N_("Send /delivery channel in the group where you want your reminders."))
        await ctx.services.store.people.save_settings(replace(settings, delivery=Delivery.CHANNEL,
                                                              delivery_chat=chat))
        text = _("Your reminders will come in this chat.") if chat == ctx.chat.id else _(
            "Your reminders will come in the chat you subscribed from.")
    else:
        if not ctx.services.messenger.can(ctx.user.id, Capability.DIRECT_MESSAGES):
            raise UserError(N_("I cannot send private messages on this platform; use /delivery channel."))
        # From this account: of a person's linked accounts, the one private reminders go to.
        await ctx.services.store.people.save_settings(replace(settings, delivery=Delivery.DIRECT,
                                                              delivery_user=ctx.user.id))
        # Asking for private messages again is the person's word that they can now be reached.
        await ctx.services.store.reminders.clear_unreachable(ctx.user.id)
        text = _("Your reminders will come by private message.")
    await ctx.services.person_changed(ctx.user.id)
    await ctx.reply(text)


async def quiet(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    value = cmd.args["hours"].strip().lower()
    settings = await ctx.services.store.people.get_settings(ctx.user.id)
    if value == "off":
        settings = replace(settings, quiet_start=None, quiet_end=None)
        text = _("Quiet hours are off.")
    else:
        match = _QUIET.match(value)
        if not match:
            raise UsageError(N_("Give quiet hours as HH:MM-HH:MM (e.g. 22:00-07:00), or off."))
        start = int(match.group(1)) * 60 + int(match.group(2))
        end = int(match.group(3)) * 60 + int(match.group(4))
        if start == end:
            raise UsageError(N_("Quiet hours must start and end at different times."))
        settings = replace(settings, quiet_start=start, quiet_end=end)
        text = _("Quiet hours {start}–{end}: a reminder that would come then comes just before {start} "
                 "instead.", start=format_minutes(start), end=format_minutes(end))
    await ctx.services.store.people.save_settings(settings)
    await ctx.services.person_changed(ctx.user.id)
    await ctx.reply(text)


def register(router: Router) -> None:
    router.add(CommandSpec(
        "delivery", N_("Get reminders by private message (dm) or in the chat you subscribed from (channel)."),
        delivery, params=(Param("mode", N_("dm or channel"), kind="choice",
                                choices=(Delivery.DIRECT.value, Delivery.CHANNEL.value)),),
        usage_hint="dm|channel", limit=SETTINGS))
    router.add(CommandSpec(
        "quiet", N_("Set quiet hours without reminders, e.g. 22:00-07:00, or off."), quiet,
        params=(Param("hours", N_("HH:MM-HH:MM or off")),), usage_hint="HH:MM-HH:MM|off", limit=SETTINGS))
