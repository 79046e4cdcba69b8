"""Finding what a person means by ``EVENT``: an occurrence id, a series id, or title words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.context import Context
from bot.errors import EventNotFound, UserError
from bot.i18n import N_
from bot.models import Occurrence, SubscriptionScope
from bot.render import occurrence_line


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved EVENT argument: one occurrence, or a whole series."""

    scope: SubscriptionScope
    id: str
    title: str
    occurrence: Occurrence | None = None


async def resolve_target(ctx: Context, query: str) -> Target:
    """Resolve an EVENT argument.

    Raises:
        EventNotFound: Nothing matches.
        UserError: Several series match; the message lists them with their ids.
    """
    calendars = ctx.services.store.calendars
    key = query.strip().lower()
    occurrence = await calendars.get_occurrence(key)
    if occurrence is not None:
        return Target(SubscriptionScope.OCCURRENCE, occurrence.id, occurrence.title, occurrence)
    series = await calendars.find_series(key)
    if series is not None:
        return Target(SubscriptionScope.SERIES, series.series_id, series.title)
    matches = await calendars.search_occurrences(query, after=ctx.now - timedelta(days=1), limit=50)
    if not matches:
        raise EventNotFound(query)
    by_series: dict[str, list[Occurrence]] = {}
    for o in matches:
        by_series.setdefault(o.series_id, []).append(o)
    if len(by_series) == 1:
        (series_id, found), = by_series.items()
        if len(found) == 1:
            return Target(SubscriptionScope.OCCURRENCE, found[0].id, found[0].title, found[0])
        return Target(SubscriptionScope.SERIES, series_id, found[0].title)
    lines = [occurrence_line(o[0], ctx.timezone, ctx._) for o in list(by_series.values())[:8]]
    raise UserError(N_("Several sessions match “{query}”; use an id:\n{choices}"),
                    query=query, choices="\n".join(lines))


async def resolve_occurrence(ctx: Context, query: str) -> Occurrence:
    """Resolve EVENT to one occurrence: for a series, the one on now or next.

    Raises:
        EventNotFound: Nothing matches, or the series has no current or future session.
    """
    target = await resolve_target(ctx, query)
    if target.occurrence is not None:
        return target.occurrence
    for o in await ctx.services.store.calendars.occurrences_of_series(target.id):
        if o.end > ctx.now:
            return o
    raise EventNotFound(query)
