"""One attendee across platforms: the rules that do not need the store.

A person links their accounts (``/link``); one of them, the account that issued the first
code, names the person (the canonical id). Subscriptions, check-ins and settings are the
person's; reminders and notices go to one account only (``recipient``), so a person linked
on two platforms is reminded once. Anonymous keys never use the person: see ``bot.live``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.models import Delivery, UserSettings, platform_of

LINK_CODE_MINUTES = 10
"""How long a /link code is valid."""
LINK_LOCK_AFTER = 3
"""Wrong codes in a row that lock /link for an account..."""
LINK_LOCK_MINUTES = 10
"""...for this long."""

PREFERENCES = ("timezone", "language", "offsets", "quiet", "delivery")
"""The settings a link merges, in the order the question lists them."""


def recipient(settings: UserSettings, accounts: Sequence[str]) -> str:
    """The account a person's reminders and notices go to, of ``accounts`` (all of theirs).

    Into a shared chat (``/delivery channel``): the account on that chat's platform, which the
    message mentions. Privately: the account ``/delivery dm`` was last sent from, else the
    person's own id.
    """
    person = settings.person_id
    if settings.delivery is Delivery.CHANNEL and settings.delivery_chat:
        on = platform_of(settings.delivery_chat)
        for account in accounts:
            if platform_of(account) == on:
                return account
    if settings.delivery_user and settings.delivery_user in accounts:
        return settings.delivery_user
    return person


def shared_chat(settings: UserSettings) -> str | None:
    """The person's shared chat, if it is on the platform of the account ``settings`` are
    for: a message there can mention that account (a chat on another platform cannot)."""
    chat = settings.delivery_chat
    if chat and platform_of(chat) == platform_of(settings.user_id):
        return chat
    return None


def _value(settings: UserSettings, name: str) -> object:
    if name == "quiet":
        if settings.quiet_start is None or settings.quiet_end is None:
            return None
        return settings.quiet_start, settings.quiet_end
    if name == "delivery":
        if settings.delivery is Delivery.CHANNEL and settings.delivery_chat:
            return Delivery.CHANNEL.value, settings.delivery_chat
        return None  # private messages are the default: nothing chosen to keep
    value: object = getattr(settings, name)
    return value


def _take(target: UserSettings, source: UserSettings, name: str) -> UserSettings:
    if name == "quiet":
        return replace(target, quiet_start=source.quiet_start, quiet_end=source.quiet_end)
    if name == "delivery":
        return replace(target, delivery=source.delivery, delivery_chat=source.delivery_chat)
    return replace(target, **{name: getattr(source, name)})


@dataclass(frozen=True, slots=True)
class Difference:
    """A setting both accounts chose, differently: which one to keep is the person's call."""

    name: str
    kept: object
    other: object


def merge_settings(kept: UserSettings, other: UserSettings) -> tuple[UserSettings, list[Difference]]:
    """The settings of a person joined from ``kept`` (which wins until told otherwise) and
    ``other``: a setting only one of them chose is taken from it; one both chose differently
    keeps ``kept``'s value and is returned as a difference to ask about. Names stay ``kept``'s.
    """
    merged = kept
    differences: list[Difference] = []
    for name in PREFERENCES:
        mine, theirs = _value(kept, name), _value(other, name)
        if theirs is None or mine == theirs:
            continue
        if mine is None:
            merged = _take(merged, other, name)
        else:
            differences.append(Difference(name, mine, theirs))
    if merged.delivery_chat is None and other.delivery_chat:
        merged = replace(merged, delivery_chat=other.delivery_chat)  # a shared chat to fall back on
    return merged, differences


def fit_to(settings: UserSettings, account: str, own: UserSettings | None = None) -> UserSettings:
    """The person's settings as ``account`` keeps them when it stands alone again (/unlink):
    everything but where reminders go, which must be on its own platform (its private chat,
    or its own shared chat from ``own`` where that was one)."""
    fitted = replace(settings, user_id=account, person=None, delivery_user=None)
    if fitted.delivery_chat and platform_of(fitted.delivery_chat) != platform_of(account):
        chat = own.delivery_chat if own is not None and own.delivery_chat \
            and platform_of(own.delivery_chat) == platform_of(account) else None
        fitted = replace(fitted, delivery_chat=chat,
                         delivery=fitted.delivery if chat else Delivery.DIRECT)
    return fitted


def fit_to_accounts(settings: UserSettings, accounts: Sequence[str]) -> UserSettings:
    """The person's settings once only ``accounts`` are left to them: a shared chat or a
    private-message account that left with another account is dropped."""
    fitted = settings
    if fitted.delivery_user is not None and fitted.delivery_user not in accounts:
        fitted = replace(fitted, delivery_user=None)
    on = {platform_of(a) for a in accounts}
    if fitted.delivery_chat and platform_of(fitted.delivery_chat) not in on:
        fitted = replace(fitted, delivery_chat=None, delivery=Delivery.DIRECT)
    return fitted


def platform_name(platform: str) -> str:
    """How a platform is named to people: ``telegram`` -> ``Telegram``."""
    return platform[:1].upper() + platform[1:]
