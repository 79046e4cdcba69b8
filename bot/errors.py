"""One root error, ``BotError``; each subclass also subclasses the matching builtin and builds
its message in ``__init__``.

User errors (``UserError`` and below) carry a translatable message and become a reply in
the user's language; anything else is internal: logged with context, never shown as a
traceback.
"""

from __future__ import annotations

from typing import Any


class BotError(Exception):
    """Root of every error eventbot raises on purpose."""


class UserError(BotError):
    """A mistake by the person talking to the bot; ``msgid`` is a gettext message id and
    ``params`` fill its ``{placeholders}`` after translation."""

    def __init__(self, msgid: str, **params: Any) -> None:
        self.msgid = msgid
        self.params = params
        super().__init__(msgid.format(**params) if params else msgid)


class UsageError(UserError, ValueError):
    """A command was malformed; the reply is its usage line."""


class PermissionDenied(UserError, PermissionError):
    """The person lacks the role a command needs."""


class EventNotFound(UserError, LookupError):
    def __init__(self, query: str) -> None:
        super().__init__("No session matches “{query}”. Try /events to see their ids.", query=query)


class UnknownTimeZone(UserError, ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(
            "“{name}” is not a time zone I know. Use a name like Europe/London or America/New_York.",
            name=name,
        )


class ConfigError(BotError, ValueError):
    """Settings are missing or invalid; the CLI prints one line and exits non-zero."""


class StoreUnavailable(BotError, RuntimeError):
    """The database URL names a driver that is not installed, or cannot be read as a URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"database unavailable: {reason}")


class AdapterUnavailable(BotError, RuntimeError):
    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        super().__init__(f"adapter {name!r} is unavailable: {reason}")


class FeedError(UserError, ValueError):
    """A calendar source could not be read or is not iCalendar; the stored calendar is untouched.

    Like every ``UserError`` it carries a msgid and parameters, so the one-line message is
    shown in the reader's language.
    """


# --- delivery failures, raised by adapters and understood by the dispatcher ---


class DeliveryFailed(BotError, RuntimeError):
    """A send failed; ``transient`` says whether retrying may help."""

    def __init__(self, reason: str, *, transient: bool = True) -> None:
        self.reason = reason
        self.transient = transient
        super().__init__(reason)


class RateLimited(DeliveryFailed):
    """The platform asked us to wait ``retry_after`` seconds; nothing was delivered."""

    def __init__(self, retry_after: float, scope: str = "") -> None:
        self.retry_after = retry_after
        self.scope = scope
        super().__init__(f"rate limited for {retry_after:.2f}s {scope}".rstrip(), transient=True)


class RecipientUnreachable(DeliveryFailed):
    """The person blocked the bot or never opened a private chat with it."""

    def __init__(self, recipient: str, reason: str = "recipient unreachable") -> None:
        self.recipient = recipient
        super().__init__(f"{reason}: {recipient}", transient=False)
