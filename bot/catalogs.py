"""Maintain the gettext catalogs: ``python -m bot.catalogs`` re-extracts ``eventbot.pot``
from the source, merges it into every ``<lang>/LC_MESSAGES/eventbot.po`` and compiles the
``.mo`` files. It needs Babel (in the ``test`` extra); the bot itself does not."""

from __future__ import annotations

import sys

from bot.i18n import DOMAIN, LOCALE_DIR

ROOT = LOCALE_DIR.parents[1]
SOURCES = ("bot", "adapters")
TEMPLATES = "bot/web/templates"
KEYWORDS = {"_": None, "N_": None, "plural": (1, 2), "gettext": None, "ngettext": (1, 2)}


def extract() -> object:
    """Return a Babel ``Catalog`` of every marked string in the source tree."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(project="eventbot", domain=DOMAIN, charset="utf-8")
    for source in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
                ROOT / source, method_map=[("**.py", "python")], keywords=KEYWORDS):
            catalog.add(message, locations=[(f"{source}/{filename}", lineno)], auto_comments=comments,
                        context=context)
    # The web pages' templates call _() and ngettext() as the Python code does.
    for filename, lineno, message, comments, context in extract_from_dir(
            ROOT / TEMPLATES, method_map=[("**.html", "jinja2.ext:babel_extract")], keywords=KEYWORDS):
        catalog.add(message, locations=[(f"{TEMPLATES}/{filename}", lineno)], auto_comments=comments,
                    context=context)
    return catalog


def msgids(catalog: object) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}  # type: ignore[attr-defined]


def update() -> None:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po, write_po

    template = extract()
    with (LOCALE_DIR / f"{DOMAIN}.pot").open("wb") as fh:
        write_po(fh, template, omit_header=False, sort_output=True, include_lineno=False)  # type: ignore[arg-type]
    for po_path in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po_path.open("rb") as fh:
            catalog = read_po(fh)
        catalog.update(template)  # type: ignore[arg-type]
        with po_path.open("wb") as fh:
            write_po(fh, catalog, sort_output=True, include_lineno=False, ignore_obsolete=True)
        with po_path.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog)
        print(f"updated {po_path.relative_to(ROOT)}")


if __name__ == "__main__":
    update()
    sys.exit(0)
