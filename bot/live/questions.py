"""Q&A: /ask, /questions, /upvote, and the facilitators' /answered, /hide, /approve, /qa.

Questions are numbered 1, 2, 3… per session in the order asked. An anonymous question is
stored without its author; while Q&A is open the store keeps only a keyed hash, enough to
stop people upvoting their own question and to rate-limit them. Q&A closes with /qa close,
with /live end in its last room, or at the session's end, whichever comes first; the keys
are then made unlinkable (``bot.store.anonymity``) and the upvotes so far are final.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.commands.router import CommandSpec, Flag, Param, ParsedCommand, PerPerson, Router, whole_number
from bot.context import Context
from bot.errors import UsageError, UserError
from bot.i18n import N_
from bot.live import render
from bot.live.session import live_occurrence
from bot.models import Button, LiveSession, Occurrence, Question, QuestionStatus, Role
from bot.ports import Capability
from bot.services import Services

MAX_QUESTION = 500
FLOOD = PerPerson(3, timedelta(minutes=1))
LIST_LIMIT = 20
BUTTON_LIMIT = 8


async def ask(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    text = cmd.args.get("text", "").strip()
    if not text:
        raise UsageError(N_("Usage: {usage}"), usage="/ask [--anonymous] QUESTION")
    if len(text) > MAX_QUESTION:
        raise UsageError(N_("Please keep a question under 500 characters."))
    occurrence = await live_occurrence(ctx)
    live = ctx.services.store.live
    session = await _open_session(ctx, occurrence)
    now = ctx.now
    anonymous = cmd.flag("anonymous")
    status = QuestionStatus.PENDING if session.moderated else QuestionStatus.OPEN
    q = await live.add_question(occurrence.id, text, user_id=ctx.user.id,
                                author_name=None if anonymous else ctx.user.display,
                                anonymous=anonymous, status=status, now=now)
    if status is QuestionStatus.PENDING:
        await ctx.reply(_("Thank you. Question {n} will show once a facilitator approves it.", n=q.number))
        return
    reply = _("❓ Question {n}: {text}", n=q.number, text=q.text)
    reply += "\n" + _("Upvote it with /upvote {n}.", n=q.number)
    if anonymous and not ctx.chat.is_private:
        reply += "\n" + _("Tip: send /ask --anonymous to me privately so the room cannot see who asked.")
    await ctx.reply(reply, buttons=_buttons(ctx, [q]))


def qa_end_job(occurrence_id: str) -> str:
    return f"live:qa-end:{occurrence_id}"


def arm_qa_end(services: Services, occurrence: Occurrence) -> None:
    """Close Q&A, and erase what links people to it, when the session ends."""

    async def fire() -> None:
        await services.store.live.close_qa(occurrence.id)

    services.alarms.at(qa_end_job(occurrence.id), occurrence.end, fire)


async def _open_session(ctx: Context, occurrence: Occurrence) -> LiveSession:
    """The session, if its Q&A is open now.

    Raises:
        UserError: Q&A is closed, or the session has ended (which closes it now, in case the
            alarm has not run yet).
    """
    live = ctx.services.store.live
    session = await live.get_session(occurrence.id)
    if session.qa_open and ctx.now >= occurrence.end:
        await live.close_qa(occurrence.id)
        raise UserError(N_("Q&A has closed: the session has ended."))
    if not session.qa_open:
        raise UserError(N_("Questions are closed for this session."))
    arm_qa_end(ctx.services, occurrence)
    return session


async def setup(services: Services) -> None:
    """Erase what closed polls and Q&A rounds still hold, close the Q&A of sessions that ended
    while the bot was down, and re-arm the close of the rest."""
    live = services.store.live
    await live.erase_leftover_secrets()
    now = services.clock.now()
    for occurrence_id in await live.sessions_holding_secrets():
        occurrence = await services.store.calendars.get_occurrence(occurrence_id)
        if occurrence is None or occurrence.end <= now:
            await live.close_qa(occurrence_id)
        else:
            arm_qa_end(services, occurrence)


def _buttons(ctx: Context, questions: list[Question]) -> tuple[tuple[Button, ...], ...]:
    messenger = ctx.services.messenger
    if not (messenger.can(ctx.chat.id, Capability.BUTTONS) or messenger.can(ctx.chat.id, Capability.REACTIONS)):
        return ()
    return tuple((Button(ctx._("👍 {n}", n=q.number), f"q:{q.id}:up"),)
                 for q in questions[:BUTTON_LIMIT] if q.status is QuestionStatus.OPEN)


async def list_questions(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    occurrence = await live_occurrence(ctx)
    everything = await ctx.services.store.live.questions_of(occurrence.id)
    open_ = render.ranked([q for q in everything if q.status is QuestionStatus.OPEN])
    answered = [q for q in everything if q.status is QuestionStatus.ANSWERED]
    pending = [q for q in everything if q.status is QuestionStatus.PENDING]
    lines = [_("Questions for “{title}”:", title=occurrence.title)]
    if not open_ and not answered:
        lines.append(_("No questions yet. Ask one with /ask."))
    lines += [render.question_line(q, _) for q in [*open_, *answered][:LIST_LIMIT]]
    if pending and await ctx.is_facilitator_for(occurrence):
        lines.append(_("Awaiting approval (approve with /approve N):"))
        lines += [render.question_line(q, _) for q in pending[:LIST_LIMIT]]
    await ctx.reply("\n".join(lines), buttons=_buttons(ctx, open_))


async def _question(ctx: Context, occurrence: Occurrence, given: str) -> Question:
    try:
        number = whole_number(given)
    except UsageError:
        raise UsageError(N_("Give a question by its number, like 3.")) from None
    q = await ctx.services.store.live.get_question(occurrence.id, number)
    if q is None:
        raise UserError(N_("There is no question {n}."), n=given)
    return q


async def _upvote(ctx: Context, q: Question) -> None:
    _ = ctx._
    live = ctx.services.store.live
    if q.status in (QuestionStatus.PENDING, QuestionStatus.HIDDEN):
        raise UserError(N_("There is no question {n}."), n=q.number)
    occurrence = await ctx.services.store.calendars.get_occurrence(q.occurrence_id)
    if occurrence is None:
        raise UserError(N_("There is no question {n}."), n=q.number)
    await _open_session(ctx, occurrence)
    if await live.in_closed_round(q):
        # Who upvoted it before Q&A last closed is forgotten, so a second upvote cannot be told apart.
        raise UserError(N_("Q&A closed after question {n} was asked, so its upvotes are final."), n=q.number)
    if await live.is_author(q, ctx.user.id):
        raise UserError(N_("You cannot upvote your own question."))
    if not await live.upvote(q, ctx.user.id):
        raise UserError(N_("You have already upvoted question {n}."), n=q.number)
    await ctx.reply(_.plural("👍 Question {number} now has {n} upvote.", "👍 Question {number} now has {n} upvotes.",
                             q.upvotes + 1, number=q.number))


async def upvote(ctx: Context, cmd: ParsedCommand) -> None:
    occurrence = await live_occurrence(ctx)
    await _upvote(ctx, await _question(ctx, occurrence, cmd.args["number"]))


async def upvote_button(ctx: Context, parts: list[str]) -> None:
    if len(parts) != 2 or parts[1] != "up":
        raise UserError(N_("That button is no longer valid."))
    try:
        q = await ctx.services.store.live.question_by_id(whole_number(parts[0]))
    except UsageError:
        q = None
    if q is None:
        raise UserError(N_("That button is no longer valid."))
    await _upvote(ctx, q)


async def _moderate(ctx: Context, cmd: ParsedCommand, status: QuestionStatus) -> None:
    _ = ctx._
    occurrence = await live_occurrence(ctx)
    await ctx.require_facilitator(occurrence, cmd.name)
    q = await _question(ctx, occurrence, cmd.args["number"])
    await ctx.services.store.live.set_question_status(q.id, status)
    if status is QuestionStatus.ANSWERED:
        await ctx.reply(_("✅ Question {n} is answered.", n=q.number))
    elif status is QuestionStatus.HIDDEN:
        await ctx.reply(_("Question {n} is hidden.", n=q.number))
    else:
        await ctx.reply(_("❓ Question {n}: {text}", n=q.number, text=q.text) + "\n"
                        + _("Upvote it with /upvote {n}.", n=q.number),
                        buttons=_buttons(ctx, [replace(q, status=status)]))


async def answered(ctx: Context, cmd: ParsedCommand) -> None:
    await _moderate(ctx, cmd, QuestionStatus.ANSWERED)


async def hide(ctx: Context, cmd: ParsedCommand) -> None:
    await _moderate(ctx, cmd, QuestionStatus.HIDDEN)


async def approve(ctx: Context, cmd: ParsedCommand) -> None:
    await _moderate(ctx, cmd, QuestionStatus.OPEN)


async def qa(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    occurrence = await live_occurrence(ctx)
    await ctx.require_facilitator(occurrence, "qa")
    live = ctx.services.store.live
    session = await live.get_session(occurrence.id)
    action, state = cmd.args["action"], cmd.args.get("state")
    if action == "moderate":
        if state is None:
            raise UsageError(N_("Usage: {usage}"), usage="/qa moderate on|off")
        await live.update_session(replace(session, moderated=state == "on"))
        await ctx.reply(_("Questions now wait for approval (/approve N).") if state == "on"
                        else _("Questions now show as soon as they are asked."))
        return
    if action == "open":
        if ctx.now >= occurrence.end:
            raise UserError(N_("Q&A has closed: the session has ended."))
        arm_qa_end(ctx.services, occurrence)
    await live.update_session(replace(session, qa_open=action == "open"))
    await ctx.reply(_("Q&A is open: ask with /ask.") if action == "open" else _("Q&A is closed."))


def register(router: Router) -> None:
    router.add(CommandSpec(
        "ask", N_("Ask the facilitator a question (add --anonymous to hide your name)."), ask,
        params=(Param("text", N_("Your question"), rest=True, required=False, max_length=2 * MAX_QUESTION),),
        flags=(Flag("anonymous", N_("Nobody, facilitators included, sees who asked")),),
        usage_hint="[--anonymous] QUESTION", limit=FLOOD))
    router.add(CommandSpec("questions", N_("List the questions, most upvoted first."), list_questions,
                           limit=PerPerson(10, timedelta(minutes=1))))
    router.add(CommandSpec(
        "upvote", N_("Upvote a question by its number."), upvote,
        params=(Param("number", N_("A question number"), kind="int"),),
        limit=PerPerson(10, timedelta(minutes=1))))
    for name, summary, handler in (
            ("answered", N_("Facilitators: mark a question answered."), answered),
            ("hide", N_("Facilitators: hide a question."), hide),
            ("approve", N_("Facilitators: show a question waiting for approval."), approve)):
        router.add(CommandSpec(name, summary, handler, role=Role.FACILITATOR,
                               params=(Param("number", N_("A question number"), kind="int"),)))
    router.add(CommandSpec(
        "qa", N_("Facilitators: open or close Q&A, or turn pre-moderation on or off."), qa, role=Role.FACILITATOR,
        params=(Param("action", N_("open, close or moderate"), kind="choice", choices=("open", "close", "moderate")),
                Param("state", N_("on or off (for moderate)"), kind="choice", choices=("on", "off"),
                      required=False)),
        usage_hint="open|close|moderate on|off"))
    router.action("q", counts_as="upvote")(upvote_button)
