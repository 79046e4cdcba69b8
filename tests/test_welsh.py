"""The Welsh (cy) catalog: complete, and safe to format.

Every msgstr must keep exactly the ``{placeholders}`` of its msgid (``Translator`` fills them with
``str.format`` after translating, so a missing or renamed one would raise or leave a hole), as
well as the command names, flags, emoji and edge whitespace the user is meant to see.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bot.i18n import LOCALE_DIR, translator

PO_PATH = LOCALE_DIR / "cy" / "LC_MESSAGES" / "eventbot.po"
MO_PATH = PO_PATH.with_suffix(".mo")

# Commands (/subscribe), flags (--anonymous) and emoji must survive translation unchanged.
COMMAND = re.compile(r"(?<![\w/])/[a-z]+\b")
FLAG = re.compile(r"--[a-z]+")
EMOJI = re.compile("[\u2190-\u2bff\u2600-\u27bf\U0001f000-\U0001faff]")


def _load(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh) if path.suffix == ".po" else read_mo(fh)


CATALOG = _load(PO_PATH)
MESSAGES = [m for m in CATALOG if m.id]


def _ident(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (tuple, list)) else (message.id,)


def _strings(message: Message) -> tuple[str, ...]:
    return tuple(message.string) if isinstance(message.string, (tuple, list)) else (message.string,)


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_catalog_is_welsh_with_babels_plural_rule() -> None:
    assert str(CATALOG.locale) == "cy"
    assert CATALOG.num_plurals == 5
    assert "n==1 ? 1 : n==2 ? 2 : n==3 ? 3 : n==6 ? 4 : 0" in CATALOG.plural_expr
    assert len(MESSAGES) >= 300


@pytest.mark.parametrize("message", MESSAGES, ids=_ident)
def test_every_message_is_translated(message: Message) -> None:
    forms = _strings(message)
    assert all(form.strip() for form in forms), "untranslated"
    assert not message.fuzzy
    if message.pluralizable:
        assert len(forms) == CATALOG.num_plurals


@pytest.mark.parametrize("message", MESSAGES, ids=_ident)
def test_placeholders_match(message: Message) -> None:
    expected = placeholders(_ident(message))
    for msgid in _ids(message):
        assert placeholders(msgid) == expected
    for form in _strings(message):
        assert placeholders(form) == expected, form


@pytest.mark.parametrize("message", MESSAGES, ids=_ident)
def test_commands_flags_emoji_and_whitespace_are_kept(message: Message) -> None:
    msgid = _ident(message)
    for form in _strings(message):
        assert sorted(COMMAND.findall(form)) == sorted(COMMAND.findall(msgid)), form
        assert sorted(FLAG.findall(form)) == sorted(FLAG.findall(msgid)), form
        assert sorted(EMOJI.findall(form)) == sorted(EMOJI.findall(msgid)), form
        assert form.count("\n") == msgid.count("\n")
        assert form[: len(form) - len(form.lstrip())] == msgid[: len(msgid) - len(msgid.lstrip())]
        assert form[len(form.rstrip()):] == msgid[len(msgid.rstrip()):]


@pytest.mark.parametrize("message", MESSAGES, ids=_ident)
def test_formatting_with_dummy_values_never_raises(message: Message) -> None:
    values = {name: "X" for name in placeholders(_ident(message))}
    for form in _strings(message):
        form.format(**values)
    _ = translator("cy")
    if message.pluralizable:
        singular, plural = message.id
        for n in (0, 1, 2, 3, 4, 6, 11, 100):
            values.pop("n", None)
            assert _.plural(singular, plural, n, **values)
    elif values:
        assert _(message.id, **values)


def test_compiled_catalog_matches_the_po() -> None:
    compiled = {_ids(m): _strings(m) for m in _load(MO_PATH) if m.id}
    for message in MESSAGES:
        assert compiled.get(_ids(message)) == _strings(message), _ident(message)


def test_translator_speaks_welsh() -> None:
    _ = translator("cy")
    intro = _("eventbot keeps you on time for the sessions you care about. Commands:")
    assert intro.startswith("Mae eventbot")
    assert intro.endswith("Gorchmynion:")
    assert _("Show what I can do.") == "Dangos beth alla i ei wneud."
    assert _("Subscribed to “{title}”.", title="Diogelu") == "Wedi tanysgrifio i “Diogelu”."
    assert _("Mon") == "Llun"
    assert _("Jan") == "Ion"
    assert translator("cy-GB")("CPD hours") == "Oriau DPP"


def test_welsh_plurals() -> None:
    _ = translator("cy")
    assert [_.plural("{n} question", "{n} questions", n) for n in (0, 1, 2, 3, 6, 10)] == [
        "0 cwestiwn", "1 cwestiwn", "2 gwestiwn", "3 chwestiwn", "6 chwestiwn", "10 cwestiwn"]
    assert _.plural("{n} day", "{n} days", 2) == "2 ddiwrnod"
