"""Facilitator rights: /facilitator add|remove|list NAME [EVENT] (organisers only)."""

from __future__ import annotations

import re

from bot.commands.router import CommandSpec, Param, ParsedCommand, Router
from bot.commands.targets import resolve_target
from bot.context import Context
from bot.errors import UserError
from bot.i18n import N_
from bot.models import FacilitatorGrant, Role

_DISCORD_MENTION = re.compile(r"^<@!?(\d+)>$")
_PLATFORMS = ("console", "telegram", "discord", "fake")


async def resolve_person(ctx: Context, name: str) -> str:
    """A mention, a username or a namespaced id -> namespaced user id.

    Raises:
        UserError: Unknown, or ambiguous, name.
    """
    mention = _DISCORD_MENTION.match(name)
    if mention:
        return f"discord:{mention.group(1)}"
    platform, colon, rest = name.partition(":")
    if colon and rest and platform in _PLATFORMS:
        return name
    bare = name.lstrip("@")
    people = ctx.services.store.people
    found = await people.find_user_by_name(bare, ctx.user.platform) or await people.find_user_by_name(bare)
    if len(found) == 1:
        return found[0]
    if ctx.user.platform == "console" and not found:
        return f"console:{bare}"
    if not found:
        raise UserError(N_("I don't know “{name}” yet. Ask them to message me first, or use their id "
                           "(like telegram:1001)."), name=name)
    raise UserError(N_("Several people are called “{name}”: {ids}. Use one of these ids."),
                    name=name, ids=", ".join(found))


async def facilitator(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    people = ctx.services.store.people
    action = cmd.args["action"]
    if action == "list":
        grants = await people.facilitator_grants()
        if not grants:
            await ctx.reply(_("No facilitators yet. Add one with /facilitator add NAME [EVENT]."))
            return
        lines = [_("Facilitators:")]
        lines += [f"• {g.user_id} — " + (_("every session") if not g.event else g.event) for g in grants]
        await ctx.reply("\n".join(lines))
        return
    name = cmd.args.get("name")
    if not name:
        raise UserError(N_("Usage: {usage}"), usage="/facilitator add|remove NAME [EVENT]")
    user_id = await resolve_person(ctx, name)
    event_query = cmd.args.get("event")
    event_id, label = "", _("every session")
    if event_query:
        target = await resolve_target(ctx, event_query)
        event_id, label = target.id, f"“{target.title}”"
    if action == "add":
        added = await people.grant_facilitator(FacilitatorGrant(user_id, event_id, ctx.user.id))
        await ctx.reply(_("{user} now facilitates {what}.", user=user_id, what=label) if added
                        else _("{user} already facilitates {what}.", user=user_id, what=label))
    else:
        removed = await people.revoke_facilitator(user_id, event_id)
        await ctx.reply(_("{user} no longer facilitates {what}.", user=user_id, what=label) if removed
                        else _("{user} was not a facilitator of {what}.", user=user_id, what=label))


def register(router: Router) -> None:
    router.add(CommandSpec(
        "facilitator", N_("Organisers: name or remove facilitators, globally or for one event."),
        facilitator, role=Role.ORGANISER,
        params=(Param("action", N_("add, remove or list"), kind="choice", choices=("add", "remove", "list")),
                Param("name", N_("A mention, username or id like telegram:1001"), required=False),
                Param("event", N_("A session or series id, or title words"), kind="event",
                      required=False, rest=True)),
        usage_hint="add|remove|list [NAME] [EVENT]"))
