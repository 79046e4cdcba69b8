"""Reading and writing iCalendar: pure functions, no I/O. Feeds are read in three stages.

- ``reading``: ``parse_feed`` turns the bytes of a feed into one ``SeriesRecord`` per UID,
  repairing what other calendar tools get wrong and reporting what it skipped or repaired.
  Each record holds a small, self-contained VCALENDAR (the master, its overrides and any
  custom VTIMEZONE it needs) so that any window can be expanded later without the feed.
- ``expansion``: ``expand`` turns series into dated ``Occurrence``s for a window.
- ``writing``: the text of each series' own VCALENDAR.

``export`` writes calendars out again, as a standard .ics for other calendar tools.

Beside them: ``lines`` (content lines and components), ``zones`` (time-zone names as
calendar tools write them), ``ids`` and ``problems``.
"""

from bot.ical.expansion import Expansion, expand
from bot.ical.ids import occurrence_id, recurrence_key, series_id
from bot.ical.problems import FeedProblem, ProblemKind
from bot.ical.reading import ParsedFeed, feed_hash, parse_feed
from bot.ical.zones import iana_zone

__all__ = [
    "Expansion",
    "FeedProblem",
    "ParsedFeed",
    "ProblemKind",
    "expand",
    "feed_hash",
    "iana_zone",
    "occurrence_id",
    "parse_feed",
    "recurrence_key",
    "series_id",
]
