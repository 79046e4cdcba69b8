"""Telegram payloads to ``bot.models`` and back: identities, commands, HTML, deep links."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator

from telegram import CallbackQuery, Chat, Message, MessageEntity, PollAnswer, Update, User

from bot.models import ChatKind, ChatRef, Incoming, Mention, UserRef

log = logging.getLogger(__name__)

PREFIX = "telegram:"
MESSAGE_LIMIT = 4096  # characters of text after entity parsing
CAPTION_LIMIT = 1024
_START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def user_ref(user: User) -> UserRef:
    return UserRef(f"{PREFIX}{user.id}", user.username or user.first_name, username=user.username)


def mentions_in(message: Message) -> tuple[UserRef, ...]:
    """People a message names by id: text mentions (a person without a username, picked from
    the mention menu) carry the user; ``@username`` mentions carry only text, which the core
    resolves as a username."""
    found = []
    for entity in message.entities or ():
        if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None:
            shown = message.parse_entity(entity)
            found.append(UserRef(f"{PREFIX}{entity.user.id}", shown, username=entity.user.username))
    return tuple(found)


def reply_author(message: Message) -> UserRef | None:
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.is_bot:
        return None
    return user_ref(replied.from_user)


def chat_ref(chat: Chat) -> ChatRef:
    if chat.type == Chat.PRIVATE:
        name = " ".join(p for p in (chat.first_name, chat.last_name) if p) or chat.username
        return ChatRef(f"{PREFIX}{chat.id}", ChatKind.PRIVATE, name)
    return ChatRef(f"{PREFIX}{chat.id}", ChatKind.GROUP, chat.title)


def private_chat_of(user: User) -> ChatRef:
    """A person's private chat with the bot has the person's id."""
    return ChatRef(f"{PREFIX}{user.id}", ChatKind.PRIVATE, user.username or user.first_name)


def platform_id(namespaced_id: str) -> int:
    """``telegram:-100123`` -> ``-100123``.

    Raises:
        ValueError: Not a Telegram id.
    """
    prefix, _, raw = namespaced_id.partition(":")
    if prefix != "telegram" or not re.fullmatch(r"-?\d+", raw):
        raise ValueError(f"not a Telegram chat or user id: {namespaced_id!r}")
    return int(raw)


def address_command(text: str, bot_username: str | None) -> str | None:
    """Strip ``@botname`` from a command addressed to us; None if addressed to another bot.

    ``/ask@eventbot_bot why?`` -> ``/ask why?``; ``/ask@otherbot why?`` -> None; anything
    that is not a command comes back unchanged.
    """
    if not text.startswith("/"):
        return text
    head, sep, tail = text.partition(" ")
    name, at, target = head.partition("@")
    if not at:
        return text
    if bot_username is None or target.lower() != bot_username.lower():
        return None
    return f"{name}{sep}{tail}"


def incoming_from_update(update: Update, bot_username: str | None) -> Incoming | None:
    """Translate one update; None (with a log line) for anything the core should not see."""
    if update.poll_answer is not None:
        return _from_poll_answer(update.poll_answer, update.update_id)
    if update.callback_query is not None:
        return _from_callback(update.callback_query, update.update_id)
    if update.message is not None:
        return _from_message(update.message, update.update_id, bot_username)
    log.debug("ignored update %s: nothing the bot answers", update.update_id)
    return None


def _from_message(message: Message, update_id: int, bot_username: str | None) -> Incoming | None:
    user = message.from_user
    if user is None or user.is_bot:
        log.debug("ignored update %s: message without a human sender", update_id)
        return None
    if message.text is None:
        return None  # stickers, photos, joins: nothing to answer
    if message.chat is None:  # PTB accepts it; Telegram never sends it
        log.info("ignored update %s: a message without a chat", update_id)
        return None
    text = address_command(message.text, bot_username)
    if text is None:
        log.debug("ignored update %s: a command for another bot", update_id)
        return None
    return Incoming(user=user_ref(user), chat=chat_ref(message.chat), text=text,
                    locale=user.language_code, message_id=str(message.message_id),
                    mentions=mentions_in(message), reply_to=reply_author(message))


def _from_callback(query: CallbackQuery, update_id: int) -> Incoming | None:
    if not query.data:
        log.info("ignored update %s: a button press without callback data", update_id)
        return None
    message = query.message
    chat = chat_ref(message.chat) if message is not None else private_chat_of(query.from_user)
    message_id = str(message.message_id) if message is not None else None
    return Incoming(user=user_ref(query.from_user), chat=chat, action=query.data,
                    locale=query.from_user.language_code, message_id=message_id)


def _from_poll_answer(answer: PollAnswer, update_id: int) -> Incoming | None:
    if answer.user is None:
        log.info("ignored update %s: an anonymous poll answer", update_id)
        return None
    options = ",".join(str(i) for i in answer.option_ids)
    return Incoming(user=user_ref(answer.user), chat=private_chat_of(answer.user),
                    action=f"npoll:{answer.poll_id}:{options}", locale=answer.user.language_code)


def to_html(text: str, mention: Mention | None = None) -> str:
    """Plain text for ``parse_mode=HTML``: only <, > and & need escaping; the rest
    (emoji, ŵ, ŷ, quotes) passes through as UTF-8. A Telegram user's name that ``mention``
    marks becomes a ``tg://user?id=`` link, which notifies that person and nobody else."""
    if mention is None or mention.start + mention.length > len(text):
        return html.escape(text, quote=False)
    try:
        user_id = platform_id(mention.user.id)
    except ValueError:
        return html.escape(text, quote=False)  # someone on another platform: named, not mentioned
    end = mention.start + mention.length
    return (html.escape(text[:mention.start], quote=False) + f'<a href="tg://user?id={user_id}">'
            + html.escape(text[mention.start:end], quote=False) + "</a>" + html.escape(text[end:], quote=False))


def utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units: an emoji outside the BMP counts twice."""
    return len(text.encode("utf-16-le")) // 2


def _fitting_prefix(text: str, limit: int) -> int:
    """Number of characters of ``text`` that fit in ``limit`` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def chunks(text: str, limit: int = MESSAGE_LIMIT) -> Iterator[str]:
    """Split long text at line breaks (or hard, for a single huge line) into pieces that fit."""
    while utf16_len(text) > limit:
        fits = _fitting_prefix(text, limit)
        cut = text.rfind("\n", 0, fits + 1)
        if cut <= 0:
            cut = fits
        yield text[:cut]
        text = text[cut:].lstrip("\n")
    if text:
        yield text


def subscribe_link(bot_username: str, event_id: str) -> str:
    """A deep link that opens a private chat with the bot and subscribes to ``event_id``:
    ``https://t.me/<bot>?start=sub_<id>`` arrives as ``/start sub_<id>``.

    Raises:
        ValueError: The id cannot be carried in a start parameter (1–64 of A–Z a–z 0–9 _ -).
    """
    payload = f"sub_{event_id}"
    if not _START_PAYLOAD.fullmatch(payload):
        raise ValueError(f"event id {event_id!r} cannot be used in a Telegram deep link")
    return f"https://t.me/{bot_username.lstrip('@')}?start={payload}"
