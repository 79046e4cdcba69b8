"""Signed links to the web pages: a projector link for one session, an organiser's status link.

A link carries who it was given to, what it opens, with which rights, and until when, signed
with HMAC-SHA256 under a key that only the bot knows (``web_secret``, else a random key made
once and kept in the store). Nothing is kept per link: a link is good until it expires, or
until the key changes (delete the ``web_link_key`` row, or change ``web_secret``, to void
every link at once). Rights are checked again on every use: a facilitator link of someone who
is no longer a facilitator opens the page read-only.

Neither the key nor a link is ever logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from bot import redact
from bot.config import Config
from bot.errors import BotError, ConfigError
from bot.models import Occurrence
from bot.ports import Store
from bot.services import Services

KEY_META = "web_link_key"
LIVE_GRACE = timedelta(minutes=30)
"""A projector link works this long after its session's end, to show the final results."""
ADMIN_TTL = timedelta(hours=12)

FACILITATOR, VIEWER, ORGANISER = "facilitator", "viewer", "organiser"
OPERATOR = "operator"
"""Whom ``eventbot admin-link`` gives a link to: someone at the bot's own terminal."""


class InvalidLink(BotError, PermissionError):
    """A link that is altered, expired, or for another page."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid link allows.

    Attributes:
        page: ``live`` or ``admin``.
        subject: The session id for ``live``; ``""`` for ``admin``.
        role: ``facilitator`` or ``viewer`` (live), ``organiser`` (admin).
        user: Namespaced id of the person it was given to (``operator`` from the CLI).
        expires: When it stops working.
    """

    page: str
    subject: str
    role: str
    user: str
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def link_key(config: Config, store: Store) -> bytes:
    """The signing key: ``web_secret`` if set, else the store's (made on first use).

    Read from the store each time: two processes starting together may both make one, and
    the one the store keeps is the one both must use."""
    if config.web_secret:
        key = config.web_secret.reveal()
    else:
        meta = store.reminders
        stored = await meta.get_meta(KEY_META)
        if stored is None:
            await meta.claim_meta(KEY_META, secrets.token_hex(32))
            stored = await meta.get_meta(KEY_META)
        assert stored is not None
        key = stored
    redact.protect(key)
    return key.encode()


def sign(key: bytes, grant: Grant) -> str:
    payload = json.dumps([grant.page, grant.subject, grant.role, grant.user, int(grant.expires.timestamp())],
                         separators=(",", ":"), ensure_ascii=False).encode()
    body = _b64(payload)
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def verify(key: bytes, token: str, *, page: str, subject: str, now: datetime) -> Grant:
    """The grant a token carries, if it is genuine, for this page and subject, and not expired.

    Raises:
        InvalidLink: Otherwise (the reason says which, for the log; the page says only 403).
    """
    body, _dot, signature = token.partition(".")
    try:
        expected = hmac.new(key, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise InvalidLink("bad signature")
        page_, subject_, role, user, expires_ts = json.loads(_unb64(body))
        grant = Grant(str(page_), str(subject_), str(role), str(user), datetime.fromtimestamp(int(expires_ts), UTC))
    except (ValueError, TypeError, binascii.Error, UnicodeError) as exc:
        raise InvalidLink("malformed") from exc
    if grant.page != page or grant.subject != subject:
        raise InvalidLink("for another page")
    if now >= grant.expires:
        raise InvalidLink("expired")
    return grant


def base_url(config: Config) -> str:
    """Where links point: ``web_base_url``, else the address the server listens on.

    Raises:
        ConfigError: Neither is set (the web server is off).
    """
    if config.web_base_url:
        return config.web_base_url.rstrip("/")
    if config.web_port is None:
        raise ConfigError("the web pages are off: set web_port (EVENTBOT_WEB_PORT) or web_base_url")
    host = config.web_host if config.web_host not in {"0.0.0.0", "::", ""} else "127.0.0.1"
    return f"http://{host}:{config.web_port}"


async def live_link(services: Services, occurrence: Occurrence, user: str, role: str) -> str:
    """``…/live/<session>?t=<token>``, good until shortly after the session ends."""
    grant = Grant("live", occurrence.id, role, user, occurrence.end + LIVE_GRACE)
    token = sign(await link_key(services.config, services.store), grant)
    redact.protect(token)
    return f"{base_url(services.config)}/live/{quote(occurrence.id)}?t={token}"


async def admin_link(config: Config, store: Store, now: datetime, user: str, ttl: timedelta = ADMIN_TTL) -> str:
    """``…/admin?t=<token>`` for an organiser (or the operator at the terminal)."""
    token = sign(await link_key(config, store), Grant("admin", "", ORGANISER, user, now + ttl))
    redact.protect(token)
    return f"{base_url(config)}/admin?t={token}"
