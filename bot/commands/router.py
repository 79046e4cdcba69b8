"""Parse chat text into typed commands, check permissions, and dispatch to handlers.

Command groups live one per module; each has ``register(router)``. A command is declared
once, as a ``CommandSpec``, and everything else is derived from it: the usage line shown
on a mistake, ``/help``, the Telegram command menu and the Discord slash commands.
"""

from __future__ import annotations

import logging
import math
import shlex
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.errors import PermissionDenied, UsageError, UserError
from bot.i18n import N_, Translator
from bot.models import Incoming, Role

if TYPE_CHECKING:
    from bot.context import Context

log = logging.getLogger(__name__)

MAX_TEXT = 4000
"""The longest command read at all (Discord's own limit; Telegram's is 4,096)."""
MAX_ARGUMENT = 300
"""The longest argument, unless its ``Param`` says otherwise."""
MAX_NUMBER = 999_999_999
"""The largest number any command takes: poll, question and option numbers all fit."""
MAX_ACTION = 200
"""The longest button action read (Discord's custom_id allows 100, Telegram's data 64 bytes)."""


@dataclass(frozen=True, slots=True)
class Param:
    """A positional parameter of a command.

    Attributes:
        name: Name shown in usage lines and used as the slash-command option name.
        description: Translatable description (a msgid).
        kind: ``text``, ``event`` (an event id or words), ``timezone``, ``language``,
            ``int``, ``duration`` or ``choice``; adapters use it for autocomplete.
        required: Whether it must be given.
        rest: Takes all remaining words (e.g. the text of a question).
        choices: Allowed values for ``choice``.
        max_length: The longest value accepted; the router refuses longer ones before any
            handler (or database query) sees them.
    """

    name: str
    description: str
    kind: str = "text"
    required: bool = True
    rest: bool = False
    choices: tuple[str, ...] = ()
    max_length: int = MAX_ARGUMENT


@dataclass(frozen=True, slots=True)
class Flag:
    """A ``--name`` option; ``takes_value`` flags read the next word (``--close 5m``), which
    the router checks by ``kind`` as it does a ``Param``'s (``int``: digits only)."""

    name: str
    description: str
    takes_value: bool = False
    kind: str = "text"


@dataclass(frozen=True, slots=True)
class PerPerson:
    """A limit on how often one person may use a command: ``count`` times in any ``window``.

    Organisers and facilitators are exempt. The uses are counted in memory, per process.
    """

    count: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A command as typed: name, positional arguments and flags.

    ``args`` maps each declared ``Param`` name to its value (rest params joined by spaces);
    ``extra`` holds positional words beyond the declared params, for variadic commands.
    """

    name: str
    args: dict[str, str]
    flags: dict[str, str | bool]
    extra: tuple[str, ...] = ()

    def flag(self, name: str) -> bool:
        return bool(self.flags.get(name))


Handler = Callable[["Context", ParsedCommand], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One chat command.

    Attributes:
        name: Without the slash.
        summary: Translatable one-line description (msgid).
        handler: Coroutine run with the context and the parsed command.
        params: Positional parameters, in order.
        flags: Accepted ``--flags``.
        role: The least role allowed to run it (per-event checks happen in the handler).
        variadic: Extra positional words are allowed (``/poll Q A B C ...``); they are
            checked as the last param's ``kind`` (so ``/vote 1 3`` takes only numbers).
        usage_hint: Overrides the generated usage tail (after ``/name``).
        limit: How often one attendee may use it (every command that writes or does costly
            work declares one).
    """

    name: str
    summary: str
    handler: Handler
    params: tuple[Param, ...] = ()
    flags: tuple[Flag, ...] = ()
    role: Role = Role.ATTENDEE
    variadic: bool = False
    usage_hint: str | None = None
    limit: PerPerson | None = None

    def usage(self) -> str:
        if self.usage_hint is not None:
            return f"/{self.name} {self.usage_hint}".rstrip()
        parts = [f"/{self.name}"]
        for p in self.params:
            word = p.name.upper() if not p.choices else "|".join(p.choices)
            if p.rest:
                word += "…"
            parts.append(word if p.required else f"[{word}]")
        parts.extend(f"[--{f.name}{' ' + f.name.upper() if f.takes_value else ''}]" for f in self.flags)
        return " ".join(parts)


def split_words(text: str) -> list[str]:
    """Split like a shell, honouring "double", 'single' and “curly” quotes.

    Raises:
        UsageError: On an unclosed quote.
    """
    text = text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError as exc:
        raise UsageError(N_("A quote is not closed.")) from exc


def whole_number(text: str, *, low: int = 0, high: int = MAX_NUMBER) -> int:
    """Read a number typed as ASCII digits, between ``low`` and ``high``.

    ``str.isdigit()`` is not enough: it accepts ``²`` and ``①``, which ``int()`` refuses, and
    ``int()`` accepts digits from every script and numbers too large for the database.

    Raises:
        UsageError: Anything else (its message is generic; parsers turn it into a usage line).
    """
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(high)) or not low <= int(text) <= high:
        raise UsageError(N_("Give a number with the digits 0 to 9, like 3."))
    return int(text)


def readable(text: str, limit: int = MAX_TEXT) -> str:
    """Refuse text no handler should see: longer than ``limit``, or not valid Unicode (lone
    surrogates, from a broken client or undecodable bytes read with ``surrogateescape``), or
    holding a NUL character.

    Raises:
        UsageError: Too long, or not valid text.
    """
    if len(text) > limit:
        raise UsageError(N_("That is too long: keep a command under {max} characters."), max=f"{limit:,}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(N_("Your message has characters that are not valid text; please type it again.")) \
            from None
    if "\x00" in text:  # no text has it, and PostgreSQL refuses to store it
        raise UsageError(N_("Your message has characters that are not valid text; please type it again."))
    return text


def _check_kind(kind: str, value: str) -> bool:
    """Whether ``value`` reads as ``kind``: numbers (``1``, or ``1,3`` for several) are checked
    here, once for every command. Durations, which have words of their own (``/remind
    default``), are read by their handlers through ``parse_duration``, which is as strict."""
    if kind != "int":
        return True
    try:
        for part in value.replace(",", " ").split() or [""]:
            whole_number(part)
    except UsageError:
        return False
    return True


@dataclass(slots=True)
class PersonLimiter:
    """Counts uses per (command, person) over a sliding window, in memory, on the clock it is
    given (``ctx.now``, the injected clock)."""

    _uses: dict[tuple[str, str], deque[datetime]] = field(default_factory=dict)

    def take(self, command: str, user_id: str, limit: PerPerson, now: datetime) -> float:
        """Record a use and return 0, or, over the limit, record nothing and return the seconds
        until the next use is allowed."""
        if len(self._uses) > 10_000:
            self._forget_before(now - max(timedelta(hours=1), limit.window))
        uses = self._uses.setdefault((command, user_id), deque())
        while uses and uses[0] <= now - limit.window:
            uses.popleft()
        if len(uses) >= limit.count:
            return max(1.0, (uses[0] + limit.window - now).total_seconds())
        uses.append(now)
        return 0.0

    def _forget_before(self, cutoff: datetime) -> None:
        for key in [k for k, uses in self._uses.items() if not uses or uses[-1] <= cutoff]:
            del self._uses[key]


class Router:
    """Holds the command specs and turns an ``Incoming`` into a handler call."""

    def __init__(self) -> None:
        self._commands: dict[str, CommandSpec] = {}
        self._aliases: dict[str, str] = {}
        self._actions: dict[str, Callable[[Context, list[str]], Awaitable[None]]] = {}
        self._action_counts_as: dict[str, str] = {}
        self._limiter = PersonLimiter()

    # -- declaration -----------------------------------------------------------------

    def add(self, spec: CommandSpec, *, aliases: Sequence[str] = ()) -> None:
        if spec.name in self._commands:
            raise ValueError(f"command /{spec.name} declared twice")
        self._commands[spec.name] = spec
        for alias in aliases:
            self._aliases[alias] = spec.name

    def command(self, name: str, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Decorator form of ``add``."""

        def decorate(handler: Handler) -> Handler:
            self.add(CommandSpec(name=name, summary=summary, handler=handler, **kwargs))
            return handler

        return decorate

    def action(self, prefix: str, *, counts_as: str | None = None,
               ) -> Callable[[Callable[[Context, list[str]], Awaitable[None]]], Any]:
        """Register a handler for button actions ``prefix:…``; it gets the ``:``-split rest.

        ``counts_as`` names the command the button stands for: a press counts against that
        command's ``limit``, so a button is no way around it.
        """

        def decorate(handler: Callable[[Context, list[str]], Awaitable[None]]) -> Any:
            self._actions[prefix] = handler
            if counts_as is not None:
                self._action_counts_as[prefix] = counts_as
            return handler

        return decorate

    def commands(self) -> list[CommandSpec]:
        """Every declared command, in declaration order."""
        return list(self._commands.values())

    def get(self, name: str) -> CommandSpec | None:
        return self._commands.get(self._aliases.get(name, name))

    def actions(self) -> dict[str, str | None]:
        """Every button action prefix, with the command it counts as (if any)."""
        return {prefix: self._action_counts_as.get(prefix) for prefix in self._actions}

    # -- parsing ---------------------------------------------------------------------

    @staticmethod
    def is_command(text: str) -> bool:
        return text.lstrip().startswith("/")

    def parse(self, text: str, bot_username: str | None = None) -> tuple[CommandSpec, ParsedCommand]:
        """Parse ``/name args…``.

        Raises:
            UsageError: Unknown command, unclosed quote, missing or extra arguments, an
                unknown flag, a value that does not read as its kind or is too long, or text
                that is too long or not valid Unicode. Its message is ready to show.
        """
        head, _, tail = readable(text).strip().partition(" ")
        name = head[1:]
        name, at, target = name.partition("@")
        name = name.lower()
        if at and bot_username and target.lower() != bot_username.lower():
            raise _NotForUs()
        spec = self.get(name)
        if spec is None or not name:
            shown = head if len(head) <= 40 else head[:39] + "…"
            raise UsageError(N_("Unknown command “{name}”. Send /help for the list."), name=shown)
        words = split_words(tail)
        flags: dict[str, str | bool] = {}
        positional: list[str] = []
        known = {f.name: f for f in spec.flags}
        i = 0
        while i < len(words):
            word = words[i]
            if word.startswith("--") and len(word) > 2:
                flag_name, eq, value = word[2:].partition("=")
                flag = known.get(flag_name)
                if flag is None:
                    raise _usage(spec)
                if flag.takes_value:
                    if not eq:
                        i += 1
                        if i >= len(words):
                            raise _usage(spec)
                        value = words[i]
                    if len(value) > MAX_ARGUMENT or not _check_kind(flag.kind, value):
                        raise _usage(spec)
                    flags[flag_name] = value
                else:
                    flags[flag_name] = True
            else:
                positional.append(word)
            i += 1
        args: dict[str, str] = {}
        for index, param in enumerate(spec.params):
            if param.rest:
                rest = positional[index:]
                positional = positional[:index]
                if rest:
                    args[param.name] = " ".join(rest)
                break
            if index < len(positional):
                args[param.name] = positional[index]
        extra = tuple(positional[len(spec.params):]) if not any(p.rest for p in spec.params) else ()
        missing = [p for p in spec.params if p.required and p.name not in args]
        if missing or (extra and not spec.variadic):
            raise _usage(spec)
        for param in spec.params:
            given = args.get(param.name)
            if given is None:
                continue
            if len(given) > param.max_length:
                raise UsageError(N_("That is too long for /{name}: keep it under {max} characters."),
                                 name=spec.name, max=f"{param.max_length:,}")
            if not _check_kind(param.kind, given):
                raise _usage(spec)
            if param.choices:
                if given.lower() not in param.choices:
                    raise _usage(spec)
                args[param.name] = given.lower()
        last = spec.params[-1] if spec.params else None
        for word in extra:
            if last is not None and (len(word) > last.max_length or not _check_kind(last.kind, word)):
                raise _usage(spec)
        return spec, ParsedCommand(name=spec.name, args=args, flags=flags, extra=extra)

    # -- dispatch --------------------------------------------------------------------

    async def dispatch(self, ctx: Context, incoming: Incoming, bot_username: str | None = None) -> None:
        """Run whatever the message asks for and reply; never raises for user mistakes."""
        _ = ctx._
        started = time.perf_counter()
        timed: str | None = None  # the command's name, once known (never what was typed)
        try:
            if incoming.action:
                timed = self._action_name(incoming.action)
                await self._run_action(ctx, incoming.action)
                return
            if not self.is_command(incoming.text):
                return
            try:
                spec, parsed = self.parse(incoming.text, bot_username)
            except _NotForUs:
                return
            timed = spec.name
            if ctx.role < spec.role:
                raise PermissionDenied(
                    N_("Only organisers can use /{name}.") if spec.role is Role.ORGANISER
                    else N_("Only facilitators and organisers can use /{name}."),
                    name=spec.name,
                )
            self._count_use(ctx, spec)
            await spec.handler(ctx, parsed)
        except UsageError as err:
            await ctx.reply(_(err.msgid, **err.params))
        except UserError as err:
            await ctx.reply(_(err.msgid, **err.params))
        except Exception:
            # The command and the action's kind, not what was typed or chosen: a log line must
            # not pair a person with their anonymous vote or question.
            log.exception("command failed: user=%s chat=%s command=%r action=%r", incoming.user.id,
                          incoming.chat.id, incoming.text.split(" ", 1)[0][:50],
                          incoming.action.partition(":")[0] if incoming.action else None)
            await ctx.reply(_("Sorry, something went wrong on my side. The organisers can find it in the log."))
        finally:
            if timed is not None:
                ctx.services.metrics.command_seconds.labels(timed).observe(time.perf_counter() - started)

    def _action_name(self, action: str) -> str | None:
        """A button press is timed as the command it stands for, else as its registered kind."""
        prefix = action.partition(":")[0]
        if prefix not in self._actions:
            return None
        return self._action_counts_as.get(prefix) or f"button:{prefix}"

    def _count_use(self, ctx: Context, spec: CommandSpec) -> None:
        """Count one use of ``spec`` by this person against its limit.

        Raises:
            SlowDown: Over the limit (and nothing was done).
        """
        if spec.limit is None or ctx.role >= Role.FACILITATOR:
            return
        wait = self._limiter.take(spec.name, ctx.user.id, spec.limit, ctx.now)
        if wait:
            log.info("rate limit: %s used /%s %d times in %s", ctx.user.id, spec.name, spec.limit.count,
                     spec.limit.window)
            raise SlowDown(spec.name, wait)

    async def _run_action(self, ctx: Context, action: str) -> None:
        prefix, _sep, rest = action.partition(":")
        handler = self._actions.get(prefix)
        try:
            readable(action, MAX_ACTION)
        except UsageError:
            handler = None
        if handler is None:
            log.warning("unknown button action %r from %s", action[:MAX_ACTION], ctx.user.id)
            raise UserError(N_("That button is no longer valid."))
        counts_as = self.get(self._action_counts_as.get(prefix, ""))
        if counts_as is not None:
            self._count_use(ctx, counts_as)
        await handler(ctx, rest.split(":") if rest else [])

    def help_lines(self, _: Translator, role: Role) -> list[str]:
        return [f"{spec.usage()} — {_(spec.summary)}" for spec in self._commands.values() if spec.role <= role]


class SlowDown(UserError):
    """One person used a command more often than its ``PerPerson`` limit allows."""

    def __init__(self, command: str, wait: float) -> None:
        super().__init__(N_("Slow down, please: try /{name} again in {seconds} seconds."),
                         name=command, seconds=math.ceil(wait))


class _NotForUs(Exception):
    """``/cmd@otherbot`` in a group: a command addressed to another bot."""


def _usage(spec: CommandSpec) -> UsageError:
    return UsageError(N_("Usage: {usage}"), usage=spec.usage())
