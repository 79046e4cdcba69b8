"""Suggestions for command parameters, for platforms with autocomplete."""

from __future__ import annotations

from datetime import timedelta

from bot.i18n import LANGUAGES
from bot.services import Services
from bot.timeutil import zone_names

LIMIT = 25


class Completer:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def __call__(self, kind: str, prefix: str, user_id: str) -> list[tuple[str, str]]:
        prefix = prefix.strip()
        if kind == "timezone":
            low = prefix.lower()
            return [(z, z) for z in zone_names() if low in z.lower()][:LIMIT]
        if kind == "language":
            return [(f"{name} ({code})", code) for code, name in LANGUAGES.items()
                    if prefix.lower() in f"{name} {code}".lower()]
        if kind == "event":
            store = self._services.store.calendars
            now = self._services.clock.now()
            if prefix:
                found = await store.search_occurrences(prefix, after=now, limit=LIMIT)
            else:
                found = await store.occurrences_between(now, now + timedelta(days=60))
            return [(f"{o.title[:80]} · {o.start:%Y-%m-%d %H:%M} UTC"[:100], o.id) for o in found[:LIMIT]]
        return []
