"""Keep secrets out of every log line, whichever logger wrote it and at whatever level.

A filter on a logger sees only the records created on that very logger, so one installed on
the loggers that exist at start-up misses those created later (httpcore's, which print
response headers at ``-vv``, Location included). A filter on a handler sees every record
that handler writes. So the redactor sits on the handlers, and rewrites each record once,
before any of them formats it.

What is hidden: the platform tokens and feed keys it is told about (also percent-encoded),
any secret calendar address (shown as host + "…", as everywhere else), and any Google
``private-<key>`` path segment.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

from bot.feeds import display_source, secret_parts

REDACTED = "<secret>"
_URL = re.compile(r"(?:https?|webcals?)://[^\s'\"<>\\]+", re.IGNORECASE)
_GOOGLE_KEY = re.compile(r"private-[0-9a-z]{8,}", re.IGNORECASE)
_SHORTEST = 6  # a shorter "secret" would blank out ordinary words


class SecretRedactor(logging.Filter):
    """Rewrites a record's message, traceback and stack text; never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.protect(*secrets)

    def protect(self, *secrets: str) -> None:
        for secret in secrets:
            for form in {secret, quote(secret, safe="")}:
                if len(form) >= _SHORTEST and form not in self._secrets:
                    self._secrets.append(form)
        self._secrets.sort(key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _URL.sub(lambda m: display_source(m.group()), text)
        return _GOOGLE_KEY.sub("private-…", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's problem, not ours
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


PLATFORM_SDKS = ("telegram", "discord", "nio")
"""Loggers of the platform SDKs, whose debug lines print whole updates."""


class PlatformPayloads(logging.Filter):
    """Drops the platform SDKs' debug lines. They print each update whole: who pressed which
    button, so a log written at ``-vv`` during an anonymous poll would say who voted for what.
    Their INFO and above (connections, errors) still pass, and so do our own debug lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO or record.name.partition(".")[0] not in PLATFORM_SDKS


def install(redactor: logging.Filter) -> None:
    """Put ``redactor`` on every handler there is: the root logger's and any logger's own."""
    loggers = [logging.getLogger(), *(logger for logger in list(logging.Logger.manager.loggerDict.values())
                                      if isinstance(logger, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if redactor not in handler.filters:
                handler.addFilter(redactor)


def protect(*secrets: str) -> None:
    """Add secrets learnt after start-up (a secret feed address imported from chat) to every
    installed redactor. Without one (tests, embedding) nothing happens."""
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, SecretRedactor):
                found.protect(*secrets)


def protect_source(source: str) -> None:
    protect(*secret_parts(source))
