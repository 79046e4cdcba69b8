"""The translation layer. Every user-facing string goes through it.

Source strings are English msgids marked with ``_()`` (or ``N_()`` where a string is only
declared, e.g. in a table, and translated later). Catalogs live in ``bot/locale/<lang>/
LC_MESSAGES/eventbot.mo``; a language without a catalog falls back to the English source,
so Welsh can be added by dropping in a catalog, without touching the code.

    _ = translator("cy")
    _("Subscribed to {title}.", title=occurrence.title)
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.models import UserSettings
    from bot.ports import PeopleRepository

DOMAIN = "eventbot"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES: dict[str, str] = {"en": "English", "cy": "Cymraeg"}
DEFAULT_LANGUAGE = "en"


def N_(msgid: str) -> str:
    """Mark a string for extraction without translating it here."""
    return msgid


class Translator:
    """Translate msgids into one language and fill ``{placeholders}`` after translation."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._catalog: gettext.NullTranslations = gettext.translation(
            DOMAIN, localedir=LOCALE_DIR, languages=[self.language], fallback=True
        )

    def __call__(self, msgid: str, /, **params: Any) -> str:
        text = self._catalog.gettext(msgid)
        return text.format(**params) if params else text

    def plural(self, singular: str, plural: str, n: int, /, **params: Any) -> str:
        text = self._catalog.ngettext(singular, plural, n)
        return text.format(n=n, **params)


@functools.cache
def translator(language: str | None) -> Translator:
    """Return the (cached) translator for a language code; unknown codes get English."""
    return Translator((language or DEFAULT_LANGUAGE).split("-")[0].split("_")[0].lower())


async def reader_language(people: PeopleRepository, settings: UserSettings, chat_id: str | None,
                          default: str) -> str:
    """The language to write to someone in: their own choice; else, for a message into a
    shared chat, that chat's (``/language xx --here``); else ``default``."""
    if settings.language:
        return settings.language
    if chat_id:
        return await people.chat_language(chat_id) or default
    return default
