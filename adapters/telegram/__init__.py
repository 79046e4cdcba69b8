"""The Telegram adapter (python-telegram-bot 22).

The SDK is an optional extra: importing this package never fails, and without the SDK
``TelegramAdapter.from_config`` raises ``AdapterUnavailable`` at start-up.
"""

from __future__ import annotations

from typing import Any

from bot.errors import AdapterUnavailable

try:
    from adapters.telegram.adapter import TelegramAdapter
except ImportError as _missing:
    if _missing.name is None or _missing.name.split(".")[0] not in {"telegram", "httpx"}:
        raise
    _reason = "install eventbot[telegram]"

    class TelegramAdapter:  # type: ignore[no-redef]
        """Stands in for the adapter when python-telegram-bot is not installed."""

        name = "telegram"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AdapterUnavailable("telegram", _reason)

        @classmethod
        def from_config(cls, config: Any) -> Any:
            raise AdapterUnavailable("telegram", _reason)


__all__ = ["TelegramAdapter"]
