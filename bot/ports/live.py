"""Live sessions in the store: bindings, polls, questions and check-ins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.models import (
    Checkin,
    LiveBinding,
    LiveSession,
    NativePollAnswers,
    Poll,
    PollTally,
    Question,
    QuestionStatus,
)


class LiveRepository(Protocol):
    """Live sessions: chat bindings, polls and votes, questions and upvotes, check-ins.

    Votes of anonymous polls, upvotes and anonymous askers are stored under keyed hashes
    only; no method returns who voted what in an anonymous poll.
    """

    async def bind_chat(self, chat_id: str, occurrence_id: str, bound_by: str, now: datetime) -> None:
        """Bind a chat to a session, ending its previous binding."""
        ...

    async def binding_for(self, chat_id: str) -> LiveBinding | None:
        """Return the chat's current binding, or None."""
        ...

    async def end_binding(self, chat_id: str, now: datetime) -> bool:
        """End the chat's current binding; return False if it had none."""
        ...

    async def bindings_on(self, platform: str) -> list[LiveBinding]:
        """Current bindings of every chat of a platform."""
        ...

    async def chats_bound_to(self, occurrence_id: str) -> list[str]:
        """Chats currently bound to a session."""
        ...

    async def was_bound(self, chat_id: str, occurrence_id: str) -> bool:
        """Whether the chat was ever bound to the session (auto-binding binds once)."""
        ...

    async def get_session(self, occurrence_id: str) -> LiveSession:
        """Return the session's live settings (defaults if none are stored)."""
        ...

    async def set_focus(self, occurrence_id: str, number: int | None) -> None:
        """Point the projector at question ``number`` (None: at the most upvoted open one).
        Written alone, so it never undoes a concurrent change to the session's other settings."""
        ...

    async def update_session(self, session: LiveSession) -> None:
        """Store the session's live settings. With ``qa_open`` False this closes the Q&A
        round as ``close_qa`` does, in the same transaction."""
        ...

    async def close_qa(self, occurrence_id: str) -> None:
        """Close the session's Q&A and, in the same transaction, erase its salt and replace
        every asker and upvoter key with a random token: nothing links them to anyone after."""
        ...

    async def sessions_holding_secrets(self) -> list[str]:
        """Occurrence ids whose Q&A salt is still stored (Q&A open, or not closed yet)."""
        ...

    async def erase_leftover_secrets(self) -> int:
        """Erase the salts and keys of polls and Q&A rounds already closed; return how many."""
        ...

    async def create_poll(self, poll: Poll) -> Poll:
        """Store a new poll (its ``id`` is ignored) and return it with its id."""
        ...

    async def set_poll_delivery(self, poll_id: int, message_id: str | None, poll_ref: str | None) -> None:
        """Remember the message (and native poll) that carries a poll."""
        ...

    async def get_poll(self, poll_id: int, *, fresh: bool = False) -> Poll | None:
        """Return a poll by id; ``fresh`` reads the store, never a copy cached while it
        was open (which may miss another process's close or delivery)."""
        ...

    async def poll_by_ref(self, poll_ref: str) -> Poll | None:
        """Return the poll rendered as the given native poll."""
        ...

    async def latest_poll(self, chat_id: str, *, open_only: bool = False) -> Poll | None:
        """Return the newest (open) poll of a chat."""
        ...

    async def latest_open_poll_on(self, platform: str) -> Poll | None:
        """Return the newest open poll in any chat of a platform (for votes sent privately)."""
        ...

    async def polls_of(self, occurrence_id: str | None = None, *, open_only: bool = False,
                       timed_only: bool = False) -> list[Poll]:
        """Return polls, of one session or of all, oldest first."""
        ...

    async def close_poll(self, poll_id: int, now: datetime, *, final: NativePollAnswers | None = None) -> bool:
        """Close a poll and erase its salt; return False if it was already closed.

        Args:
            final: The answers of its native poll, ended on the platform just before: they
                replace the votes stored (who voted what, where the platform tells; else
                only the counts, which the tally then reports).
        """
        ...

    async def recount(self, poll_id: int, answers: NativePollAnswers) -> bool:
        """Make an open native poll's stored votes those the platform holds (who holds each
        option must be given); return False if the poll is closed."""
        ...

    async def set_votes(self, poll: Poll, user_id: str, options: Sequence[int]) -> bool:
        """Replace a person's choice (0-based options; empty retracts). False if closed."""
        ...

    async def toggle_vote(self, poll: Poll, user_id: str, option: int) -> bool | None:
        """Flip one option of a multi-choice vote; return whether it is now chosen, None if closed."""
        ...

    async def choices_of(self, poll: Poll, user_id: str) -> list[int]:
        """A person's current choices (empty once an anonymous poll has closed)."""
        ...

    async def tally(self, poll: Poll) -> PollTally:
        """Count the votes."""
        ...

    async def voters_by_option(self, poll: Poll) -> list[list[str]]:
        """Voter ids per option of a NON-anonymous poll.

        Raises:
            PermissionError: The poll is anonymous.
        """
        ...

    async def add_question(self, occurrence_id: str, text: str, *, user_id: str, author_name: str | None,
                           anonymous: bool, status: QuestionStatus, now: datetime) -> Question:
        """Store a question under the session's next number (allocated atomically)."""
        ...

    async def questions_of(self, occurrence_id: str) -> list[Question]:
        """Every question of a session, by number, with upvote counts."""
        ...

    async def sessions_with_questions(self) -> list[str]:
        """Ids of every session that has questions."""
        ...

    async def get_question(self, occurrence_id: str, number: int) -> Question | None:
        """Return a question by its number in the session."""
        ...

    async def question_by_id(self, question_id: int) -> Question | None:
        """Return a question by store id (button actions)."""
        ...

    async def is_author(self, question: Question, user_id: str) -> bool:
        """Whether the person asked it (works for anonymous questions, revealing nothing)."""
        ...

    async def in_closed_round(self, question: Question) -> bool:
        """Whether Q&A has closed since it was asked: its upvotes are then final."""
        ...

    async def set_question_status(self, question_id: int, status: QuestionStatus) -> None:
        """Mark a question pending, open, answered or hidden."""
        ...

    async def upvote(self, question: Question, user_id: str) -> bool:
        """Add a person's upvote; return False if they had already upvoted it."""
        ...

    async def check_in(self, checkin: Checkin) -> bool:
        """Record attendance; return False if already checked in."""
        ...

    async def attendance(self, occurrence_id: str) -> list[Checkin]:
        """Check-ins of one session, earliest first."""
        ...

    async def checkins_of(self, user_id: str) -> list[Checkin]:
        """One person's check-ins, earliest first."""
        ...

    async def attendance_of_calendar(self, calendar: str) -> list[Checkin]:
        """Check-ins of every session of a calendar, by session start."""
        ...
