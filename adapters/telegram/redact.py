"""Keep the bot token out of every log line.

The token is part of every Bot API URL (``…/bot<TOKEN>/getUpdates``), and the libraries under
the adapter log those URLs: httpx at INFO for each request, python-telegram-bot at DEBUG when
the bot is built, and PTB's ``InvalidToken`` message quotes the token. A filter on those
loggers rewrites the record before any handler sees it.
"""

from __future__ import annotations

import logging

REDACTED = "<token>"

# Loggers that can see request URLs. Records are filtered by the logger they are created on,
# so every existing child (``telegram.ext.Updater``, ``httpcore.http11``…) gets the filter too.
_FAMILIES = ("telegram", "httpx", "httpcore", "tornado")


class TokenRedactor(logging.Filter):
    """Replaces the secret in a record's message and traceback text; never drops a record."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret
        self._loggers: list[logging.Logger] = []
        self._quietened: logging.Logger | None = None

    def redact(self, text: str) -> str:
        return text.replace(self._secret, REDACTED) if self._secret else text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secret:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's problem, not ours
            return True
        if self._secret in message:
            record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True

    def install(self) -> None:
        """Attach to the SDK's loggers. httpx logs every request URL at INFO, which ``-v``
        would print; unless someone configured it explicitly it is held at WARNING."""
        manager = logging.Logger.manager
        names = [name for name in list(manager.loggerDict)
                 if name.split(".")[0] in _FAMILIES]
        for name in {*names, *_FAMILIES}:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)
                self._loggers.append(logger)
        httpx_logger = logging.getLogger("httpx")
        if httpx_logger.level == logging.NOTSET:
            httpx_logger.setLevel(logging.WARNING)
            self._quietened = httpx_logger

    def uninstall(self) -> None:
        for logger in self._loggers:
            logger.removeFilter(self)
        self._loggers.clear()
        if self._quietened is not None:
            self._quietened.setLevel(logging.NOTSET)
            self._quietened = None
