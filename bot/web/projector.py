"""What the projector page shows, read from the store, and the facilitator's two actions.

No aiohttp here: this is the core's view of a live session for a big screen. A poll is shown
as counts only, so no voter's name can reach the page or its event stream; an anonymous
question carries no author. Hidden questions and those awaiting approval are left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from bot.live import render
from bot.models import Occurrence, Poll, Question, QuestionStatus
from bot.services import Services

log = logging.getLogger(__name__)

REFRESH_SECONDS = 0.25
"""How often a watched session is read from the store. The store is the truth (a vote taken
by another process on the same database shows too), and one read serves every viewer."""


@dataclass(frozen=True, slots=True)
class PollView:
    id: int
    question: str
    options: tuple[str, ...]
    votes: tuple[int, ...]
    voters: int
    open: bool
    anonymous: bool
    multi: bool
    correct: int | None
    """The right option of a quiz, once it is revealed (when the quiz closes); else None."""
    right: int = 0

    def share(self, option: int) -> int:
        return render.percent(self.votes[option], self.voters)


@dataclass(frozen=True, slots=True)
class QuestionView:
    number: int
    text: str
    upvotes: int
    answered: bool
    author: str | None
    """The asker's display name; None for an anonymous question."""
    focused: bool = False


@dataclass(frozen=True, slots=True)
class ProjectorState:
    occurrence_id: str
    title: str
    poll: PollView | None
    questions: tuple[QuestionView, ...]
    qa_open: bool


def poll_view(poll: Poll, votes: tuple[int, ...], voters: int, right: int) -> PollView:
    revealed = poll.correct if not poll.is_open else None
    return PollView(id=poll.id, question=poll.question, options=poll.options, votes=votes, voters=voters,
                    open=poll.is_open, anonymous=poll.anonymous, multi=poll.multi, correct=revealed,
                    right=right if revealed is not None else 0)


def wall(questions: list[Question]) -> list[Question]:
    """The questions on the wall: open ones most upvoted first, then those answered."""
    open_ = render.ranked([q for q in questions if q.status is QuestionStatus.OPEN])
    answered = [q for q in questions if q.status is QuestionStatus.ANSWERED]
    return [*open_, *answered]


def focused(questions: list[Question], focus: int | None) -> Question | None:
    """The open question the projector points at: the chosen one while it is open, else the
    most upvoted."""
    open_ = render.ranked([q for q in questions if q.status is QuestionStatus.OPEN])
    for q in open_:
        if q.number == focus:
            return q
    return open_[0] if open_ else None


async def projector_state(services: Services, occurrence: Occurrence) -> ProjectorState:
    live = services.store.live
    polls = await live.polls_of(occurrence.id)
    poll = None
    if polls:
        # The open poll if there is one, else the last one closed (its final results).
        current = next((p for p in reversed(polls) if p.is_open), polls[-1])
        tally = await live.tally(current)
        poll = poll_view(current, tally.votes, tally.voters, tally.right)
    session = await live.get_session(occurrence.id)
    questions = await live.questions_of(occurrence.id)
    pointed = focused(questions, session.focus)
    views = tuple(QuestionView(number=q.number, text=q.text, upvotes=q.upvotes,
                               answered=q.status is QuestionStatus.ANSWERED,
                               author=None if q.anonymous else (q.author_name or None),
                               focused=pointed is not None and q.number == pointed.number)
                  for q in wall(questions))
    return ProjectorState(occurrence_id=occurrence.id, title=occurrence.title, poll=poll, questions=views,
                          qa_open=session.qa_open)


async def next_question(services: Services, occurrence: Occurrence) -> int | None:
    """Point the projector at the next open question (after the last, back to the first);
    return its number."""
    live = services.store.live
    questions = await live.questions_of(occurrence.id)
    open_ = render.ranked([q for q in questions if q.status is QuestionStatus.OPEN])
    if not open_:
        return None
    current = focused(questions, (await live.get_session(occurrence.id)).focus)
    index = next((i for i, q in enumerate(open_) if current is not None and q.number == current.number), -1)
    chosen = open_[(index + 1) % len(open_)]
    await live.set_focus(occurrence.id, chosen.number)
    return chosen.number


async def answer_focused(services: Services, occurrence: Occurrence) -> int | None:
    """Mark the question the projector points at answered (the projector then points at the
    most upvoted open one); return its number."""
    live = services.store.live
    questions = await live.questions_of(occurrence.id)
    current = focused(questions, (await live.get_session(occurrence.id)).focus)
    if current is None:
        return None
    await live.set_question_status(current.id, QuestionStatus.ANSWERED)
    await live.set_focus(occurrence.id, None)
    return current.number


# -- one reader per watched session, many viewers ------------------------------------------------


@dataclass(eq=False)
class Viewer:
    """One open event stream; ``wake`` is set when the state it last saw is out of date."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    seen: int = 0


class Feed:
    """Reads one session's state while anyone watches it, and wakes every viewer on a change.

    ``encoded`` keeps the latest state's rendering per language, so 500 viewers cost one read
    of the store and one rendering per language, not 500."""

    def __init__(self, load: Callable[[], Awaitable[ProjectorState]], interval: float) -> None:
        self._load = load
        self._interval = interval
        self.viewers: set[Viewer] = set()
        self.state: ProjectorState | None = None
        self.version = 0
        self._nudge = asyncio.Event()
        self._encoded: dict[str, bytes] = {}
        self._ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            try:
                state = await self._load()
            except Exception:
                log.exception("could not read the projector's state")
            else:
                if state != self.state:
                    self.state, self.version, self._encoded = state, self.version + 1, {}
                    for viewer in self.viewers:
                        viewer.wake.set()
                self._ready.set()
            self._nudge.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudge.wait(), self._interval)

    def nudge(self) -> None:
        """Read again now (after a facilitator's action, so their screen follows at once)."""
        self._nudge.set()

    async def ready(self) -> ProjectorState:
        await self._ready.wait()
        assert self.state is not None
        return self.state

    def encoded(self, language: str, encode: Callable[[ProjectorState, str], bytes]) -> bytes:
        assert self.state is not None
        found = self._encoded.get(language)
        if found is None:
            found = self._encoded[language] = encode(self.state, language)
        return found


class Feeds:
    """The feeds of the sessions being watched now; a feed stops with its last viewer."""

    def __init__(self, interval: float = REFRESH_SECONDS) -> None:
        self._interval = interval
        self._feeds: dict[str, Feed] = {}

    @contextlib.asynccontextmanager
    async def watch(self, occurrence_id: str, load: Callable[[], Awaitable[ProjectorState]]
                    ) -> AsyncIterator[tuple[Feed, Viewer]]:
        feed = self._feeds.get(occurrence_id)
        if feed is None:
            feed = self._feeds[occurrence_id] = Feed(load, self._interval)
            feed.task = asyncio.create_task(feed.run(), name=f"projector-feed-{occurrence_id}")
        viewer = Viewer()
        feed.viewers.add(viewer)
        try:
            yield feed, viewer
        finally:
            feed.viewers.discard(viewer)
            if not feed.viewers and self._feeds.get(occurrence_id) is feed:
                del self._feeds[occurrence_id]
                if feed.task is not None:
                    feed.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await feed.task

    def nudge(self, occurrence_id: str) -> None:
        feed = self._feeds.get(occurrence_id)
        if feed is not None:
            feed.nudge()

    async def aclose(self) -> None:
        for feed in list(self._feeds.values()):
            if feed.task is not None:
                feed.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feed.task
        self._feeds.clear()
