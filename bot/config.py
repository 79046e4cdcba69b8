"""Settings: a TOML file, overridden by ``EVENTBOT_*`` environment variables.

Secrets (platform tokens) come from the environment only and are never logged: ``Config``
keeps them in ``SecretStr`` so that a repr or a log line shows ``'***'``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.errors import ConfigError, UserError
from bot.timeutil import parse_offsets, zone


class SecretStr(str):
    """A string that hides itself in repr/str formatting used by logs."""

    def __repr__(self) -> str:
        return "'***'"

    def reveal(self) -> str:
        return str.__str__(self)

    def __str__(self) -> str:
        return "***"


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """A calendar feed the bot keeps in sync.

    Attributes:
        name: Calendar name.
        source: Path, http(s) URL or webcal:// URL.
        refresh_minutes: How often to refresh it.
        timezone: Zone for floating times, if the feed names none.
        live_chats: Namespaced chat ids bound automatically to each session as it starts.
    """

    name: str
    source: str
    refresh_minutes: int = 15
    timezone: str = ""
    live_chats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    db: Path | str = Path("eventbot.db")
    """A SQLite file's path, or a SQLAlchemy URL (``postgresql+asyncpg://user@host/db``)."""
    organisers: tuple[str, ...] = ()
    adapters: tuple[str, ...] = ()
    timezone: str = "Europe/London"
    language: str = "en"
    offsets: tuple[timedelta, ...] = (timedelta(days=1), timedelta(minutes=15))
    feeds: tuple[FeedConfig, ...] = ()
    horizon_days: int = 400
    feed_max_bytes: int = 10_000_000
    feed_timeout: float = 20.0
    feed_max_cancel_share: float = 0.5
    """A refresh that would cancel more than this share of a calendar's upcoming sessions is
    held until an organiser forces it (1 turns the check off)."""
    allow_private_feeds: tuple[str, ...] = ()
    """Host names whose feeds may be on private addresses (an intranet calendar server);
    every other feed address must be public."""
    reminder_batch: int = 100
    reminder_lease_seconds: int = 120
    worker_heartbeat_seconds: int = 2
    """How often this process says it is alive; silent for three, it is taken for dead and
    what it claimed is sent by another (or by itself, restarted)."""
    outbox_check_seconds: int = 60
    """How often the outbox is looked at for work this process did not plan (``eventbot
    import`` from a terminal beside the bot, a second bot process); 0: never."""
    early_window_minutes: int = 10
    rate_share: float | None = None
    """A fixed share of each platform's declared limits for this process, paced on its own;
    unset, every process on the database takes its sends from one budget in the store."""
    digest_hour: int = 8
    digest_chats: tuple[str, ...] = ()
    telegram_token: SecretStr | None = None
    telegram_base_url: str = ""
    telegram_webhook_url: str = ""
    telegram_webhook_listen: str = "127.0.0.1:8443"
    discord_token: SecretStr | None = None
    discord_guilds: tuple[int, ...] = ()
    discord_events_guild: int | None = None
    discord_shard_count: int | None = None
    """How many shards the bot's Discord gateway is split into, over all processes; unset,
    one connection without shards."""
    discord_shard_ids: tuple[int, ...] = ()
    """The shards this process runs (0 to count - 1); empty: all of them."""
    matrix_homeserver: str = ""
    matrix_user: str = ""
    """The bot's Matrix id (``@eventbot:example.org``)."""
    matrix_token: SecretStr | None = None
    matrix_password: SecretStr | None = None
    """Used to log in when no token is given; the token and device it gets are kept in the store."""
    matrix_rate: float = 0.2
    """Messages per second the homeserver lets the bot send (Synapse's ``rc_message`` default:
    0.2); raise it only with the limit on the server."""
    console_user: str = "you"
    log_level: str = "WARNING"
    web_port: int | None = None
    """Serve the web pages (projector, organiser status, health) on this port; unset, no server
    (``eventbot demo`` serves on 8080, or a free port if that one is taken)."""
    web_host: str = "127.0.0.1"
    """The address the web server listens on (``0.0.0.0`` in a container behind a proxy)."""
    web_base_url: str = ""
    """The public address links are made from (``https://bot.example.org``); unset,
    ``http://<web_host>:<web_port>``."""
    web_join_url: str = ""
    """Where the projector's QR code and short link send people (a group's invite link); unset,
    the bot's own chat where an adapter gives one (Telegram: a link that subscribes to the session)."""
    web_secret: SecretStr | None = None
    """The key that signs projector and organiser links; unset, a random one kept in the store."""
    extra: Mapping[str, Any] = field(default_factory=dict)


_LISTS = {"organisers", "adapters", "digest_chats", "allow_private_feeds"}
_INTS = {"horizon_days", "feed_max_bytes", "reminder_batch", "early_window_minutes", "digest_hour",
         "reminder_lease_seconds", "worker_heartbeat_seconds", "discord_events_guild", "outbox_check_seconds",
         "discord_shard_count", "web_port"}


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Read the TOML file (if any), apply ``EVENTBOT_*`` variables, then ``overrides``.

    Raises:
        ConfigError: Missing file, invalid TOML, or an invalid value; the message names it.
    """
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        raw = dict(raw.get("eventbot", raw))
    known = {f.name for f in fields(Config)}
    for key, value in env.items():
        if not key.startswith("EVENTBOT_") or key in {"EVENTBOT_CONFIG"}:
            continue
        name = key.removeprefix("EVENTBOT_").lower()
        if name in known:
            raw[name] = value
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = sorted(set(raw) - known - {"feed"})
    if unknown:
        raise ConfigError(f"unknown setting(s) in config: {', '.join(unknown)}")
    return _build(raw)


def _as_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value)
    raise ConfigError(f"expected a list, got {value!r}")


def _build(raw: dict[str, Any]) -> Config:
    values: dict[str, Any] = {}
    try:
        for key, value in raw.items():
            if key in _LISTS:
                values[key] = _as_list(value)
            elif key == "web_port":
                values[key] = int(value) if str(value).strip() else None  # empty: no web server
            elif key in _INTS:
                values[key] = int(value)
            elif key == "db":
                # A URL stays a string: Path() would fold its "//" and make it a file name.
                values[key] = str(value) if "://" in str(value) else Path(value)
            elif key == "offsets":
                values[key] = parse_offsets(list(_as_list(value)) if not isinstance(value, str) else value)
            elif key == "timezone":
                zone(str(value))
                values[key] = str(value)
            elif key in {"telegram_token", "discord_token", "matrix_token", "matrix_password", "web_secret"}:
                values[key] = SecretStr(value) if value else None
            elif key == "feed_timeout":
                values[key] = float(value)
            elif key == "matrix_rate":
                rate = float(value)
                if not rate > 0:
                    raise ValueError(f"{rate} is not a rate above 0 (messages per second)")
                values[key] = rate
            elif key == "feed_max_cancel_share":
                share = float(value)
                if not 0 <= share <= 1:
                    raise ValueError(f"{share} is not a share between 0 and 1 (0.5 is half)")
                values[key] = share
            elif key == "rate_share":
                share = float(value)
                if not 0 < share <= 1:
                    raise ValueError(f"{share} is not a share between 0 (exclusive) and 1")
                values[key] = share
            elif key in {"discord_guilds", "discord_shard_ids"}:
                values[key] = tuple(int(v) for v in _as_list(value))
            elif key in {"feeds", "feed"}:
                values["feeds"] = tuple(_feed(item) for item in value)
            elif key == "extra":
                values[key] = dict(value)
            else:
                values[key] = str(value)
    except UserError as exc:
        raise ConfigError(f"invalid value for {key}: {exc}") from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"invalid value for {key}: {exc}") from exc
    for organiser in values.get("organisers", ()):
        if ":" not in organiser:
            raise ConfigError(f"organiser {organiser!r} must be a namespaced id like telegram:1001")
    _check_shards(values.get("discord_shard_count"), values.get("discord_shard_ids", ()))
    port = values.get("web_port")
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"invalid value for web_port: {port} is not a port number (0 to 65535)")
    return replace(Config(), **values)


def _check_shards(count: int | None, ids: tuple[int, ...]) -> None:
    if count is None:
        if ids:
            raise ConfigError("discord_shard_ids needs discord_shard_count, the number of shards over all processes")
        return
    if count < 1:
        raise ConfigError(f"discord_shard_count must be at least 1, not {count}")
    wrong = [i for i in ids if not 0 <= i < count]
    if wrong:
        raise ConfigError(f"discord_shard_ids run from 0 to {count - 1} with {count} shards, "
                          f"not {', '.join(map(str, wrong))}")


def _feed(item: Any) -> FeedConfig:
    if not isinstance(item, dict) or "name" not in item or ("url" not in item and "source" not in item):
        raise ValueError("each [[feeds]] entry needs name and url")
    return FeedConfig(
        name=str(item["name"]),
        source=str(item.get("url") or item.get("source")),
        refresh_minutes=int(item.get("refresh_minutes", 15)),
        timezone=str(item.get("timezone", "")),
        live_chats=_as_list(item.get("live_chats", [])),
    )
