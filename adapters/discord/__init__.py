"""Discord, through discord.py 2.x (the ``eventbot[discord]`` extra).

discord.py is imported only inside this package. When it is missing, importing the
package still works and ``DiscordAdapter.from_config`` raises ``AdapterUnavailable`` at
start-up, so the rest of the bot is unaffected.
"""

from __future__ import annotations

from typing import Any

from bot.errors import AdapterUnavailable

try:
    from adapters.discord.adapter import DiscordAdapter
except ImportError as _exc:  # the SDK (or one of its own dependencies) is not installed
    if not (_exc.name or "").startswith(("discord", "aiohttp", "yarl")):
        raise
    _missing = _exc

    class DiscordAdapter:  # type: ignore[no-redef]
        """Stands in for the real adapter when discord.py is not installed."""

        name = "discord"

        @classmethod
        def from_config(cls, config: Any) -> Any:
            raise AdapterUnavailable("discord", "install eventbot[discord]") from _missing


__all__ = ["DiscordAdapter"]
