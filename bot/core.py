"""The bot's front door: every message from every adapter comes through ``Bot.handle``."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.context import Context
from bot.i18n import LANGUAGES, translator
from bot.models import Incoming, Role, UserSettings
from bot.services import Services

log = logging.getLogger(__name__)


class Bot:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def role_of(self, user_id: str) -> Role:
        """Organisers come from config; anyone with a facilitator grant is a facilitator
        (handlers check event-scoped grants against the session at hand)."""
        if user_id in self.organisers:
            return Role.ORGANISER
        if await self.services.store.people.facilitator_grants(user_id):
            return Role.FACILITATOR
        return Role.ATTENDEE

    @property
    def organisers(self) -> set[str]:
        config = self.services.config
        organisers = set(config.organisers)
        if not any(o.startswith("console:") for o in organisers):
            organisers.add(f"console:{config.console_user}")
        return organisers

    def language_for(self, settings: UserSettings, locale: str | None = None,
                     chat_language: str | None = None) -> str:
        """The person's own choice; else the chat's (``/language xx --here``); else what their
        app says (Discord has no Welsh, so a Welsh room outranks it); else the configured one."""
        if settings.language:
            return settings.language
        if chat_language:
            return chat_language
        hint = (locale or "").split("-")[0].split("_")[0].lower()
        return hint if hint in LANGUAGES else self.services.config.language

    async def context_for(self, incoming: Incoming) -> Context:
        people = self.services.store.people
        settings = await people.get_settings(incoming.user.id)
        user = incoming.user
        # An adapter that knows the person gives a name; only then is a missing username news.
        if user.name and (settings.display_name != user.name or settings.username != user.username):
            settings = replace(settings, display_name=user.name, username=user.username)
            try:
                await people.save_settings(settings)
            except Exception:  # the person still gets their answer; the name is stored next time
                log.exception("could not store the name of %s", user.id)
        role = await self.role_of(incoming.user.id)
        chat_language = None if incoming.chat.is_private else await people.chat_language(incoming.chat.id)
        return Context(incoming=incoming, services=self.services, settings=settings, role=role,
                       _=translator(self.language_for(settings, incoming.locale, chat_language)))

    async def handle(self, incoming: Incoming) -> None:
        """Answer one message or button press. Never raises: a failure is logged and, where
        possible, the person is told in one line."""
        try:
            ctx = await self.context_for(incoming)
        except Exception:
            log.exception("could not prepare context for %s in %s", incoming.user.id, incoming.chat.id)
            return
        if incoming.chat.is_private:
            try:
                await self.services.heard_in_private(incoming.user.id)
            except Exception:
                log.exception("could not note that %s wrote privately", incoming.user.id)
        await self.services.router.dispatch(ctx, incoming)
