"""Parse chat text into typed commands, check permissions, and dispatch to handlers.

Command groups live one per module; each has ``register(router)``. A command is declared
once, as a ``CommandSpec``, and everything else is derived from it: the usage line shown
on a mistake, ``/help``, the Telegram command menu and the Discord slash commands.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.errors import PermissionDenied, UsageError, UserError
from bot.i18n import N_, Translator
from bot.models import Incoming, Role

if TYPE_CHECKING:
    from bot.context import Context

log = logging.getLogger(__name__)


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
    """

    name: str
    description: str
    kind: str = "text"
    required: bool = True
    rest: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Flag:
    """A ``--name`` option; ``takes_value`` flags read the next word (``--close 5m``)."""

    name: str
    description: str
    takes_value: bool = False


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
        variadic: Extra positional words are allowed (``/poll Q A B C ...``).
        usage_hint: Overrides the generated usage tail (after ``/name``).
    """

    name: str
    summary: str
    handler: Handler
    params: tuple[Param, ...] = ()
    flags: tuple[Flag, ...] = ()
    role: Role = Role.ATTENDEE
    variadic: bool = False
    usage_hint: str | None = None

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


class Router:
    """Holds the command specs and turns an ``Incoming`` into a handler call."""

    def __init__(self) -> None:
        self._commands: dict[str, CommandSpec] = {}
        self._aliases: dict[str, str] = {}
        self._actions: dict[str, Callable[[Context, list[str]], Awaitable[None]]] = {}

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

    def action(self, prefix: str) -> Callable[[Callable[[Context, list[str]], Awaitable[None]]], Any]:
        """Register a handler for button actions ``prefix:…``; it gets the ``:``-split rest."""

        def decorate(handler: Callable[[Context, list[str]], Awaitable[None]]) -> Any:
            self._actions[prefix] = handler
            return handler

        return decorate

    def commands(self) -> list[CommandSpec]:
        """Every declared command, in declaration order."""
        return list(self._commands.values())

    def get(self, name: str) -> CommandSpec | None:
        return self._commands.get(self._aliases.get(name, name))

    # -- parsing ---------------------------------------------------------------------

    @staticmethod
    def is_command(text: str) -> bool:
        return text.lstrip().startswith("/")

    def parse(self, text: str, bot_username: str | None = None) -> tuple[CommandSpec, ParsedCommand]:
        """Parse ``/name args…``.

        Raises:
            UsageError: Unknown command, unclosed quote, missing or extra arguments, or an
                unknown flag. Its message is ready to show.
        """
        head, _, tail = text.strip().partition(" ")
        name = head[1:]
        name, at, target = name.partition("@")
        name = name.lower()
        if at and bot_username and target.lower() != bot_username.lower():
            raise _NotForUs()
        spec = self.get(name)
        if spec is None or not name:
            raise UsageError(N_("Unknown command “{name}”. Send /help for the list."), name=head)
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
            if given is not None and param.choices:
                if given.lower() not in param.choices:
                    raise _usage(spec)
                args[param.name] = given.lower()
        return spec, ParsedCommand(name=spec.name, args=args, flags=flags, extra=extra)

    # -- dispatch --------------------------------------------------------------------

    async def dispatch(self, ctx: Context, incoming: Incoming, bot_username: str | None = None) -> None:
        """Run whatever the message asks for and reply; never raises for user mistakes."""
        _ = ctx._
        try:
            if incoming.action:
                await self._run_action(ctx, incoming.action)
                return
            if not self.is_command(incoming.text):
                return
            try:
                spec, parsed = self.parse(incoming.text, bot_username)
            except _NotForUs:
                return
            if ctx.role < spec.role:
                raise PermissionDenied(
                    N_("Only organisers can use /{name}.") if spec.role is Role.ORGANISER
                    else N_("Only facilitators and organisers can use /{name}."),
                    name=spec.name,
                )
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

    async def _run_action(self, ctx: Context, action: str) -> None:
        prefix, _sep, rest = action.partition(":")
        handler = self._actions.get(prefix)
        if handler is None:
            log.warning("unknown button action %r from %s", action, ctx.user.id)
            raise UserError(N_("That button is no longer valid."))
        await handler(ctx, rest.split(":") if rest else [])

    def help_lines(self, _: Translator, role: Role) -> list[str]:
        return [f"{spec.usage()} — {_(spec.summary)}" for spec in self._commands.values() if spec.role <= role]


class _NotForUs(Exception):
    """``/cmd@otherbot`` in a group: a command addressed to another bot."""


def _usage(spec: CommandSpec) -> UsageError:
    return UsageError(N_("Usage: {usage}"), usage=spec.usage())
