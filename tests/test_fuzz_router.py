"""Fuzz the router with commands built from its own specs: whatever is typed, the answer is
never the catch-all "Sorry, something went wrong" (nor anything logged as an error).

Every declared command is drawn, with arguments and flags made from each parameter's kind:
numbers in other scripts (``²``, ``①``, ``٣``), numbers too large for the database or for
``int()``, durations of millions of weeks, lone surrogates, text far beyond any platform's
message size, quotes left open. Button actions are fuzzed the same way from the router's
action prefixes. The run is bounded and derandomised, so CI sees the same examples each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import build_router
from bot.commands.router import CommandSpec, Router
from bot.models import ChatRef
from tests.harness import Harness
from tests.live.conftest import go_live

ROUTER = build_router()  # the specs, read at collection so that each command is a test of its own
EXAMPLES_PER_COMMAND = 15
UNKNOWN_EXAMPLES = 40
ACTION_EXAMPLES = 150
FUZZ = settings(derandomize=True, deadline=None, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

CATCH_ALL = ("Sorry, something went wrong", "Mae'n ddrwg gen i")  # English and Welsh
ATTENDEES = [f"attendee{i}" for i in range(12)]

# -- values by kind ---------------------------------------------------------------------------

ODD_DIGITS = ["²", "①", "٣", "߁", "𝟗", "¹²", "Ⅻ", "१२", "3²", "-1", "+1", "1_000", " 1", "1e3", "0x1f", "0"]
HUGE = ["99999999999999999999", "9" * 5000, "1" + "0" * 30, "999999999", "1000000000"]
LONG = ["x" * 50_000, "x " * 25_000, "ab " * 1200, "é" * 4001, "\U0001f600" * 500]
NASTY = ["\ud800", "caf\udce9", "a\udcff\udcfeb", "\x00", "\u202e", "\ufeff", "\r", "'", '"', "“", "--", "@", "%_\\"]


def hostile_text() -> st.SearchStrategy[str]:
    anything = st.characters(exclude_categories=())  # surrogates and control characters included
    return st.one_of(
        st.text(max_size=30),
        st.text(anything, max_size=30),
        st.sampled_from(NASTY + LONG + ODD_DIGITS + HUGE),
        st.builds(lambda a, b: a + b, st.sampled_from(NASTY), st.text(max_size=10)),
    )


def numbers() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(0, 20).map(str),
        st.integers(0, 10**40).map(str),
        st.sampled_from(ODD_DIGITS + HUGE),
        st.text(alphabet="0123456789²①٣,", min_size=1, max_size=8),
        hostile_text(),
    )


def durations() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["15m", "2h", "1d", "1w", "90", "0m", "default", "²m", "9999999999999d", "1y"]),
        st.from_regex(r"[0-9]{1,25}(w|d|h|m|min|mins|s)?", fullmatch=True),
        hostile_text(),
    )


def words_for(kind: str, choices: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    if choices:
        return st.one_of(st.sampled_from(choices), st.sampled_from([c.upper() for c in choices]), hostile_text())
    known: dict[str, Callable[[], st.SearchStrategy[str]]] = {
        "int": numbers,
        "duration": durations,
        "event": lambda: st.one_of(st.sampled_from(["ev1", "all", "safeguarding", "end", "s00001"]),
                                   hostile_text()),
        "timezone": lambda: st.one_of(st.sampled_from(["Europe/London", "europe/london", "UTC", "Mars/Olympus",
                                                       "../../etc/passwd"]), hostile_text()),
        "language": lambda: st.one_of(st.sampled_from(["en", "cy", "CY", "fr"]), hostile_text()),
    }
    plain = st.one_of(hostile_text(), numbers(),
                      st.sampled_from(["http://127.0.0.1:9/x.ics", "webcal://feeds.invalid/x.ics", "code",
                                       "sub_ev1", "sub_\ud800", "on", "off", "22:00-07:00", "25:99-07:00"]))
    return known.get(kind, lambda: plain)()


def quoted(word: str) -> st.SearchStrategy[str]:
    """The word as someone might type it: bare, in quotes, or with its quote left open."""
    return st.sampled_from([word, word, word, word, f'"{word}"', f"“{word}”", f"'{word}", word + " --"])


@st.composite
def typed_command(draw: st.DrawFn, spec: CommandSpec) -> str:
    words: list[str] = []
    for param in spec.params:
        if not param.required and draw(st.booleans()):
            break
        words.append(draw(quoted(draw(words_for(param.kind, param.choices)))))
    if spec.variadic and spec.params:
        last = spec.params[-1]
        words += [draw(quoted(draw(words_for(last.kind, last.choices))))
                  for _ in range(draw(st.integers(0, 4)))]
    for flag in draw(st.lists(st.sampled_from(spec.flags), max_size=3)) if spec.flags else []:
        if flag.takes_value:
            value = draw(words_for(flag.kind))
            words.append(draw(st.sampled_from([f"--{flag.name} {value}", f"--{flag.name}={value}",
                                                f"--{flag.name}"])))
        else:
            words.append(f"--{flag.name}")
    if draw(st.integers(0, 9)) == 0:
        words.append(draw(hostile_text()))  # one word too many, or an unknown --flag
    head = "/" + draw(st.sampled_from([spec.name, spec.name.upper(), spec.name + "@eventbot", spec.name + "@other"]))
    return " ".join([head, *words])


@st.composite
def button_action(draw: st.DrawFn, router: Router) -> str:
    prefix = draw(st.sampled_from(sorted(router.actions())))
    parts = draw(st.lists(st.one_of(numbers(), st.sampled_from(["vote", "up", "ev1"]), hostile_text()),
                          max_size=4))
    return ":".join([prefix, *parts])


def users() -> st.SearchStrategy[str]:
    """Attendees half the time, so privileged commands are reached as often as they are refused."""
    return st.one_of(st.sampled_from(ATTENDEES), st.sampled_from(["fac", "org"]))


# -- the run ----------------------------------------------------------------------------------


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.Runner, Harness]]:
    """One live room with a poll and a question, shared by every fuzzed command so that what
    one example changes (a vote, a language, a closed poll) is there for the next, on a loop
    the synchronous hypothesis tests drive."""
    real = socket.getaddrinfo

    def loopback_names_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host) not in {"localhost", "127.0.0.1", "::1"}:
            raise socket.gaierror(socket.EAI_NONAME, "no name lookups in the fuzz run")
        return real(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch, asyncio.Runner() as runner:
        patch.setattr(socket, "getaddrinfo", loopback_names_only)
        stack = contextlib.AsyncExitStack()
        h = runner.run(stack.enter_async_context(Harness.open(tmp_path_factory.mktemp("fuzz"), feed_timeout=2.0)))
        try:
            runner.run(_prepare(h))
            yield runner, h
        finally:
            runner.run(stack.aclose())


async def _prepare(h: Harness) -> None:
    await go_live(h)
    await h.say("fac", '/poll "Tea or coffee?" "Tea" "Coffee" "Water" --multi')
    await h.say("attendee0", "/ask Is there tea?")


async def _send(h: Harness, user: str, private: bool, text: str | None, action: str | None) -> list[str]:
    chat: ChatRef = h.adapter.dm(user) if private else h.adapter.room
    await h.advance(timedelta(seconds=5))
    replies = (await h.say(user, text, chat=chat) if text is not None
               else await h.press(user, action or "", chat=chat))
    if text is not None and text.lower().startswith(("/live", "/qa", "/closepoll")):
        # Keep the room live, its Q&A open and a poll open, so later examples reach deep.
        await h.say("fac", "/live ev1")
        await h.say("fac", "/qa open")
        await h.say("fac", '/poll "Again?" "Yes" "No"')
    return replies


def _check(errors: _Errors, what: str, replies: list[str]) -> None:
    caught = [r.getMessage() for r in errors.records]
    errors.records.clear()
    assert not caught, f"{what!r} logged an error: {caught}"
    assert not any(c in r for r in replies for c in CATCH_ALL), f"{what!r} reached the catch-all: {replies}"


@contextlib.contextmanager
def _errors() -> Iterator[_Errors]:
    handler = _Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _fuzz(runner: asyncio.Runner, h: Harness, examples: int, texts: st.SearchStrategy[str] | None = None,
          actions: st.SearchStrategy[str] | None = None) -> int:
    ran: list[str] = []

    @settings(FUZZ, max_examples=examples)
    @given(user=users(), private=st.booleans(), data=st.data())
    def run(user: str, private: bool, data: st.DataObject) -> None:
        text = data.draw(texts) if texts is not None else None
        action = data.draw(actions) if actions is not None else None
        ran.append(text or action or "")
        with _errors() as errors:
            replies = runner.run(_send(h, user, private, text, action))
        _check(errors, (text or action or "")[:200], replies)

    run()
    return len(ran)


@pytest.mark.parametrize("name", [spec.name for spec in ROUTER.commands()])
def test_no_typed_command_reaches_the_catch_all(bot: tuple[asyncio.Runner, Harness], name: str) -> None:
    runner, h = bot
    spec = h.app.services.router.get(name)
    assert spec is not None
    assert _fuzz(runner, h, EXAMPLES_PER_COMMAND, texts=typed_command(spec)) >= EXAMPLES_PER_COMMAND


def test_no_unknown_command_reaches_the_catch_all(bot: tuple[asyncio.Runner, Harness]) -> None:
    runner, h = bot
    texts = st.builds(lambda t: "/" + t, hostile_text())
    assert _fuzz(runner, h, UNKNOWN_EXAMPLES, texts=texts) >= UNKNOWN_EXAMPLES


def test_no_button_press_reaches_the_catch_all(bot: tuple[asyncio.Runner, Harness]) -> None:
    runner, h = bot
    actions = button_action(h.app.services.router)
    assert _fuzz(runner, h, ACTION_EXAMPLES, actions=actions) >= ACTION_EXAMPLES
