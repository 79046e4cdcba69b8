"""Log lines as JSON objects (``eventbot --log-format json``), one per line, for log shippers.

Each line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, plus
``exc_info`` (the traceback) and ``stack_info`` where the record has them. The formatter runs
after the handler's filters, so the secret redactor (``bot.redact``) has already rewritten the
message, the traceback and the stack text.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(name: str) -> logging.Formatter:
    """The formatter for ``--log-format``: ``text`` (the default) or ``json``."""
    if name == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)
