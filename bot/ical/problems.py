"""What reading a feed skipped or repaired, and the reasons, marked for translation."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.i18n import N_, Translator, translator


class ProblemKind(enum.StrEnum):
    SKIPPED = "skipped"
    REPAIRED = "repaired"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """Something in a feed that was skipped or repaired.

    Attributes:
        reason: A gettext msgid (marked with ``N_``) describing what was wrong.
        uid: UID of the event concerned, or ``""`` for the feed as a whole.
        title: Its title (SUMMARY), so that the organiser can find it; ``""`` if none.
        line: Line number in the feed (after decoding), where known.
        kind: ``skipped`` (the item is not imported), ``repaired`` (imported with a fix)
            or ``note`` (about the feed as a whole).
        params: Values for the placeholders in ``reason``.
    """

    reason: str
    uid: str = ""
    line: int | None = None
    kind: ProblemKind = ProblemKind.SKIPPED
    params: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""

    def render(self, _: Translator) -> str:
        """One line in the reader's language."""
        reason = _(self.reason, **self.params)
        title = _one_line(self.title)
        if self.uid and title:
            if self.kind == ProblemKind.SKIPPED:
                return _("Skipped “{title}” (UID {uid}): {reason}", title=title, uid=self.uid, reason=reason)
            return _("Imported “{title}” (UID {uid}) with a fix: {reason}", title=title, uid=self.uid,
                     reason=reason)
        if self.uid:
            if self.kind == ProblemKind.SKIPPED:
                return _("Skipped {uid}: {reason}", uid=self.uid, reason=reason)
            return _("Imported {uid} with a fix: {reason}", uid=self.uid, reason=reason)
        if self.line is not None and self.kind == ProblemKind.SKIPPED:
            if title:
                return _("Skipped “{title}” at line {line}: {reason}", title=title, line=self.line, reason=reason)
            return _("Skipped the item at line {line}: {reason}", line=self.line, reason=reason)
        return _("Note: {reason}", reason=reason)

    def __str__(self) -> str:
        return self.render(translator("en"))


_TITLE_LENGTH = 80


def _one_line(title: str) -> str:
    """A title fit for one line of a report: a feed's SUMMARY may hold line breaks."""
    flat = " ".join(title.split())
    return flat if len(flat) <= _TITLE_LENGTH else flat[: _TITLE_LENGTH - 1].rstrip() + "…"


# Reasons, marked for extraction.
NO_START = N_("it has no start time (DTSTART)")
TWO_STARTS = N_("it has more than one start time (DTSTART)")
TWO_VALUES = N_("it has more than one {prop}")
BAD_VALUE = N_("its {prop} value “{value}” cannot be read")
BAD_RULE = N_("its repeat rule “{rule}” cannot be read")
BAD_DATES = N_("its dates cannot be worked out")
UNREADABLE = N_("it cannot be read")
NOT_AN_EVENT = N_("it is a {kind}, not an event")
NO_VERSION = N_("the feed does not say which iCalendar version it is; it was read as 2.0")
GUESSED_ZONE = N_("the time zone “{tzid}” is not defined in the feed; it was read as {zone}")
UNKNOWN_ZONE = N_("the time zone “{tzid}” is unknown; its times were read in {zone}")
OFFSET_ZONE = N_("the time zone “{tzid}” is not known by name; it was read as the fixed offset {zone}")
UNTIL_MISMATCH = N_("its repeat rule ends on “{until}”, which does not match the type of its start; it was read as {fixed}")
DROPPED_PROPERTY = N_("its {prop} value “{value}” cannot be read and was ignored")
NOT_UTF8 = N_("the feed is not UTF-8; it was read as {encoding}")
DAMAGED_UTF8 = N_("the feed has {count} damaged UTF-8 characters; they were replaced with �")
BROKEN_VTIMEZONE = N_("the time-zone definition “{tzid}” is broken; the standard zone of that name was used")
OLD_VERSION = N_("the feed says it is version {version}, not iCalendar 2.0; it was read as 2.0")
RULE_REPAIRED = N_("its repeat rule “{rule}” was read as “{fixed}”")
RULE_LEFT_OUT = N_("its repeat rule “{rule}” cannot be read and was left out; the session on {start} was kept")
ONLY_FIRST = N_("its repeats cannot be worked out; only the session on {start} was kept")
UNKNOWN_CALENDAR_ZONE = N_("the calendar's time zone “{tzid}” is unknown; floating times were read in {zone}")


class SeriesRejected(Exception):
    def __init__(self, reason: str, **params: Any) -> None:
        self.reason = reason
        self.params = params
        super().__init__(reason)
