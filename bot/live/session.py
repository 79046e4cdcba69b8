"""Which session a live command is about: the one bound to the chat it was sent in.

In a private chat there is no binding, so a person writing to the bot directly (to vote or
ask anonymously, out of sight of the room) is taken to mean the one session that is live
on their platform right now.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.context import Context
from bot.errors import UserError
from bot.i18n import N_, Translator, translator
from bot.models import Occurrence
from bot.services import Services

CHECKIN_OPENS_BEFORE = timedelta(minutes=15)
"""How early before a session starts people may check in (and a private message counts
as being about it)."""


async def room_translator(services: Services, chat_id: str, fallback: Translator | None = None) -> Translator:
    """Messages posted into a shared room speak its language (``/language xx --here``), else
    ``fallback`` (the language of whoever caused the post), else the configured one."""
    language = await services.store.people.chat_language(chat_id)
    if language:
        return translator(language)
    return fallback or translator(services.config.language)


def cpd_hours(o: Occurrence) -> float:
    """The CPD hours a session is worth: X-CPD-HOURS if given, else its length."""
    if o.cpd_hours is not None:
        return float(o.cpd_hours)
    return round(o.duration.total_seconds() / 3600, 2)


def format_hours(hours: float) -> str:
    return f"{hours:g}"


def in_window(o: Occurrence, now: datetime) -> bool:
    return o.start - CHECKIN_OPENS_BEFORE <= now < o.end


async def bound_occurrence(ctx: Context) -> Occurrence | None:
    """The session bound to this chat, or None."""
    binding = await ctx.services.store.live.binding_for(ctx.chat.id)
    if binding is None:
        return None
    return await ctx.services.store.calendars.get_occurrence(binding.occurrence_id)


async def live_occurrence(ctx: Context) -> Occurrence:
    """The session this live command belongs to.

    Raises:
        UserError: The chat is not live (or, privately, no single session is live).
    """
    occurrence = await bound_occurrence(ctx)
    if occurrence is not None:
        return occurrence
    if ctx.chat.is_private:
        live = ctx.services.store.live
        found: dict[str, Occurrence] = {}
        for binding in await live.bindings_on(ctx.chat.platform):
            o = await ctx.services.store.calendars.get_occurrence(binding.occurrence_id)
            if o is not None and in_window(o, ctx.now):
                found[o.id] = o
        if len(found) == 1:
            return next(iter(found.values()))
        if len(found) > 1:
            raise UserError(N_("Several sessions are live right now; send this in the session's chat."))
    raise UserError(N_("No session is live in this chat. A facilitator starts one with /live EVENT."))


