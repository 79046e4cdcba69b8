"""Live-session text: poll messages, text bar charts, question lists. No voter is ever named
here; results are counts only."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.i18n import Translator
from bot.models import Button, Poll, PollTally, Question, QuestionStatus
from bot.timeutil import local

BAR_WIDTH = 12
BUTTON_LABEL = 40


def bar(share: float, width: int = BAR_WIDTH) -> str:
    """``████░░░░`` for a share in [0, 1], in eighths so small shares still show."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part else ""
    text = "█" * full + partial
    return text + "░" * (width - len(text))


def percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def poll_message(poll: Poll, _: Translator, tz: ZoneInfo, *, buttons: bool) -> str:
    heading = (_("🧠 Quiz {id}: {question}", id=poll.id, question=poll.question) if poll.correct is not None
               else _("📊 Poll {id}: {question}", id=poll.id, question=poll.question))
    lines = [heading, *(f"{n}. {text}" for n, text in enumerate(poll.options, 1))]
    if poll.multi:
        lines.append(_("Choose one or more: /vote 1 3 (your latest vote replaces the earlier one)."))
    else:
        lines.append(_("Vote with /vote N (you can change your vote until it closes)."))
    if buttons:
        lines.append(_("Or press a button below."))
    if poll.anonymous:
        lines.append(_("🔒 Anonymous: nobody, facilitators included, can see who voted what. "
                       "To keep even your vote message private, press a button or send /vote N to me directly."))
    if poll.closes_at is not None:
        when = local(poll.closes_at, tz)
        lines.append(_("Closes at {time}.", time=f"{when:%H:%M} {when.tzname() or ''}".rstrip()))
    return "\n".join(lines)


def poll_buttons(poll: Poll) -> tuple[tuple[Button, ...], ...]:
    return tuple((Button(f"{n}. {text}"[:BUTTON_LABEL], f"poll:{poll.id}:vote:{n}"),)
                 for n, text in enumerate(poll.options, 1))


def results_text(poll: Poll, tally: PollTally, _: Translator, *, final: bool) -> str:
    heading = (_("📊 Final results — {question}", question=poll.question) if final
               else _("📊 Results so far — {question}", question=poll.question))
    lines = [heading]
    width = max((len(o) for o in poll.options), default=0)
    width = min(width, 28)
    for n, (text, votes) in enumerate(zip(poll.options, tally.votes, strict=True), 1):
        share = votes / tally.voters if tally.voters else 0.0
        mark = " ✅" if final and poll.correct == n - 1 else ""
        label = text if len(text) <= width else text[:width - 1] + "…"
        lines.append(f"{n}. {label.ljust(width)} {bar(share)} {votes} ({percent(votes, tally.voters)}%){mark}")
    lines.append(_.plural("{n} person voted.", "{n} people voted.", tally.voters))
    if final and poll.correct is not None:
        lines.append(_("Correct answer: {answer}. {share}% got it right.",
                       answer=f"{poll.correct + 1}. {poll.options[poll.correct]}",
                       share=percent(tally.right, tally.voters)))
    elif not final:
        lines.append(_("The poll is still open.") if poll.is_open else _("The poll is closed."))
    return "\n".join(lines)


def choice_text(poll: Poll, choices: list[int]) -> str:
    return ", ".join(f"{i + 1}. {poll.options[i]}" for i in choices if 0 <= i < len(poll.options))


def question_line(q: Question, _: Translator, *, show_author: bool = True) -> str:
    who = (q.author_name or q.author_id or "") if not q.anonymous else _("anonymous")
    line = f"{q.number}. {q.text} — 👍 {q.upvotes}"
    if show_author:
        line += f" · {who}"
    if q.status is QuestionStatus.ANSWERED:
        line += " " + _("(answered)")
    elif q.status is QuestionStatus.PENDING:
        line += " " + _("(awaiting approval)")
    elif q.status is QuestionStatus.HIDDEN:
        line += " " + _("(hidden)")
    return line


def ranked(questions: list[Question]) -> list[Question]:
    """Most upvotes first, then oldest."""
    return sorted(questions, key=lambda q: (-q.upvotes, q.number))
