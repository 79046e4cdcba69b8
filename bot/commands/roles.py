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


def _namespaced(name: str) -> str | None:
    mention = _DISCORD_MENTION.match(name)
    if mention:
        return f"discord:{mention.group(1)}"
    platform, colon, rest = name.partition(":")
    if colon and rest and platform in _PLATFORMS:
        return name
    return None


def _names_a_person(name: str) -> bool:
    """Whether a word is meant as a person rather than the first word of an event."""
    return name.startswith("@") or _namespaced(name) is not None


async def resolve_person(ctx: Context, name: str) -> str:
    """A platform identity -> namespaced user id: a mention that carries an id (Discord
    ``<@id>``, a Telegram text mention), a username the platform keeps unique, or a
    namespaced id. A display name is never enough: anyone can take one.

    Raises:
        UserError: Unknown, or known only by a display name, or ambiguous.
    """
    namespaced = _namespaced(name)
    if namespaced:
        return namespaced
    bare = name.lstrip("@")
    for mentioned in ctx.incoming.mentions:
        if (mentioned.name or "").lstrip("@").casefold() == bare.casefold():
            return mentioned.id
    people = ctx.services.store.people
    found = (await people.find_user_by_username(bare, ctx.user.platform)
             or await people.find_user_by_username(bare))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise UserError(N_("Several people have the username “{name}”: {ids}. Use one of these ids."),
                        name=name, ids=", ".join(found))
    if ctx.user.platform == "console":
        return f"console:{bare}"  # console names are typed by the operator: each is one person
    by_display = await people.find_user_by_name(bare)
    if by_display:
        raise UserError(N_("“{name}” is only a display name, which anyone can take. Mention the person, "
                           "reply to one of their messages, or use their id: {ids}."),
                        name=name, ids=", ".join(by_display))
    raise UserError(N_("I don't know “{name}” yet. Ask them to message me first, or use their id "
                       "(like telegram:1001)."), name=name)


async def _who(ctx: Context, user_id: str) -> str:
    """``telegram:1001 (@megan)``: the id granted, and the username it holds, for the record."""
    username = (await ctx.services.store.people.get_settings(user_id)).username
    return f"{user_id} (@{username})" if username else user_id


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
        lines += [f"• {await _who(ctx, g.user_id)} — " + (_("every session") if not g.event else g.event)
                  for g in grants]
        await ctx.reply("\n".join(lines))
        return
    name = cmd.args.get("name")
    event_query = cmd.args.get("event")
    reply_to = ctx.incoming.reply_to
    if reply_to is not None and (not name or not _names_a_person(name)):
        # Sent as a reply: the person is the one replied to, and every word names the event.
        user_id = reply_to.id
        event_query = " ".join(w for w in (name, event_query) if w) or None
    elif not name:
        raise UserError(N_("Usage: {usage}"), usage="/facilitator add|remove NAME [EVENT]")
    else:
        user_id = await resolve_person(ctx, name)
    event_id, label = "", _("every session")
    if event_query:
        target = await resolve_target(ctx, event_query)
        event_id, label = target.id, f"“{target.title}”"
    who = await _who(ctx, user_id)
    if action == "add":
        added = await people.grant_facilitator(FacilitatorGrant(user_id, event_id, ctx.user.id))
        await ctx.reply(_("{user} now facilitates {what}.", user=who, what=label) if added
                        else _("{user} already facilitates {what}.", user=who, what=label))
    else:
        removed = await people.revoke_facilitator(user_id, event_id)
        await ctx.reply(_("{user} no longer facilitates {what}.", user=who, what=label) if removed
                        else _("{user} was not a facilitator of {what}.", user=who, what=label))


def register(router: Router) -> None:
    router.add(CommandSpec(
        "facilitator", N_("Organisers: name or remove facilitators, globally or for one event."),
        facilitator, role=Role.ORGANISER,
        params=(Param("action", N_("add, remove or list"), kind="choice", choices=("add", "remove", "list")),
                Param("name", N_("A mention, username or id like telegram:1001"), required=False),
                Param("event", N_("A session or series id, or title words"), kind="event",
                      required=False, rest=True)),
        usage_hint="add|remove|list [NAME] [EVENT]"))
