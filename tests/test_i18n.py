"""Every user-facing string goes through gettext, and the template is kept current."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.catalogs import extract, msgids
from bot.i18n import LOCALE_DIR, translator

REPO = Path(__file__).resolve().parents[1]


def test_translation_calls_take_literal_strings() -> None:
    """``_(f"...")`` or ``_(variable)`` would never reach a catalog."""
    offenders = []
    for path in sorted([*(REPO / "bot").rglob("*.py"), *(REPO / "adapters").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"_", "N_"}
                    and node.args and isinstance(node.args[0], ast.JoinedStr)):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_template_lists_every_marked_string() -> None:
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / "eventbot.pot").open("rb") as fh:
        committed = msgids(read_po(fh))
    missing = sorted(msgids(extract()) - committed)
    assert missing == [], "run `python -m bot.catalogs` to refresh the catalogs"


def test_unknown_language_falls_back_to_english() -> None:
    assert translator("fr")("Show what I can do.") == "Show what I can do."
    assert translator("cy-GB").language == "cy"
