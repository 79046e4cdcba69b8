"""``ReminderService``: keeps the outbox planned and the dispatcher awake.

Planning follows every change: a person's subscriptions or settings (``person_changed``,
registered on ``services.person_listeners``), a calendar refresh (``occurrences_changed``),
and time passing (``replan_all`` every hour moves the planning horizon forward).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

import sqlalchemy.exc

from bot.i18n import translator
from bot.models import ChatKind, ChatRef, Occurrence, Outgoing, Reminder, UserRef
from bot.reminders.dispatcher import UNREACHABLE, Dispatcher, ts
from bot.reminders.planner import PLAN_HORIZON, Planner, SubscriptionIndex, Wanted, safe_zone
from bot.workers import once_across

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

REPLAN_JOB = "reminders:replan"
OUTBOX_JOB = "reminders:outbox"
DIGEST_JOB = "reminders:digest"
REPLAN_EVERY = timedelta(hours=1)
PLAN_CHUNK_ROWS = 50_000


class ReminderService:
    def __init__(self, services: Services, dispatcher: Dispatcher | None = None) -> None:
        self.services = services
        self.repo = services.store.reminders
        self.dispatcher = dispatcher or Dispatcher(services)
        self.planner = Planner(self.repo, services.config, group_interval=self.dispatcher.limiter.group_interval)

    async def start(self) -> None:
        """Plan from the store as it is now and set the alarms (at start-up)."""
        await self.replan_all()
        self.services.alarms.every(REPLAN_JOB, REPLAN_EVERY, once_across(self.services, REPLAN_JOB, self.replan_all))
        every = self.services.config.outbox_check_seconds
        if every > 0:
            self.services.alarms.every(OUTBOX_JOB, timedelta(seconds=every), self.look_in_outbox)
        self._schedule_digest()
        await self.dispatcher.schedule()

    async def look_in_outbox(self) -> None:
        """Send what another process put in the outbox (notices from ``eventbot import`` in a
        terminal, reminders planned by a second bot): this process's alarm does not know of
        it. A look is a few indexed reads; a drain starts only when something is ready."""
        when = await self.dispatcher.next_wake()
        if when is not None and when <= self.services.clock.now():
            self.dispatcher.poke()

    # -- planning ------------------------------------------------------------------------------

    async def _occurrences_ahead(self, now: datetime) -> list[Occurrence]:
        source = self.services.calendars
        if source is not None:
            return await source.occurrences_between(now, now + PLAN_HORIZON)
        return await self.services.store.calendars.occurrences_between(now, now + PLAN_HORIZON)

    async def _reconcile(self, wanted: Wanted, now: int, **scope: Sequence[str]) -> tuple[int, int, int]:
        try:
            result = await self.planner.reconcile(wanted, now, **scope)
        except sqlalchemy.exc.IntegrityError:
            # Another process planned the same reminders a moment ago: read again, once.
            result = await self.planner.reconcile(wanted, now, **scope)
        self.services.metrics.reminders_planned.inc(result[0])
        return result

    async def person_changed(self, user_id: str) -> None:
        await self.plan_people([user_id])
        await self.retry_unreachable(user_id)

    async def heard_in_private(self, user_id: str) -> None:
        """Someone marked unreachable wrote to the bot privately: private messages reach them
        again, so their reminders are planned and tried again."""
        if not await self.repo.unreachable([user_id]):
            return
        await self.repo.clear_unreachable(user_id)
        log.info("%s wrote privately: reachable again", user_id)
        await self.person_changed(user_id)

    async def retry_unreachable(self, user_id: str) -> int:
        """Plan again the reminders that failed because a person could not be reached, if
        they can be now (by private message, or in a shared chat: by choice or as the
        fallback) and the session has not started: each one still due comes at its time;
        where every one for a session is past, the nearest comes now, once. Change notices
        about sessions not yet over come now."""
        settings = await self.services.store.people.get_settings(user_id)
        if not settings.delivery_chat and await self.repo.unreachable([user_id]):
            return 0
        now = ts(self.services.clock.now())
        by_session: dict[str, list[Reminder]] = defaultdict(list)
        ready: list[tuple[int, int]] = []
        for r in await self.repo.failed_of(user_id, after=now, error_prefix=UNREACHABLE):
            if r.notice is not None:
                ready.append((r.id, now))  # a change notice still matters until its sessions end
            else:
                by_session[r.occurrence_id].append(r)
        for failed in by_session.values():
            ahead = [(r.id, ts(r.due)) for r in failed if ts(r.due) >= now]
            ready += ahead or [(min(failed, key=lambda r: r.offset).id, now)]
        requeued = await self.repo.requeue(ready, now)
        if requeued:
            log.info("%s can be reached again: %d failed reminders planned again", user_id, requeued)
            self.dispatcher.poke()
        return requeued

    async def plan_people(self, user_ids: Sequence[str]) -> tuple[int, int, int]:
        """Plan for the people of these accounts, over all of each one's linked accounts."""
        now = self.services.clock.now()
        people = self.services.store.people
        accounts: dict[str, tuple[str, ...]] = {}
        for uid in user_ids:
            mine = await people.accounts_of(uid)
            accounts[mine[0]] = mine
        persons = list(accounts)
        every = [a for mine in accounts.values() for a in mine]
        subscriptions = [s for person in persons for s in await people.subscriptions_of(person)]
        settings = await people.get_many_settings(persons)
        unreachable = await self.repo.unreachable(every)
        wanted = self.planner.wanted(await self._occurrences_ahead(now), SubscriptionIndex.build(subscriptions),
                                     settings, unreachable, only_users=set(persons), accounts=accounts)
        result = await self._reconcile(wanted, ts(now), user_ids=every)
        if any(result):
            self.dispatcher.poke()
        return result

    async def occurrences_changed(self, changed_ids: Sequence[str], cancelled_ids: Sequence[str]) -> None:
        """Replan after a calendar refresh: moved sessions move their pending reminders,
        cancelled or deleted ones lose theirs."""
        ids = list(dict.fromkeys([*changed_ids, *cancelled_ids]))
        if not ids:
            return
        now = self.services.clock.now()
        found = [await self.services.store.calendars.get_occurrence(i) for i in ids]
        ahead = [o for o in found if o is not None and now < o.start < now + PLAN_HORIZON]
        index = SubscriptionIndex.build(await self.services.store.people.all_subscriptions())
        users = sorted({u for o in ahead for u in index.subscribers(o)})
        settings = await self.services.store.people.get_many_settings(users)
        accounts = await self.services.store.people.identity_groups(users)
        unreachable = await self.repo.unreachable([a for u in users for a in accounts.get(u, (u,))])
        wanted = self.planner.wanted(ahead, index, settings, unreachable, accounts=accounts)
        added, moved, removed = await self._reconcile(wanted, ts(now), occurrence_ids=ids)
        log.info("calendar change: %d reminders planned, %d moved, %d removed", added, moved, removed)
        if added or moved or removed:
            self.dispatcher.poke()

    async def replan_all(self) -> tuple[int, int, int]:
        """Plan every session within the horizon for everyone, in chunks of sessions."""
        now = self.services.clock.now()
        people = self.services.store.people
        index = SubscriptionIndex.build(await people.all_subscriptions())
        users = sorted(index.users())
        settings = await people.get_many_settings(users)
        accounts = await people.identity_groups()
        unreachable = await self.repo.unreachable()
        occurrences = await self._occurrences_ahead(now)
        totals = [0, 0, 0]
        chunk: list[Occurrence] = []
        rows = 0
        for position, o in enumerate(occurrences):
            chunk.append(o)
            rows += len(index.subscribers(o))
            if rows >= PLAN_CHUNK_ROWS or position == len(occurrences) - 1:
                wanted = self.planner.wanted(chunk, index, settings, unreachable, accounts=accounts)
                done = await self._reconcile(wanted, ts(now), occurrence_ids=[c.id for c in chunk])
                totals = [a + b for a, b in zip(totals, done, strict=True)]
                chunk, rows = [], 0
        totals[2] += await self.repo.delete_orphans(ts(now))
        if any(totals):
            log.info("replanned: %d reminders planned, %d moved, %d removed", *totals)
            self.dispatcher.poke()
        return totals[0], totals[1], totals[2]

    # -- the organisers' daily digest -----------------------------------------------------------

    def _next_digest(self) -> datetime:
        config = self.services.config
        tz = safe_zone(None, config.timezone)
        now = self.services.clock.now().astimezone(tz)
        hour = min(max(config.digest_hour, 0), 23)
        when = datetime.combine(now.date(), time(hour), tz)
        if when <= now:
            when = datetime.combine(now.date() + timedelta(days=1), time(hour), tz)
        return when.astimezone(UTC)

    def _schedule_digest(self) -> None:
        self.services.alarms.at(DIGEST_JOB, self._next_digest(),
                                once_across(self.services, DIGEST_JOB, self.send_digest, catch_up=True))

    def digest_recipients(self) -> list[Outgoing]:
        config = self.services.config
        if config.digest_chats:
            return [Outgoing(text="", chat=ChatRef(c, ChatKind.GROUP), kind="notice") for c in config.digest_chats]
        organisers = list(config.organisers)
        platforms = {a.name for a in self.services.messenger.adapters}
        if "console" in platforms and not any(o.startswith("console:") for o in organisers):
            organisers.append(f"console:{config.console_user}")
        return [Outgoing(text="", user=UserRef(o), kind="notice") for o in organisers
                if o.partition(":")[0] in platforms]

    async def send_digest(self) -> int:
        """Tell organisers what happened to reminders in the last day; return messages sent."""
        self._schedule_digest()
        now = self.services.clock.now()
        day = now.astimezone(safe_zone(None, self.services.config.timezone)).date().isoformat()
        if not await self.repo.claim_meta("digest_day", day):
            return 0  # sent today already, perhaps by the other process on this database
        summary = await self.repo.summary_since(ts(now - timedelta(days=1)))
        if not (summary.sent or summary.failed or summary.expired or summary.unreachable):
            return 0
        _ = translator(self.services.config.language)
        lines = [_("Reminders in the last 24 hours: {sent} sent, {failed} failed, {expired} expired.",
                   sent=summary.sent, failed=summary.failed, expired=summary.expired)]
        titles: dict[str, str] = {}
        for r in summary.failures:
            if r.occurrence_id not in titles:
                o = await self.services.store.calendars.get_occurrence(r.occurrence_id)
                titles[r.occurrence_id] = o.title if o else r.occurrence_id
            lines.append(_("• {who} — “{title}”: {error}", who=r.user_id, title=titles[r.occurrence_id],
                           error=r.last_error))
        if summary.failed > len(summary.failures):
            lines.append(_("…and {n} more.", n=summary.failed - len(summary.failures)))
        if summary.failed:
            lines.append(_("See them all with: eventbot reminders --status failed"))
        for who, reason in summary.unreachable:
            lines.append(_("• {who} cannot be reached privately ({reason}): reminded in the shared chat "
                           "they use, where there is one.", who=who, reason=reason))
        text = "\n".join(lines)
        sent = 0
        for template in self.digest_recipients():
            message = Outgoing(text=text, chat=template.chat, user=template.user, kind="notice")
            try:
                await self.services.messenger.send(message)
                sent += 1
            except Exception as exc:
                log.warning("could not send the reminder digest to %s: %s", message.destination, exc)
        return sent
