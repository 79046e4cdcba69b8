"""Named calendars kept in sync with their feeds.

``CalendarService.sync`` fetches a source, parses it, and compares it with what is stored,
by identity (UID + RECURRENCE-ID, never the title). The difference is stored in one
transaction, together with a change notice for each subscriber of a changed, cancelled or
restored session (``ChangeNotices``, into the reminder outbox, so a notice is neither lost
when nothing can send it now nor planned twice), and reported as added / changed / cancelled /
restored occurrences; listeners registered with ``add_listener`` (the reminder planner) get that
report.

A session that vanishes from the feed is kept as a cancelled occurrence (its series
definition goes, so it is neither expanded nor exported); if it comes back it is *restored*,
never added again, so its subscriptions and reminders carry on. A refresh that would cancel
more than ``max_cancel_share`` of a calendar's upcoming sessions (an empty or truncated
export) is *held*: nothing of the feed is stored, each organiser gets one notice through the
outbox (planned with the hold, like the subscribers' notices), and it is applied only when an
organiser forces it.

Occurrences are materialised from a day ago to ``horizon_days`` ahead. Unchanged series are
not expanded again on a refresh; ``advance_horizon`` (run daily) fills in the days that come
into the horizon as time passes. Windows outside it are answered by expanding the stored
series, so ``occurrences_between`` answers for any window, past or future.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from bot.errors import FeedError, UserError
from bot.feeds import (
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT,
    FeedFetcher,
    display_source,
    is_url,
    normalise_source,
    secret_parts,
)
from bot.i18n import N_, Translator, translator
from bot.ical import FeedProblem, expand, feed_hash, parse_feed
from bot.ical.export import build_ics
from bot.identities import recipient
from bot.metrics import Metrics
from bot.models import (
    EventStatus,
    HeldNotice,
    Notice,
    NoticeItem,
    NoticeKind,
    Occurrence,
)
from bot.ports import CalendarInfo, Clock, HeldRefresh, PlannedNotice, SeriesRecord, Store
from bot.redact import protect_source
from bot.timeutil import format_when, zone

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=1)
NOTICE_LINES = 10
HELD_NOTICE_FOR = timedelta(days=3)

DEFAULT_MAX_CANCEL_SHARE = 0.5

ChangeListener = Callable[["SyncReport"], Awaitable[None]]
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Change:
    """One occurrence that is still on but differs from before.

    Attributes:
        before: The occurrence as stored before the refresh.
        after: The occurrence as it is now.
        fields: What changed, among ``time``, ``title``, ``location``, ``link`` and
            ``status`` (a cancelled session that is on again).
    """

    before: Occurrence
    after: Occurrence
    fields: tuple[str, ...]


@dataclass(slots=True)
class SyncReport:
    """What one refresh of one calendar did.

    Attributes:
        calendar: Calendar name.
        source: Where it was read from.
        unchanged: True when the source said "not modified" or its content was identical,
            so nothing was parsed.
        added: Occurrences that are new.
        changed: Occurrences whose time, title, location or link changed.
        cancelled: Occurrences cancelled by STATUS or gone from the feed (as they are
            stored now, with status cancelled).
        restored: Occurrences that were cancelled or gone and are on again; ``fields``
            holds ``status`` and whatever else changed meanwhile.
        held: Set when the refresh was held back and nothing was stored (the lists above
            are then empty).
        problems: What was skipped or repaired while reading the feed.
        series: Number of series the calendar now has.
        occurrences: Number of occurrences stored for it.
    """

    calendar: str
    source: str
    unchanged: bool = False
    added: list[Occurrence] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    cancelled: list[Occurrence] = field(default_factory=list)
    restored: list[Change] = field(default_factory=list)
    problems: list[FeedProblem] = field(default_factory=list)
    series: int = 0
    occurrences: int = 0
    held: HeldRefresh | None = None
    notices: int = 0

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.cancelled or self.restored)

    def render(self, _: Translator, *, problems: int = 20) -> str:
        """A summary for the organiser who asked for the import."""
        if self.held is not None:
            lines = [held_line(self.calendar, self.held, _),
                     _("Nothing was changed and nobody was told. If the feed is right, import it again "
                       "with --force to apply it.")]
        elif self.unchanged:
            lines = [_("“{calendar}” is up to date: nothing changed.", calendar=self.calendar)]
        else:
            lines = [_("Imported “{calendar}”: {series} events, {occurrences} sessions stored.",
                       calendar=self.calendar, series=self.series, occurrences=self.occurrences),
                     _("{added} added, {changed} changed, {cancelled} cancelled, {restored} restored.",
                       added=len(self.added), changed=len(self.changed), cancelled=len(self.cancelled),
                       restored=len(self.restored))]
            if self.notices:
                lines.append(_.plural("{n} subscriber will be told of the changes.",
                                      "{n} subscribers will be told of the changes.", self.notices))
        if self.problems:
            lines.append(_.plural("{n} item was skipped or repaired:", "{n} items were skipped or repaired:",
                                  len(self.problems)))
            lines += [p.render(_) for p in self.problems[:problems]]
            if len(self.problems) > problems:
                lines.append(_("…and {n} more.", n=len(self.problems) - problems))
        return "\n".join(lines)


def held_line(calendar: str, held: HeldRefresh | HeldNotice, _: Translator) -> str:
    return _("Held: this refresh of “{calendar}” would cancel {cancels} of {upcoming} upcoming sessions.",
             calendar=calendar, cancels=held.cancels, upcoming=held.upcoming)


def default_calendar_name(source: str) -> str:
    """``https://example.org/feeds/sww-2025.ics`` -> ``sww-2025``."""
    source = normalise_source(source)
    path = urlsplit(source).path if is_url(source) else source
    stem = PurePosixPath(path.replace("\\", "/")).stem
    if is_url(source) and stem in secret_parts(source):
        stem = ""  # a key (an iCloud published link's last segment) is no name to show
    return stem or (urlsplit(source).hostname or "calendar")


class CalendarService:
    """Implements ``services.Schedule`` and owns every calendar refresh."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        horizon_days: int = 400,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        default_timezone: str = "UTC",
        fetcher: FeedFetcher | None = None,
        max_cancel_share: float = DEFAULT_MAX_CANCEL_SHARE,
        notices: ChangeNotices | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.notices = notices
        self.clock = clock
        self.horizon = timedelta(days=horizon_days)
        self.default_timezone = default_timezone
        self.fetcher = fetcher or FeedFetcher(max_bytes=max_bytes, timeout=timeout)
        self.max_cancel_share = max_cancel_share
        self._listeners: list[ChangeListener] = []
        self._locks: dict[str, asyncio.Lock] = {}

    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(report)`` after every refresh that added, changed, cancelled or
        restored something."""
        self._listeners.append(listener)

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    def window(self) -> tuple[datetime, datetime]:
        """The materialised window, from a day ago to the horizon."""
        now = self.clock.now()
        return now - LOOKBACK, now + self.horizon

    # ----------------------------------------------------------------------------- sync

    async def sync(self, name: str, source: str | None = None, *, timezone: str | None = None,
                   refresh_minutes: int | None = None, progress: Progress | None = None,
                   force: bool = False, configured: bool = False) -> SyncReport:
        """Create or refresh a calendar.

        A refresh that would cancel more than ``max_cancel_share`` of the calendar's upcoming
        sessions is held (see ``SyncReport.held``) unless ``force`` is set. A failed first import
        stores nothing, except for a feed listed in the config (``configured``), which shows up
        with its error until it loads.

        Raises:
            FeedError: The source could not be read or is not iCalendar; the calendar's
                stored data is untouched and its ``last_error`` says why.
            UserError: No source was given for a calendar that does not exist yet.

        ``progress(stage, done, total)`` hears about long work (``fetch``, ``parse``,
        ``expand``, ``store``), for a progress bar.
        """
        name = name.strip()
        if not name:
            raise UserError(N_("A calendar needs a name."))
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if self.metrics is not None:
                self.metrics.feed_refreshes.inc()
            try:
                return await self._sync(name, source, timezone, refresh_minutes, progress or _no_progress, force,
                                        configured)
            except Exception:
                if self.metrics is not None:
                    self.metrics.feed_errors.inc()
                raise

    async def _sync(self, name: str, source: str | None, timezone: str | None,
                    refresh_minutes: int | None, progress: Progress = _no_progress,
                    force: bool = False, configured: bool = False) -> SyncReport:
        repo = self.store.calendars
        info = await repo.get_calendar(name)
        if source is None:
            if info is None or not info.source:
                raise UserError(N_("There is no calendar called “{name}”. Import it with a source first."),
                                name=name)
            source = info.source
        source = normalise_source(source)
        protect_source(source)  # a secret address's key never reaches a log line
        if timezone:
            zone(timezone)  # raises UnknownTimeZone, a user error
        tz = timezone or (info.timezone if info else "") or self.default_timezone
        same_source = info is not None and info.source == source
        same_zone = info is not None and (info.timezone or self.default_timezone) == tz
        base = info or CalendarInfo(name=name)
        if refresh_minutes is not None:
            base = replace(base, refresh_minutes=refresh_minutes)
        now = self.clock.now()

        try:
            progress("fetch", 0, 1)
            fetched = await self.fetcher.fetch(
                source,
                etag=base.etag if same_source and same_zone else "",
                last_modified=base.last_modified if same_source and same_zone else "",
            )
            if fetched.data is not None and same_source and same_zone and info is not None \
                    and info.content_hash == feed_hash(fetched.data):
                fetched = replace(fetched, data=None)
            if fetched.data is None:
                # Not modified: a cheap write of the sync time, nothing parsed or expanded. The
                # feed is what was last applied, so a refresh held since is moot.
                await repo.save_calendar(replace(base, source=source, timezone=tz, last_sync=now, last_error="",
                                                 held=None,
                                                 etag=fetched.etag or base.etag,
                                                 last_modified=fetched.last_modified or base.last_modified))
                return SyncReport(name, source, unchanged=True, series=base.events, occurrences=base.occurrences)
            progress("fetch", 1, 1)
            stored_series = await repo.list_series(name) if info is not None else []
            progress("parse", 0, 1)
            parsed = await asyncio.to_thread(
                parse_feed, fetched.data, calendar=name, default_timezone=tz,
                known={s.uid: s for s in stored_series})
            progress("parse", 1, 1)
        except FeedError as error:
            message = translator(None)(error.msgid, **error.params)
            if info is not None:
                await repo.save_calendar(replace(info, last_error=message))
            elif configured:
                # A configured feed that has never loaded still shows up, with its error.
                await repo.save_calendar(replace(base, source=source, timezone=tz, last_error=message))
            log.warning("calendar %s: refused %s: %s", name, display_source(source), error)
            raise

        report = await self._apply(name, source, tz, base, parsed.series, stored_series, parsed.problems,
                                   etag=fetched.etag, last_modified=fetched.last_modified,
                                   content_hash=parsed.content_hash, progress=progress,
                                   existing=info is not None, force=force)
        if report.has_changes or report.notices:  # a hold plans the organisers' notices
            await self._notify(report)
        return report

    async def _apply(self, name: str, source: str, tz: str, base: CalendarInfo,
                     new_series: list[SeriesRecord], stored_series: list[SeriesRecord],
                     problems: list[FeedProblem], *, etag: str, last_modified: str,
                     content_hash: str, progress: Progress = _no_progress, existing: bool = True,
                     force: bool = False) -> SyncReport:
        repo = self.store.calendars
        now = self.clock.now()
        start, end = self.window()
        stored_by_uid = {s.uid: s for s in stored_series}
        new_by_uid = {s.uid: s for s in new_series}
        changed_series = [s for s in new_series
                          if s.uid not in stored_by_uid or stored_by_uid[s.uid].content_hash != s.content_hash]
        gone_series = [s for uid, s in stored_by_uid.items() if uid not in new_by_uid]
        touched = {s.series_id for s in changed_series} | {s.series_id for s in gone_series}

        report_progress = progress
        loop = asyncio.get_running_loop()

        def expanded(done: int, total: int) -> None:
            loop.call_soon_threadsafe(report_progress, "expand", done, total)

        expansion = await asyncio.to_thread(expand, changed_series, start, end, progress=expanded)
        problems = [*problems, *expansion.problems]
        old: dict[str, Occurrence] = {}
        if touched and existing:
            # A few edited series are read one by one; a large change reads the calendar once.
            # A series that is new to the list may have been here before: its sessions were
            # kept, cancelled, when it went, and are restored from them.
            if len(touched) <= 50:
                stored = [o for sid in touched for o in await repo.occurrences_of_series(sid)]
            else:
                stored = await repo.occurrences_of_calendar(name)
            old = {o.id: o for o in stored if o.series_id in touched}

        report = SyncReport(name, source, problems=problems)
        upserts: list[Occurrence] = []
        seen: set[str] = set()
        for occurrence in expansion.occurrences:
            seen.add(occurrence.id)
            before = old.get(occurrence.id)
            if before is None:
                report.added.append(occurrence)
                upserts.append(occurrence)
                continue
            if before == occurrence:
                continue
            upserts.append(occurrence)
            if occurrence.status is EventStatus.CANCELLED and before.status is not EventStatus.CANCELLED:
                report.cancelled.append(occurrence)
                continue
            fields = _changed_fields(before, occurrence)
            if "status" in fields:
                report.restored.append(Change(before, occurrence, fields))
            elif fields:
                report.changed.append(Change(before, occurrence, fields))
        for occurrence in old.values():
            # Gone from the feed: cancel what has not ended yet; past sessions stay as history.
            if occurrence.id in seen or occurrence.end <= now or occurrence.start >= end:
                continue
            if occurrence.status is EventStatus.CANCELLED:
                continue
            cancelled = replace(occurrence, status=EventStatus.CANCELLED)
            report.cancelled.append(cancelled)
            upserts.append(cancelled)

        held = None if force or not existing else await self._hold(name, report, content_hash, base.held)
        if held is not None:
            # Nothing of the feed is stored, not even its validators, so that each refresh
            # reads it again and a forced import has something to apply.
            told: list[PlannedNotice] = []
            if base.held != held:  # a new hold (the same feed held again is not told again)
                if self.notices is not None:
                    told = self.notices.plan_held(name, source, held, self.max_cancel_share, now)
                await repo.save_calendar(replace(base, last_error="", held=held), notices=told)
                log.warning("calendar %s: refresh held, it would cancel %d of %d upcoming sessions", name,
                            held.cancels, held.upcoming)
            return SyncReport(name, source, problems=problems, series=base.events, occurrences=base.occurrences,
                              held=held, notices=len(told))

        info = replace(base, source=source, timezone=tz, etag=etag, last_modified=last_modified,
                       content_hash=content_hash, last_sync=now, last_error="", held=None)
        notices = await self.notices.plan(notice_items(report), name, now) if self.notices is not None else []
        report.notices = len(notices)
        report_progress("store", 0, 1)
        await repo.apply_sync(
            name,
            upsert_series=changed_series,
            delete_series=[s.series_id for s in gone_series],
            upsert_occurrences=upserts,
            delete_occurrences=[],
            info=info,
            notices=notices,
        )
        report_progress("store", 1, 1)
        saved = await repo.get_calendar(name)
        report.series = saved.events if saved else len(new_series)
        report.occurrences = saved.occurrences if saved else len(upserts)
        log.info("calendar %s: %d series, +%d ~%d x%d ^%d", name, report.series, len(report.added),
                 len(report.changed), len(report.cancelled), len(report.restored))
        return report

    async def _hold(self, name: str, report: SyncReport, content_hash: str,
                    already: HeldRefresh | None) -> HeldRefresh | None:
        """The hold for this refresh if it cancels too much of what is still to come, else None."""
        now = self.clock.now()
        cancels = sum(1 for o in report.cancelled if o.end > now)
        if not cancels:
            return None
        upcoming = await self.store.calendars.count_upcoming(name, now)
        if upcoming == 0 or cancels <= self.max_cancel_share * upcoming:
            return None
        if already is not None and already.content_hash == content_hash:
            return already
        return HeldRefresh(since=now, cancels=cancels, upcoming=upcoming, content_hash=content_hash)

    async def _notify(self, report: SyncReport) -> None:
        for listener in self._listeners:
            try:
                await listener(report)
            except Exception:
                log.exception("calendar change listener %r failed for %s", listener, report.calendar)

    async def advance_horizon(self) -> int:
        """Materialise the occurrences that came into the horizon as time passed; return
        how many were added. Nothing is reported: the feed did not change."""
        added = 0
        repo = self.store.calendars
        for listed in await repo.list_calendars():
            # Under the calendar's lock, so a refresh running now is not overwritten.
            async with self._locks.setdefault(listed.name, asyncio.Lock()):
                info = await repo.get_calendar(listed.name)
                series = await repo.list_series(listed.name)
                if info is None or not series:
                    continue
                start, end = self.window()
                expansion = await asyncio.to_thread(expand, series, start, end)
                stored = {o.id for o in await repo.occurrences_between(start, end, calendar=info.name,
                                                                        include_cancelled=True)}
                new = [o for o in expansion.occurrences if o.id not in stored]
                if new:
                    await repo.apply_sync(info.name, upsert_series=[], delete_series=[], upsert_occurrences=new,
                                          delete_occurrences=[], info=info)
                    added += len(new)
        return added

    # ----------------------------------------------------------------------------- reading

    async def occurrences_between(self, start: datetime, end: datetime, *, calendar: str | None = None,
                                  include_cancelled: bool = False) -> list[Occurrence]:
        """Stored occurrences overlapping ``[start, end)``, plus, for any part of the window
        outside the materialised horizon, the expansion of the stored series."""
        repo = self.store.calendars
        found = {o.id: o for o in await repo.occurrences_between(start, end, calendar=calendar,
                                                                 include_cancelled=include_cancelled)}
        low, high = self.window()
        outside = [(a, b) for a, b in ((start, min(end, low)), (max(start, high), end)) if a < b]
        if outside:
            names = [calendar] if calendar else [c.name for c in await repo.list_calendars()]
            series = [s for name in names for s in await repo.list_series(name)]
            for a, b in outside:
                for occurrence in (await asyncio.to_thread(expand, series, a, b)).occurrences:
                    if occurrence.id in found:
                        continue
                    if occurrence.status is EventStatus.CANCELLED and not include_cancelled:
                        continue
                    found[occurrence.id] = occurrence
        return sorted(found.values(), key=lambda o: (o.start, o.title, o.id))

    async def list_calendars(self) -> list[CalendarInfo]:
        return await self.store.calendars.list_calendars()

    async def remove(self, name: str) -> SyncReport:
        """Delete a calendar and its sessions. Subscribers of sessions still to come are told
        that they are cancelled (a notice in the outbox, as after a refresh), then the
        calendar, its series, its sessions and the subscriptions to them are deleted.

        Raises:
            UserError: There is no such calendar.
        """
        repo = self.store.calendars
        async with self._locks.setdefault(name, asyncio.Lock()):
            info = await repo.get_calendar(name)
            if info is None:
                raise UserError(N_("There is no calendar called “{name}”."), name=name)
            now = self.clock.now()
            # Cancelled first and told, deleted after: a removal cut short is finished by the
            # next one, and nobody is told twice.
            cancelled = [replace(o, status=EventStatus.CANCELLED) for o in await repo.occurrences_of_calendar(name)
                         if o.end > now and o.status is not EventStatus.CANCELLED]
            report = SyncReport(name, info.source, cancelled=cancelled)
            if cancelled:
                notices = await self.notices.plan(notice_items(report), name, now) if self.notices else []
                report.notices = len(notices)
                await repo.apply_sync(name, upsert_series=[], delete_series=[], upsert_occurrences=cancelled,
                                      delete_occurrences=[], info=info, notices=notices)
                await self._notify(report)
            await repo.remove_calendar(name)
        log.info("calendar %s removed (%d sessions cancelled)", name, len(cancelled))
        return report

    async def export_calendar(self, name: str) -> bytes:
        """A clean .ics of one calendar: its series as stored, with standard VTIMEZONEs."""
        info = await self.store.calendars.get_calendar(name)
        if info is None:
            raise UserError(N_("There is no calendar called “{name}”."), name=name)
        series = await self.store.calendars.list_series(name)
        return build_ics(series, [], name=name, timezone=info.timezone or self.default_timezone)


def _changed_fields(before: Occurrence, after: Occurrence) -> tuple[str, ...]:
    fields = []
    if (before.start, before.end) != (after.start, after.end):
        fields.append("time")
    if before.title != after.title:
        fields.append("title")
    if before.location != after.location:
        fields.append("location")
    if before.url != after.url:
        fields.append("link")
    if before.status is EventStatus.CANCELLED and after.status is not EventStatus.CANCELLED:
        fields.append("status")
    return tuple(fields)


# --------------------------------------------------------------------------- change notices


class ChangeNotices:
    """Plans the notices a refresh calls for: one per subscriber of the sessions it changed,
    cancelled or restored, listing those sessions; or, when it is held, one per organiser.
    They are stored with the refresh (or the hold), in the reminder outbox, and the dispatcher
    sends them as it sends reminders (privately, else in the person's shared chat,
    rate-limited and retried), rendered in the reader's language and zone
    (``render_notice``). So a refresh run from cron with no bot running is told once the
    bot runs."""

    def __init__(self, store: Store, organisers: Sequence[str] = ()) -> None:
        self.store = store
        self.organisers = tuple(dict.fromkeys(organisers))

    async def plan(self, items: Sequence[NoticeItem], calendar: str, now: datetime) -> list[PlannedNotice]:
        per_person: dict[str, list[NoticeItem]] = {}
        for item in items:
            if _over(item) <= now:
                continue  # nobody needs to hear about a session that is over
            for user_id in await self.store.people.subscribers_of(item.after):
                per_person.setdefault(user_id, []).append(item)
        # A person with linked accounts hears once, where their reminders go.
        persons = list(per_person)
        settings = await self.store.people.get_many_settings(persons) if persons else {}
        groups = await self.store.people.identity_groups(persons) if persons else {}
        planned = []
        for user_id, mine in per_person.items():
            mine.sort(key=lambda item: (item.after.start, item.after.id))
            notice = Notice(calendar, tuple(mine[:NOTICE_LINES]), more=max(0, len(mine) - NOTICE_LINES))
            to = recipient(settings[user_id], groups[user_id]) if user_id in groups else user_id
            planned.append(PlannedNotice(to, notice, ready_ts=int(now.timestamp()),
                                         until_ts=int(max(_over(item) for item in mine).timestamp())))
        return planned

    def plan_held(self, calendar: str, source: str, held: HeldRefresh, share: float,
                  now: datetime) -> list[PlannedNotice]:
        """Each organiser's notice that a refresh of ``calendar`` was held. It matters for
        ``HELD_NOTICE_FOR`` (the hold shows in ``/calendars`` for as long as it lasts)."""
        notice = Notice(calendar, (), held=HeldNotice(source=source, cancels=held.cancels,
                                                      upcoming=held.upcoming, share=share))
        ready = int(now.timestamp())
        until = int((now + HELD_NOTICE_FOR).timestamp())
        return [PlannedNotice(user_id, notice, ready_ts=ready, until_ts=until) for user_id in self.organisers]


def notice_items(report: SyncReport) -> list[NoticeItem]:
    """What a refresh tells subscribers: each changed, cancelled or restored session."""
    items = [NoticeItem(NoticeKind.RESTORED if "status" in c.fields else NoticeKind.CHANGED, c.after, c.before,
                        c.fields) for c in report.changed]
    items += [NoticeItem(NoticeKind.CANCELLED, o) for o in report.cancelled]
    items += [NoticeItem(NoticeKind.RESTORED, c.after, c.before, c.fields) for c in report.restored]
    return items


def _over(item: NoticeItem) -> datetime:
    """When a notice about this session stops mattering: once it is over, where it was and
    where it is now."""
    return max(item.after.end, item.before.end) if item.before is not None else item.after.end


def render_notice(notice: Notice, tz: Any, _: Translator, *, for_name: str | None = None) -> str:
    """``Programme changes in “sww”:`` and a line per session, for one reader; in a shared
    chat (``for_name``), headed with whom it is for."""
    if notice.held is not None:
        held = render_held(notice.calendar, notice.held, _, shared=for_name is not None)
        return held if for_name is None else _("For {name}: {heading}", name=for_name, heading=held)
    heading = _("Programme changes in “{calendar}”:", calendar=notice.calendar)
    if for_name is not None:
        heading = _("For {name}: {heading}", name=for_name, heading=heading)
    lines = [heading]
    for item in notice.items:
        change = None
        if item.kind is not NoticeKind.CANCELLED:
            fields = item.fields or (("status",) if item.kind is NoticeKind.RESTORED else ())
            change = Change(item.before or item.after, item.after, fields)
        lines.append(notice_line(item.after, change, tz, _))
    if notice.more:
        lines.append(_("…and {n} more.", n=notice.more))
    return "\n".join(lines)


def render_held(calendar: str, held: HeldNotice, _: Translator, *, shared: bool = False) -> str:
    """An organiser's notice of a held refresh, and how to apply it. In a shared chat a
    feed's secret parts (a private calendar's token) are left out."""
    source = display_source(held.source) if shared else held.source
    lines = [held_line(calendar, held, _),
             _("That is more than the share allowed ({share} %), so nothing was changed and no "
               "subscriber was told.",
               share=f"{held.share * 100:g}")]
    if is_url(held.source):
        lines.append(_("If the feed is right, apply it with /import {source} {calendar} --force",
                       source=source, calendar=calendar))
    else:
        lines.append(_("If the feed is right, apply it with: eventbot import {source} --calendar "
                       "{calendar} --force", source=source, calendar=calendar))
    return "\n".join(lines)


def notice_line(o: Occurrence, change: Change | None, tz: Any, _: Translator) -> str:
    when = format_when(o.start, tz, _, all_day=o.all_day, start_date=o.start_date)
    if change is None:
        return _("• “{title}” ({when}) is cancelled. [{id}]", title=o.title, when=when, id=o.id)
    if change.fields == ("status",):
        return _("• “{title}” ({when}) is back on. [{id}]", title=o.title, when=when, id=o.id)
    before = change.before
    parts = []
    if "time" in change.fields:
        was = format_when(before.start, tz, _, all_day=before.all_day, start_date=before.start_date)
        parts.append(_("moved to {when} (was {was})", when=when, was=was))
    if "title" in change.fields:
        parts.append(_("renamed from “{old}”", old=before.title))
    if "location" in change.fields:
        parts.append(_("now at {location}", location=o.location or _("no location given")))
    if "link" in change.fields:
        parts.append(_("new joining link {url}", url=o.url or _("(none)")))
    if "status" in change.fields:
        parts.append(_("on again after being cancelled"))
    if "time" in change.fields:
        return _("• “{title}”: {changes}. [{id}]", title=o.title, changes="; ".join(parts), id=o.id)
    return _("• “{title}” ({when}): {changes}. [{id}]", title=o.title, when=when, changes="; ".join(parts),
             id=o.id)


# --------------------------------------------------------------------------- CLI glue


HELD_EXIT_CODE = 3


async def import_command(services: Any, source: str, calendar: str | None, timezone: str | None,
                         force: bool = False) -> int:
    """``eventbot import SOURCE [--calendar NAME] [--timezone ZONE] [--force]``: print the
    report; exit with ``HELD_EXIT_CODE`` when the refresh was held."""
    from bot.progress import ProgressBar

    service = _service(services)
    name = calendar or default_calendar_name(source)
    _ = translator(services.config.language)
    bar = ProgressBar(_)
    try:
        report = await service.sync(name, source, timezone=timezone, progress=bar, force=force)
    finally:
        bar.close()
    print(report.render(_))
    return HELD_EXIT_CODE if report.held is not None else 0


def _service(services: Any) -> CalendarService:
    service = getattr(services, "calendars", None)
    if not isinstance(service, CalendarService):
        raise FeedError(N_("Calendars are not available in this configuration."))
    return service


def summary_lines(calendars: Sequence[CalendarInfo], tz: Any, _: Translator, *,
                  show_urls: bool = False) -> list[str]:
    """One line per calendar: name, source, last sync, counts, and a held refresh and the
    last error if any. Secret addresses show as host + "…" unless ``show_urls`` (the
    operator's own shell)."""
    lines = []
    for info in calendars:
        synced = (format_when(info.last_sync, tz, _) if info.last_sync else _("never"))
        line = _("{name}: {events} events, {occurrences} sessions; last sync {synced}; source {source}",
                 name=info.name, events=info.events, occurrences=info.occurrences, synced=synced,
                 source=display_source(info.source, reveal=show_urls) if info.source else "-")
        if info.held:
            line += "\n  " + _("{held} Waiting since {since}; an organiser applies it with --force.",
                               held=held_line(info.name, info.held, _), since=format_when(info.held.since, tz, _))
        if info.last_error:
            line += "\n  " + _("last error: {error}", error=info.last_error)
        lines.append(line)
    return lines
