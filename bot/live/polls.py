"""Polls and quizzes: /poll, /vote, /results, /closepoll, and the poll buttons.

A poll belongs to the session bound to the chat it was launched in. People vote with
``/vote N`` everywhere, with buttons (``poll:<id>:vote:<n>``) where the platform has them,
and with the platform's own poll where it has one and the poll is not anonymous (native
voters are visible to others on some platforms). Timed closes are alarms rebuilt from the
store at start-up, so a restart loses none.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.commands.router import CommandSpec, Flag, Param, ParsedCommand, PerPerson, Router, whole_number
from bot.context import Context
from bot.errors import AdapterUnavailable, DeliveryFailed, UsageError, UserError
from bot.i18n import N_, Translator
from bot.live import chart, render
from bot.live.session import live_occurrence, room_translator
from bot.models import ChatKind, ChatRef, NativePollAnswers, Outgoing, Poll, PollSpec, Role
from bot.ports import Capability, SupportsNativePolls
from bot.services import Services
from bot.timeutil import parse_duration, zone
from bot.workers import once_across

log = logging.getLogger(__name__)

MIN_OPTIONS, MAX_OPTIONS = 2, 12
MAX_QUESTION, MAX_OPTION = 300, 100
MAX_CLOSE_AFTER = timedelta(days=1)


def close_job(poll_id: int) -> str:
    return f"live:poll-close:{poll_id}"


# -- launching -------------------------------------------------------------------------


def _parse_close(value: str | bool | None) -> timedelta | None:
    if value is None or value is False:
        return None
    delay = parse_duration(str(value))
    if delay <= timedelta(0) or delay > MAX_CLOSE_AFTER:
        raise UsageError(N_("--close must be between 1 second and 1 day, like 5m."))
    return delay


def _parse_correct(value: str | bool | None, options: int) -> int | None:
    if value is None or value is False:
        return None
    try:
        return whole_number(str(value), low=1, high=options) - 1
    except UsageError:
        raise UsageError(N_("--correct takes the number of the right option, 1 to {max}."),
                         max=options) from None


async def launch(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    occurrence = await live_occurrence(ctx)
    await ctx.require_facilitator(occurrence, "poll")
    question = cmd.args["question"].strip()
    options = [o.strip() for o in cmd.extra]
    if len(options) < MIN_OPTIONS or len(options) > MAX_OPTIONS or not question or not all(options):
        raise UsageError(N_('A poll needs a question and 2 to 12 options, each in quotes: '
                            '/poll "Question?" "Option A" "Option B"'))
    if len(question) > MAX_QUESTION or any(len(o) > MAX_OPTION for o in options):
        raise UsageError(N_("Keep the question under 300 characters and each option under 100."))
    if len({o.casefold() for o in options}) != len(options):
        raise UsageError(N_("Two options are the same; make each one different."))
    multi = cmd.flag("multi")
    correct = _parse_correct(cmd.flags.get("correct"), len(options))
    if multi and correct is not None:
        raise UsageError(N_("A quiz has one correct answer, so --correct cannot go with --multi."))
    delay = _parse_close(cmd.flags.get("close"))
    now = ctx.now
    poll = await ctx.services.store.live.create_poll(Poll(
        id=0, occurrence_id=occurrence.id, chat_id=ctx.chat.id, question=question, options=tuple(options),
        multi=multi, anonymous=cmd.flag("anonymous"), correct=correct, created_by=ctx.user.id,
        created_at=now, closes_at=now + delay if delay else None))
    await post_poll(ctx.services, poll, ctx.chat, await room_translator(ctx.services, ctx.chat.id, _))
    if poll.closes_at is not None:
        schedule_close(ctx.services, poll)


async def post_poll(services: Services, poll: Poll, chat: ChatRef, _: Translator) -> None:
    messenger = services.messenger
    native = not poll.anonymous and messenger.can(chat.id, Capability.NATIVE_POLLS)
    buttons = not native and messenger.can(chat.id, Capability.BUTTONS)
    text = render.poll_message(poll, _, zone(services.config.timezone), buttons=buttons)
    spec = (PollSpec(poll_id=poll.id, question=poll.question, options=poll.options, multiple=poll.multi,
                     correct_option=poll.correct) if native else None)
    delivered = await messenger.send(Outgoing(
        text=text, chat=chat, buttons=render.poll_buttons(poll) if buttons else (), poll=spec, kind="poll"))
    if delivered.message_id or delivered.poll_ref:
        await services.store.live.set_poll_delivery(poll.id, delivered.message_id,
                                                    delivered.poll_ref if native else None)


def schedule_close(services: Services, poll: Poll) -> None:
    assert poll.closes_at is not None

    async def fire() -> None:
        await finish_poll(services, poll.id)

    services.alarms.at(close_job(poll.id), poll.closes_at,
                       once_across(services, close_job(poll.id), fire, catch_up=True))


# -- closing ---------------------------------------------------------------------------


async def finish_poll(services: Services, poll_id: int, _: Translator | None = None) -> bool:
    """Close a poll and post its final results; False if it was already closed.

    A native poll is ended on the platform first, so that no answer is taken after the
    count; the platform's final answers then replace the stored votes in the same write
    that closes the poll, and the results posted are the platform's, answers still on
    their way to the bot included."""
    live = services.store.live
    poll = await live.get_poll(poll_id, fresh=True)
    if poll is None or not poll.is_open:
        return False
    final = await _end_native(services, poll)
    if not await live.close_poll(poll_id, services.clock.now(), final=final):
        return False
    services.alarms.cancel(close_job(poll_id))
    _ = await room_translator(services, poll.chat_id, _)
    tally = await live.tally(poll)
    text = render.results_text(poll, tally, _, final=True)
    attachment = None
    if services.messenger.can(poll.chat_id, Capability.IMAGES):
        attachment = chart.results_png(poll, tally, final=True,
                                       footer=_.plural("{n} person voted.", "{n} people voted.", tally.voters))
    await services.messenger.send(Outgoing(text=text, chat=ChatRef(poll.chat_id, ChatKind.GROUP),
                                           attachment=attachment, kind="results"))
    return True


def _native_polls(services: Services, poll: Poll) -> SupportsNativePolls | None:
    if not poll.poll_ref or not poll.message_id:
        return None
    try:
        adapter = services.messenger.adapter_for(poll.chat_id)
    except AdapterUnavailable:
        log.warning("no adapter for native poll %s in %s", poll.id, poll.chat_id)
        return None
    return adapter if isinstance(adapter, SupportsNativePolls) else None


async def _end_native(services: Services, poll: Poll) -> NativePollAnswers | None:
    adapter = _native_polls(services, poll)
    if adapter is None:
        return None
    assert poll.message_id is not None
    try:
        final = await adapter.end_poll(poll.chat_id, poll.message_id)
    except DeliveryFailed:
        log.warning("could not end native poll %s in %s; closing it on the votes seen",
                    poll.id, poll.chat_id, exc_info=True)
        return None
    if final is not None and len(final.votes) != len(poll.options):
        log.warning("native poll %s came back with %d options, not %d; closing it on the votes seen",
                    poll.id, len(final.votes), len(poll.options))
        return None
    return final


async def reconcile_open_polls(services: Services) -> int:
    """Count into every open native poll the answers given while the bot was away, as the
    platform holds them; return how many polls were recounted."""
    recounted = 0
    for poll in await services.store.live.polls_of(open_only=True):
        adapter = _native_polls(services, poll)
        if adapter is None:
            continue
        assert poll.message_id is not None
        try:
            answers = await adapter.native_poll_answers(poll.chat_id, poll.message_id)
        except DeliveryFailed:
            log.warning("could not read native poll %s in %s", poll.id, poll.chat_id, exc_info=True)
            continue
        if answers is None or answers.by_option is None or len(answers.votes) != len(poll.options):
            continue
        if await services.store.live.recount(poll.id, answers):
            recounted += 1
    if recounted:
        log.info("recounted %d open native polls from their platforms", recounted)
    return recounted


async def close_early(ctx: Context, cmd: ParsedCommand) -> None:
    poll = await _target_poll(ctx, cmd.args.get("poll"), open_only=True)
    occurrence = await ctx.services.store.calendars.get_occurrence(poll.occurrence_id)
    await ctx.require_facilitator(occurrence, "closepoll")
    if not await finish_poll(ctx.services, poll.id, ctx._):
        raise UserError(N_("That poll has already closed."))


async def _target_poll(ctx: Context, given: str | None, *, open_only: bool) -> Poll:
    live = ctx.services.store.live
    if given:
        try:
            number = whole_number(given)
        except UsageError:
            raise UsageError(N_("Give a poll by its number, like 3.")) from None
        poll = await live.get_poll(number)
        if poll is None:
            raise UserError(N_("There is no poll {id}."), id=given)
        if open_only and not poll.is_open:
            raise UserError(N_("That poll has already closed."))
        return poll
    if ctx.chat.is_private:
        poll = await live.latest_open_poll_on(ctx.chat.platform)
    else:
        poll = await live.latest_poll(ctx.chat.id, open_only=open_only)
    if poll is None:
        raise UserError(N_("There is no open poll here.") if open_only else N_("There is no poll here yet."))
    return poll


# -- voting ----------------------------------------------------------------------------


def _choices(poll: Poll, words: list[str]) -> list[int]:
    choices: list[int] = []
    for word in words:
        for part in word.replace(",", " ").split():
            try:
                choices.append(whole_number(part, low=1, high=len(poll.options)) - 1)
            except UsageError:
                raise UsageError(N_("There is no option {choice}: choose 1 to {max}."),
                                 choice=part[:12], max=len(poll.options)) from None
    if not choices:
        raise UsageError(N_("Usage: {usage}"), usage="/vote N")
    if len(set(choices)) > 1 and not poll.multi:
        raise UsageError(N_("This poll takes one choice: /vote N."))
    return sorted(set(choices))


async def vote(ctx: Context, cmd: ParsedCommand) -> None:
    for _attempt in range(2):
        poll = await _target_poll(ctx, None, open_only=True)
        if poll.poll_ref:
            # The platform counts its own poll; a vote it never saw would make the two disagree.
            raise UserError(N_("Answer in the poll above: this poll counts the answers given there."))
        choices = _choices(poll, [cmd.args["choice"], *cmd.extra])
        if await ctx.services.store.live.set_votes(poll, ctx.user.id, choices):
            _count_vote(ctx)
            await _confirm(ctx, poll, choices)
            return
        # Closed, perhaps by another process that opened a new poll here: look once more.
    raise UserError(N_("That poll has already closed."))


async def _confirm(ctx: Context, poll: Poll, choices: list[int]) -> None:
    """Tell the voter what was counted, privately. In a shared chat the reply never names
    the choice, so an anonymous vote stays anonymous even to people reading the room."""
    _ = ctx._
    detail = (_("Your vote on “{question}” is counted: {choice}.", question=poll.question,
                choice=render.choice_text(poll, choices)) if choices
              else _("Your vote on “{question}” is withdrawn.", question=poll.question))
    await ctx.reply_in_private(detail, fallback=_("Vote counted, {name}.", name=ctx.user.display)
                               if not poll.anonymous else _("Vote counted."))


async def vote_button(ctx: Context, parts: list[str]) -> None:
    """``poll:<id>:vote:<n>`` (1-based n); in a multi-choice poll a press toggles the option."""
    if len(parts) != 3 or parts[1] != "vote":
        raise UserError(N_("That button is no longer valid."))
    live = ctx.services.store.live
    try:
        poll = await live.get_poll(whole_number(parts[0]))
        choice_number = whole_number(parts[2], low=1, high=len(poll.options) if poll else 1)
    except UsageError:
        poll = None
    if poll is None:
        raise UserError(N_("That button is no longer valid."))
    if not poll.is_open:
        raise UserError(N_("That poll has already closed."))
    choice = [choice_number - 1]
    if poll.multi:
        if await live.toggle_vote(poll, ctx.user.id, choice[0]) is None:
            raise UserError(N_("That poll has already closed."))
        _count_vote(ctx)
        await _confirm(ctx, poll, await live.choices_of(poll, ctx.user.id))
        return
    if not await live.set_votes(poll, ctx.user.id, choice):
        raise UserError(N_("That poll has already closed."))
    _count_vote(ctx)
    await _confirm(ctx, poll, choice)


async def native_answer(ctx: Context, parts: list[str]) -> None:
    """``npoll:<poll_ref>:<i,j,…>`` from an adapter: a person's answer in a native poll
    (0-based options; nothing after the last colon means they retracted it)."""
    if len(parts) < 2:
        log.warning("malformed native poll answer %r", parts)
        return
    poll_ref, indexes = ":".join(parts[:-1]), parts[-1]
    live = ctx.services.store.live
    poll = await live.poll_by_ref(poll_ref)
    if poll is None or not poll.is_open:
        log.info("native answer for unknown or closed poll %s", poll_ref)
        return
    try:
        choices = sorted({int(i) for i in indexes.split(",") if i.strip()})
    except ValueError:
        log.warning("malformed native poll answer %r", parts)
        return
    if any(not 0 <= c < len(poll.options) for c in choices) or (len(choices) > 1 and not poll.multi):
        log.warning("native answer out of range for poll %s: %r", poll.id, indexes)
        return
    # The platform shows the person their own answer; a confirmation would only add noise.
    if await live.set_votes(poll, ctx.user.id, choices):
        _count_vote(ctx)


def _count_vote(ctx: Context) -> None:
    ctx.services.metrics.votes.labels(ctx.user.platform).inc()


# -- results ---------------------------------------------------------------------------


async def results(ctx: Context, cmd: ParsedCommand) -> None:
    poll = await _target_poll(ctx, cmd.args.get("poll"), open_only=False)
    tally = await ctx.services.store.live.tally(poll)
    await ctx.reply(render.results_text(poll, tally, ctx._, final=not poll.is_open))


async def setup(services: Services) -> None:
    """Re-arm the timed closes of open polls (a close that fell due while down runs now)."""
    for poll in await services.store.live.polls_of(open_only=True, timed_only=True):
        schedule_close(services, poll)


async def started(services: Services) -> None:
    """Once the adapters are up: take in the native answers given while the bot was down."""
    await reconcile_open_polls(services)


def register(router: Router) -> None:
    router.add(CommandSpec(
        "poll", N_("Facilitators: start a poll or quiz in a live session."), launch,
        params=(Param("question", N_("The question, in quotes")),), variadic=True,
        flags=(Flag("multi", N_("Allow several choices")),
               Flag("anonymous", N_("Nobody, facilitators included, can see who voted what")),
               Flag("close", N_("Close automatically after a time, like 5m"), takes_value=True),
               Flag("correct", N_("Make it a quiz: the number of the right option"), takes_value=True,
                    kind="int")),
        role=Role.FACILITATOR,
        usage_hint='"Question?" "Option A" "Option B" … [--multi] [--anonymous] [--close 5m] [--correct N]'))
    router.add(CommandSpec(
        "vote", N_("Vote in the poll open here: /vote N (or /vote 1 3 where several are allowed)."), vote,
        params=(Param("choice", N_("The option number"), kind="int"),), variadic=True,
        usage_hint="N [M …]", limit=PerPerson(10, timedelta(minutes=1))))
    router.add(CommandSpec(
        "results", N_("Show the results of the latest poll here."), results,
        params=(Param("poll", N_("A poll number"), kind="int", required=False),),
        limit=PerPerson(10, timedelta(minutes=1))))
    router.add(CommandSpec(
        "closepoll", N_("Facilitators: close the open poll now and post the results."), close_early,
        params=(Param("poll", N_("A poll number"), kind="int", required=False),), role=Role.FACILITATOR))
    router.action("poll", counts_as="vote")(vote_button)
    router.action("npoll")(native_answer)


__all__ = ["close_job", "finish_poll", "reconcile_open_polls", "register", "setup", "started"]
