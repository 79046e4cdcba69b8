"""The core's command menu as Discord slash commands.

Each ``CommandSpec`` becomes one ``app_commands.Command`` whose callback re-types the
options as the chat line the router already understands (``/name "arg one" --flag v``), so
a slash command and a typed command are parsed by the same code. Descriptions are
``locale_str``s carrying the msgid; ``MenuTranslator`` localises them for the Discord
locales whose language has a catalog. Discord has no Welsh locale (and refuses a whole bulk
registration that names one), so Welsh lives in the message text instead.
"""

from __future__ import annotations

import inspect
import shlex
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import discord
from discord import app_commands

from bot.ports import CommandMenu

DESCRIPTION_LIMIT = 100
CHOICE_LIMIT = 25
AUTOCOMPLETE_KINDS = frozenset({"event", "timezone", "language"})
# Variadic commands (``/poll "Question" Yes No``) take their extra words in one more option,
# typed as in chat: space-separated, quoted where a word holds spaces.
MORE_OPTION = "more"
MORE_DESCRIPTION = "More words, separated by spaces; put quotes around any with spaces"
_CURLY = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})

CommandRunner = Callable[[discord.Interaction[Any], str], Awaitable[None]]
"""``run(interaction, chat_line)``: hand the re-typed command to the core."""


def quote_word(value: str) -> str:
    """Quote one option value so that the router's ``split_words`` gives it back whole.

    The router maps curly quotes to straight ones before splitting, so do the same first:
    a curly apostrophe inside single quotes would otherwise close them.
    """
    return shlex.quote(value.translate(_CURLY))


def chat_line(name: str, positional: Sequence[Any], flags: Sequence[tuple[str, Any]],
              more: str | None = None) -> str:
    """Build ``/name …``: option values quoted in declaration order (missing ones left out),
    then ``more`` as typed (its own quotes apply), then the flags."""
    words = [f"/{name}", *(quote_word(str(v)) for v in positional if v is not None)]
    if more and more.strip():
        words.append(more.strip())
    for flag, value in flags:
        if value is None or value is False:
            continue
        words.append(f"--{flag}")
        if value is not True:
            words.append(quote_word(str(value)))
    return " ".join(words)


def _text(menu: CommandMenu, msgid: str, language: str = "en") -> str:
    text = (menu.translate(msgid, language) or msgid).strip() or msgid
    return text[:DESCRIPTION_LIMIT]


def _described(menu: CommandMenu, msgid: str) -> app_commands.locale_str:
    return app_commands.locale_str(_text(menu, msgid), msgid=msgid)


def build_commands(menu: CommandMenu, run: CommandRunner) -> list[app_commands.Command[Any, ..., None]]:
    return [build_command(spec, menu, run) for spec in menu.commands]


def build_command(spec: Any, menu: CommandMenu, run: CommandRunner) -> app_commands.Command[Any, ..., None]:
    # Python parameter names are p0, p1, … renamed to the spec's names, so any option name
    # Discord accepts (``max-votes``) works even where it is not a Python identifier.
    slots: list[tuple[str, str, Any, bool]] = []  # (python name, option name, declaration, is_flag)
    for index, param in enumerate(spec.params):
        slots.append((f"p{index}", param.name, param, False))
    for index, flag in enumerate(spec.flags):
        slots.append((f"f{index}", flag.name, flag, True))
    variadic = spec.variadic and MORE_OPTION not in {name for _py, name, _d, _f in slots}

    async def callback(interaction: discord.Interaction[Any], **options: Any) -> None:
        positional = [options.get(py) for py, _name, _decl, is_flag in slots if not is_flag]
        flags = [(name, options.get(py)) for py, name, _decl, is_flag in slots if is_flag]
        await run(interaction, chat_line(spec.name, positional, flags, options.get("more_words")))

    parameters = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=discord.Interaction)]
    for py, _name, decl, is_flag in slots:
        if is_flag:
            annotation: Any = str if decl.takes_value else bool
            required = False
        else:
            annotation = int if decl.kind == "int" else str
            required = decl.required
        parameters.append(inspect.Parameter(
            py, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
            default=inspect.Parameter.empty if required else None))
    if variadic:  # offered right after the positional options, before the flags
        parameters.insert(1 + len(spec.params), inspect.Parameter(
            "more_words", inspect.Parameter.KEYWORD_ONLY, annotation=str, default=None))
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]

    decorated: Any = callback
    if slots or variadic:
        renames = {py: name for py, name, _d, _f in slots}
        descriptions = {py: _described(menu, decl.description) for py, _n, decl, _f in slots}
        if variadic:
            renames["more_words"] = MORE_OPTION
            descriptions["more_words"] = _described(menu, MORE_DESCRIPTION)
        decorated = app_commands.rename(**renames)(decorated)
        decorated = app_commands.describe(**descriptions)(decorated)
    choices = {py: [app_commands.Choice(name=c, value=c) for c in decl.choices[:CHOICE_LIMIT]]
               for py, _n, decl, is_flag in slots if not is_flag and decl.choices}
    if choices:
        decorated = app_commands.choices(**choices)(decorated)
    completing = {py: _completer(menu, decl.kind) for py, _n, decl, is_flag in slots
                  if not is_flag and not decl.choices and decl.kind in AUTOCOMPLETE_KINDS}
    if completing:
        decorated = app_commands.autocomplete(**completing)(decorated)
    return app_commands.Command(name=spec.name, description=_described(menu, spec.summary),
                                callback=decorated)


Autocomplete = Callable[[discord.Interaction[Any], str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]


def _completer(menu: CommandMenu, kind: str) -> Autocomplete:
    async def complete(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        found = await menu.complete(kind, current, f"discord:{interaction.user.id}")
        return [app_commands.Choice(name=label[:100] or value[:100], value=value[:100])
                for label, value in found[:CHOICE_LIMIT]]

    return complete


class MenuTranslator(app_commands.Translator):
    """Localises descriptions for each Discord locale whose language has a catalog.

    Names and choices keep their declared spelling (they are what people type); locales of
    languages without a catalog get no localisation, so Discord shows the default text.
    """

    def __init__(self, menu: CommandMenu) -> None:
        self._menu = menu
        self._languages = set(menu.languages)

    def language_of(self, locale: discord.Locale) -> str | None:
        language = locale.value.split("-")[0].lower()
        return language if language in self._languages else None

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        language = self.language_of(locale)
        if language is None:
            return None
        msgid = string.extras.get("msgid")
        if msgid is None:  # names and choices: what people type stays as declared
            return string.message
        return _text(self._menu, msgid, language)
