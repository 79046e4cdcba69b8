"""Planning: keep the outbox equal to what subscriptions, settings and the programme ask for.

Planning is set-based: for a scope (some people, some occurrences, or everything in the
planning horizon) it computes the wanted ``(person, occurrence, offset) -> due`` map in
memory, reads what is stored for the same scope in one query, and applies the difference in
one transaction (bulk insert, bulk update of moved ones, bulk delete of unwanted pending ones).
Reminders already claimed, sent, failed or expired are never touched: a plan cannot make a
reminder come twice.

Rules worth knowing:

* Whole days of an offset are counted on the recipient's wall clock (a 1-day reminder for a
  09:00 session comes at 09:00 the day before, whatever the clocks did overnight); the rest of
  the offset is exact elapsed time.
* Quiet hours: a reminder that would fall inside them is sent one minute before they begin
  (earlier, never later, so it can never land after the session starts).
* A new reminder whose due time has already passed is not planned, except that when every
  offset has passed for a session that has not started (someone subscribes 5 minutes before),
  one "starting soon" reminder is planned for now, under the smallest offset.
* People marked unreachable who want private messages get nothing planned.
* A person with linked accounts (``/link``) is planned once: for the one account their
  settings send reminders to (``bot.identities.recipient``); the scope of a plan covers all
  their accounts, so what was pending for the others is removed.
* Reminders delivered into one group chat at one instant are made ready one group interval
  apart (a group takes 20 a minute on Telegram), ending at the due time, within the early
  window: the group's last one lands on time instead of minutes late.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.errors import UnknownTimeZone
from bot.identities import recipient, shared_chat
from bot.models import Delivery, EventStatus, Occurrence, Subscription, SubscriptionScope, UserSettings
from bot.ports import PlannedReminder, ReminderKey, ReminderRepository
from bot.timeutil import zone

log = logging.getLogger(__name__)

PLAN_HORIZON = timedelta(weeks=4, days=1)
"""How far ahead reminders are planned: the longest offset allowed plus a day."""

QUIET_LEAD = 60
"""Seconds before quiet hours begin at which a reminder that would fall inside them is sent."""


def safe_zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return zone(name or default)
    except UnknownTimeZone:
        return zone(default)


def due_time(start_ts: int, offset_s: int, tz: ZoneInfo, quiet: tuple[int, int] | None) -> int:
    """When a reminder ``offset_s`` before a session starting at ``start_ts`` should arrive."""
    days, rest = divmod(offset_s, 86400)
    start = datetime.fromtimestamp(start_ts, tz)
    if days:
        wall = start.replace(tzinfo=None) - timedelta(days=days)
        start = wall.replace(tzinfo=tz)
    due = int(start.astimezone(UTC).timestamp()) - rest
    if quiet is not None:
        due = out_of_quiet_hours(due, tz, *quiet)
    return due


def out_of_quiet_hours(due: int, tz: ZoneInfo, quiet_start: int, quiet_end: int) -> int:
    if quiet_start == quiet_end:
        return due
    local = datetime.fromtimestamp(due, tz)
    minute = local.hour * 60 + local.minute
    if quiet_start < quiet_end:
        inside, began_today = quiet_start <= minute < quiet_end, True
    else:
        inside, began_today = minute >= quiet_start or minute < quiet_end, minute >= quiet_start
    if not inside:
        return due
    day = local.date() if began_today else local.date() - timedelta(days=1)
    began = datetime.combine(day, time(quiet_start // 60, quiet_start % 60), tz)
    return int(began.astimezone(UTC).timestamp()) - QUIET_LEAD


@dataclass
class SubscriptionIndex:
    """Who follows what, indexed for matching many occurrences quickly."""

    everything: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    series: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    occurrences: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def build(cls, subscriptions: Iterable[Subscription]) -> SubscriptionIndex:
        index = cls()
        for s in subscriptions:
            if s.scope is SubscriptionScope.ALL:
                index.everything[s.calendar].add(s.user_id)
            elif s.scope is SubscriptionScope.SERIES:
                index.series[s.target].add(s.user_id)
            else:
                index.occurrences[s.target].add(s.user_id)
        return index

    def subscribers(self, o: Occurrence) -> set[str]:
        found: set[str] = set()
        for bucket in (self.everything.get(""), self.everything.get(o.calendar),
                       self.series.get(o.series_id), self.occurrences.get(o.id)):
            if bucket:
                found |= bucket
        return found

    def users(self) -> set[str]:
        found: set[str] = set()
        for group in (self.everything, self.series, self.occurrences):
            for users in group.values():
                found |= users
        return found


@dataclass
class Wanted:
    """The plan for one scope: ``key -> (start_ts, due_ts, platform, ready_ts)``."""

    items: dict[ReminderKey, tuple[int, int, str, int]] = field(default_factory=dict)
    person_of: dict[str, str] = field(default_factory=dict)
    """Person of each linked account planned for: what one of them was sent counts for all."""


class Planner:
    def __init__(self, repo: ReminderRepository, config: Config,
                 group_interval: Callable[[str], float | None] | None = None) -> None:
        self._repo = repo
        self._config = config
        self._group_interval = group_interval or (lambda _platform: None)

    def wanted(self, occurrences: Sequence[Occurrence], index: SubscriptionIndex,
               settings: dict[str, UserSettings], unreachable: set[str],
               only_users: set[str] | None = None,
               accounts: dict[str, tuple[str, ...]] | None = None) -> Wanted:
        """The reminders ``index``'s people (ids of persons) want for ``occurrences``, keyed by
        the account each goes to; ``accounts`` holds the accounts of people with linked ones."""
        config = self._config
        default_offsets = tuple(int(o.total_seconds()) for o in config.offsets)
        groups = accounts or {}
        person: dict[str, tuple[ZoneInfo, tuple[int, ...], tuple[int, int] | None, str | None, str] | None] = {}
        due_cache: dict[tuple[int, int, str, tuple[int, int] | None], int] = {}
        wanted = Wanted()
        items = wanted.items
        into_groups: dict[tuple[str, str, int], list[ReminderKey]] = defaultdict(list)
        for o in occurrences:
            if o.status is EventStatus.CANCELLED:
                continue
            start_ts = int(o.start.timestamp())
            users = index.subscribers(o)
            if only_users is not None:
                users &= only_users
            for user in users:
                if user not in person:
                    person[user] = self._person(settings.get(user) or UserSettings(user), unreachable,
                                                default_offsets, groups.get(user, (user,)))
                prefs = person[user]
                if prefs is None:
                    continue
                tz, offsets, quiet, group, to = prefs
                if user in groups:
                    wanted.person_of.update(dict.fromkeys(groups[user], user))
                platform = to.partition(":")[0]
                for offset in offsets:
                    cache_key = (start_ts, offset, tz.key, quiet)
                    due = due_cache.get(cache_key)
                    if due is None:
                        due = due_cache[cache_key] = due_time(start_ts, offset, tz, quiet)
                    items[(to, o.id, offset)] = (start_ts, due, platform, due)
                    if group is not None:
                        into_groups[(platform, group, due)].append((to, o.id, offset))
        self._stagger(items, into_groups)
        return wanted

    def _stagger(self, items: dict[ReminderKey, tuple[int, int, str, int]],
                 into_groups: dict[tuple[str, str, int], list[ReminderKey]]) -> None:
        window = max(0, self._config.early_window_minutes) * 60
        for (platform, _group, due), keys in into_groups.items():
            interval = self._group_interval(platform)
            if not interval or len(keys) < 2:
                continue
            keys.sort()
            for place, key in enumerate(keys):
                start_ts, _due, _platform, _ready = items[key]
                ahead = min(window, math.ceil((len(keys) - 1 - place) * interval))
                items[key] = (start_ts, due, platform, due - ahead)

    def _person(self, s: UserSettings, unreachable: set[str], default_offsets: tuple[int, ...],
                accounts: tuple[str, ...],
                ) -> tuple[ZoneInfo, tuple[int, ...], tuple[int, int] | None, str | None, str] | None:
        to = recipient(s, accounts)
        chat = shared_chat(replace(s, user_id=to))
        if to in unreachable and not chat:
            return None  # no private chat and no shared one: nothing can be delivered
        # Into a group: by choice, or because their private chat is closed.
        into_group = (s.delivery is Delivery.CHANNEL or to in unreachable) and bool(chat)
        group = chat if into_group else None
        offsets = tuple(int(o.total_seconds()) for o in s.offsets) if s.offsets else default_offsets
        quiet = (s.quiet_start, s.quiet_end) if s.quiet_start is not None and s.quiet_end is not None else None
        return safe_zone(s.timezone, self._config.timezone), offsets, quiet, group, to

    async def reconcile(self, wanted: Wanted, now: int, *, user_ids: Sequence[str] | None = None,
                        occurrence_ids: Sequence[str] | None = None) -> tuple[int, int, int]:
        """Make the stored plan for a scope equal to ``wanted``; return (added, moved, removed)."""
        stored = await self._repo.planned(after=now, user_ids=user_ids, occurrence_ids=occurrence_ids)
        inserts: list[PlannedReminder] = []
        updates: list[tuple[int, int, int, int]] = []
        late: dict[tuple[str, str], list[tuple[int, int, int, str]]] = defaultdict(list)
        person = wanted.person_of
        # Whether a person has any reminder for a session, on whichever of their accounts.
        has_any: set[tuple[str, str]] = {(person.get(k[0], k[0]), k[1]) for k in stored}
        for key, (start_ts, due, platform, ready) in wanted.items.items():
            if start_ts <= now:
                continue
            found = stored.get(key)
            if found is None:
                if due >= now:
                    inserts.append(PlannedReminder(key[0], key[1], key[2], platform, start_ts, due, ready))
                    has_any.add((person.get(key[0], key[0]), key[1]))
                else:
                    late[(key[0], key[1])].append((key[2], start_ts, due, platform))
            elif found[1] == "pending" and (found[2] != start_ts or (found[3] != due and max(found[3], due) > now)):
                # (A due time already past either way, e.g. a "starting soon" one, is left alone.)
                updates.append((found[0], start_ts, due, ready))
        for (user, occurrence), passed in late.items():
            if (person.get(user, user), occurrence) in has_any:
                continue
            # Every offset has passed before the session starts: one "starting soon" reminder now.
            offset, start_ts, _due, platform = min(passed)
            inserts.append(PlannedReminder(user, occurrence, offset, platform, start_ts, now))
        deletes = [found[0] for key, found in stored.items()
                   if found[1] == "pending" and key not in wanted.items]
        if inserts or updates or deletes:
            await self._repo.apply_plan(now=now, inserts=inserts, updates=updates, deletes=deletes)
        return len(inserts), len(updates), len(deletes)
