"""Discord Scheduled Events mirroring the programme (optional: ``discord_events_guild``).

Discord itself holds the mapping from session to event: each mirrored event's description
ends with ``/subscribe <occurrence id>``, which also tells readers how to be reminded. Only
events the bot created carry weight, so events people made by hand are never touched, and
a restart (or a lost database) loses nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import discord

from bot.errors import RateLimited
from bot.models import Occurrence

log = logging.getLogger(__name__)

MARKER = re.compile(r"/subscribe (\S+)\s*$")
NAME_LIMIT = 100
DESCRIPTION_LIMIT = 1000
LOCATION_LIMIT = 100
GUILD_ONLY = 2  # privacy_level
EXTERNAL = 3  # entity_type: somewhere outside Discord, with a location


def event_payload(occurrence: Occurrence) -> dict[str, Any]:
    marker = f"/subscribe {occurrence.id}"
    description = occurrence.description.strip()
    if occurrence.facilitator:
        description = f"{occurrence.facilitator}\n{description}".strip()
    room = DESCRIPTION_LIMIT - len(marker) - 2
    if len(description) > room:
        description = description[: room - 1] + "…"
    location = occurrence.url or occurrence.location or occurrence.calendar
    return {
        "name": occurrence.title[:NAME_LIMIT],
        "privacy_level": GUILD_ONLY,
        "entity_type": EXTERNAL,
        "scheduled_start_time": occurrence.start.isoformat(),
        "scheduled_end_time": occurrence.end.isoformat(),
        "description": f"{description}\n\n{marker}" if description else marker,
        "entity_metadata": {"location": location[:LOCATION_LIMIT]},
    }


def _differs(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return (existing.get("name") != wanted["name"]
            or (existing.get("description") or "") != wanted["description"]
            or (existing.get("entity_metadata") or {}).get("location") != wanted["entity_metadata"]["location"]
            or when(existing.get("scheduled_start_time")) != when(wanted["scheduled_start_time"])
            or when(existing.get("scheduled_end_time")) != when(wanted["scheduled_end_time"]))


async def mirror(client: discord.Client, guild_id: int, occurrences: Sequence[Occurrence], now: datetime) -> None:
    """Create, update and delete the bot's scheduled events in one guild to match."""
    http = client.http
    bot_id = client.user.id if client.user else None
    try:
        existing: list[Any] = list(await http.get_scheduled_events(guild_id, False))
        ours: dict[str, dict[str, Any]] = {}
        for event in existing:
            found = MARKER.search(event.get("description") or "")
            if found and event.get("creator_id") and int(event["creator_id"]) == bot_id:
                ours[found.group(1)] = event
        listed = {o.id for o in occurrences}
        for occurrence_id, stale in ours.items():
            if occurrence_id not in listed:
                await _try(http.delete_scheduled_event(guild_id, stale["id"]), "delete", occurrence_id)
        for occurrence in occurrences:
            if occurrence.start <= now:
                continue  # Discord refuses start times in the past; leave a running one be
            wanted = event_payload(occurrence)
            event = ours.get(occurrence.id)
            if event is None:
                await _try(http.create_guild_scheduled_event(guild_id, **wanted), "create", occurrence.id)
            elif _differs(event, wanted):
                await _try(http.edit_scheduled_event(guild_id, event["id"], **wanted), "update", occurrence.id)
    except discord.RateLimited as exc:
        raise RateLimited(exc.retry_after, f"scheduled events of {guild_id}") from exc


async def _try(request: Any, what: str, occurrence_id: str) -> None:
    """One event failing (a title Discord rejects, say) must not stop the others."""
    try:
        await request
    except discord.RateLimited:
        raise
    except discord.HTTPException as exc:
        log.warning("could not %s the scheduled event of %s: %s (code %s)", what, occurrence_id,
                    exc.status, exc.code)
