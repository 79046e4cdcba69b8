"""What a command handler gets: who asked, where, in which language, and the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.errors import DeliveryFailed, PermissionDenied
from bot.i18n import N_, Translator
from bot.models import (
    Attachment,
    Button,
    ChatRef,
    Delivered,
    Incoming,
    Occurrence,
    Outgoing,
    PollSpec,
    Role,
    UserRef,
    UserSettings,
)
from bot.ports import Capability
from bot.timeutil import zone

if TYPE_CHECKING:
    from bot.services import Services


async def facilitates(services: Services, role: Role, user_id: str, occurrence: Occurrence | None) -> bool:
    """Whether someone with ``role`` may run ``occurrence``: organisers everywhere, facilitators
    granted globally or for its series or the occurrence itself."""
    if role >= Role.ORGANISER:
        return True
    grants = await services.store.people.facilitator_grants(user_id)
    scopes = {g.event for g in grants}
    if "" in scopes:
        return True
    return occurrence is not None and bool(scopes & {occurrence.id, occurrence.series_id})


@dataclass(slots=True)
class Context:
    """One incoming message being handled."""

    incoming: Incoming
    services: Services
    settings: UserSettings
    role: Role
    _: Translator

    @property
    def user(self) -> UserRef:
        return self.incoming.user

    @property
    def chat(self) -> ChatRef:
        return self.incoming.chat

    @property
    def now(self) -> datetime:
        return self.services.clock.now()

    @property
    def timezone(self) -> ZoneInfo:
        return zone(self.settings.timezone or self.services.config.timezone)

    @property
    def language(self) -> str:
        return self._.language

    async def reply(self, text: str, *, buttons: tuple[tuple[Button, ...], ...] = (),
                    attachment: Attachment | None = None, poll: PollSpec | None = None,
                    starts_at: datetime | None = None, kind: str = "reply") -> Delivered:
        """Answer in the chat the message came from."""
        return await self.services.messenger.send(Outgoing(
            text=text, chat=self.chat, buttons=buttons, attachment=attachment, poll=poll,
            starts_at=starts_at, kind=kind))

    async def reply_private(self, text: str, *, buttons: tuple[tuple[Button, ...], ...] = (),
                            attachment: Attachment | None = None) -> Delivered:
        """Answer the person alone (their DM where the platform has one)."""
        return await self.services.messenger.send(Outgoing(
            text=text, user=self.user, buttons=buttons, attachment=attachment, kind="private"))

    async def reply_in_private(self, text: str, *, attachment: Attachment | None = None,
                               fallback: str | None = None) -> Delivered:
        """Answer the person alone where the platform allows it; otherwise, or if the private
        message fails, answer in this chat (with ``fallback`` instead of ``text`` when what is
        private must not be shown to the room)."""
        if self.chat.is_private:
            return await self.reply(text, attachment=attachment)
        if self.services.messenger.can(self.user.id, Capability.DIRECT_MESSAGES):
            try:
                return await self.reply_private(text, attachment=attachment)
            except DeliveryFailed:
                pass
        return await self.reply(text if fallback is None else fallback,
                                attachment=attachment if fallback is None else None)

    async def is_facilitator_for(self, occurrence: Occurrence | None) -> bool:
        """Organisers everywhere; facilitators globally or for this series or occurrence."""
        return await facilitates(self.services, self.role, self.user.id, occurrence)

    async def require_facilitator(self, occurrence: Occurrence | None, command: str) -> None:
        if not await self.is_facilitator_for(occurrence):
            raise PermissionDenied(N_("Only facilitators and organisers can use /{name}."), name=command)
