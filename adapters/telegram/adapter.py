"""Telegram through python-telegram-bot, inside our event loop.

``start`` initialises PTB's ``Application``; it never calls ``run_polling()``, which would own
the loop. Every update goes through one handler that turns it into an ``Incoming``.

Telegram lets one consumer at a time call ``getUpdates`` for a token, so receiving is the
app's to switch (``set_receiving``), on in the one process that leads. By long polling (the
default) only that process polls; the others only send. With a webhook
(``telegram_webhook_url``) every process serves updates behind the one URL, and the leader
registers it with Telegram.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder, ContextTypes, ExtBot, TypeHandler, Updater
from telegram.request import HTTPXRequest

from adapters.telegram.convert import (
    CAPTION_LIMIT,
    chunks,
    incoming_from_update,
    platform_id,
    subscribe_link,
    to_html,
    utf16_len,
)
from adapters.telegram.redact import TokenRedactor
from bot.config import Config
from bot.errors import AdapterUnavailable, ConfigError, DeliveryFailed, RateLimited, RecipientUnreachable
from bot.models import Button, Delivered, Mention, NativePollAnswers, Outgoing, PollSpec, Role
from bot.ports import Capability, CommandMenu, MessageHandler, RateLimits

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "callback_query", "poll_answer")
DEFAULT_API = "https://api.telegram.org"
DEFAULT_LANGUAGE = "en"
ENDED_KEPT = 100  # final answers of polls ended, kept for a second end of the same poll
POLL_TIMEOUT = 10  # seconds a getUpdates long poll stays open
_COMMAND_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_QUESTION_LIMIT, _OPTION_LIMIT, _MAX_OPTIONS = 300, 100, 12
_MAX_MENU = 100


def _api_url(base: str, kind: str) -> str:
    """``http://host:8081`` -> ``http://host:8081/bot`` (or ``/file/bot``); a URL already
    ending in ``/bot`` or holding ``{token}`` is used as given."""
    base = base.rstrip("/")
    if "{token}" in base:
        return base if kind == "bot" else base.replace("/bot{token}", "/file/bot{token}")
    if base.endswith("/bot"):
        return base if kind == "bot" else base[: -len("/bot")] + "/file/bot"
    return f"{base}/bot" if kind == "bot" else f"{base}/file/bot"


class _UpdatesRequest(HTTPXRequest):
    """The request used for ``getUpdates`` only. PTB parses a whole batch at once: one
    update it cannot parse fails the batch, the offset never moves, and the same batch is
    fetched forever. Here each update is checked first; a malformed one is logged and
    reduced to its ``update_id`` so that it is acknowledged and nothing else is lost."""

    reachable = True
    """Whether the last ``getUpdates`` got an answer from the Bot API (for ``connected``)."""

    async def do_request(self, url: str, method: str, request_data: Any = None, *args: Any,
                         **kwargs: Any) -> tuple[int, bytes]:
        try:
            code, payload = await super().do_request(url, method, request_data, *args, **kwargs)
        except BaseException:
            self.reachable = False
            raise
        self.reachable = code == 200
        if code != 200:
            return code, payload
        try:
            body = json.loads(payload)
            updates = body["result"]
        except (ValueError, KeyError, TypeError):
            return code, payload
        if not isinstance(updates, list):
            return code, payload
        kept: list[Any] = []
        changed = False
        for raw in updates:
            try:
                Update.de_json(dict(raw), None)
                kept.append(raw)
            except Exception as exc:
                changed = True
                update_id = raw.get("update_id") if isinstance(raw, dict) else None
                log.warning("ignored malformed Telegram update %s: %s: %s",
                            update_id, type(exc).__name__, exc)
                if isinstance(update_id, int):
                    kept.append({"update_id": update_id})
        if not changed:
            return code, payload
        body["result"] = kept
        return code, json.dumps(body).encode()


class _Updater(Updater):
    """PTB's updater, except that its webhook server only serves: the webhook is registered
    with Telegram by the process that leads (``TelegramAdapter.set_receiving``), not by every
    process as it starts."""

    async def _bootstrap(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("webhook_url"):
            return
        await super()._bootstrap(*args, **kwargs)


class TelegramAdapter:
    name = "telegram"
    capabilities = frozenset({Capability.BUTTONS, Capability.NATIVE_POLLS, Capability.DIRECT_MESSAGES,
                              Capability.FILES, Capability.IMAGES, Capability.EDIT})
    limits = RateLimits(global_per_second=30, per_chat_per_second=1, per_group_per_minute=20)

    def __init__(self, token: str, *, base_url: str = "", webhook_url: str = "",
                 webhook_listen: str = "127.0.0.1:8443", poll_timeout: float = POLL_TIMEOUT,
                 organisers: Sequence[int] = ()) -> None:
        if not token:
            raise AdapterUnavailable("telegram", "set EVENTBOT_TELEGRAM_TOKEN to the token BotFather gave you")
        # Opt in to PTB's future timedelta durations: the int form warns on every RetryAfter.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        self._token = token
        self._base_url = base_url
        self._webhook_url = webhook_url
        self._webhook_listen = _listen_address(webhook_listen) if webhook_url else ("", 0)
        # Telegram echoes this in X-Telegram-Bot-Api-Secret-Token; derived from the token so
        # that it survives restarts (and is the same in every process) without another
        # setting, and reveals nothing about it.
        self._webhook_secret = hashlib.sha256(f"eventbot-webhook:{token}".encode()).hexdigest()[:48]
        self._poll_timeout = poll_timeout
        self._organisers = tuple(organisers)  # Telegram user ids that see the organiser commands
        self._redactor = TokenRedactor(token)
        self._redactor.install()
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._on_message: MessageHandler | None = None
        self._requests: tuple[HTTPXRequest, ...] = ()
        self.username: str | None = None
        # Final answers of the polls this process ended, for a second end of the same poll.
        self._ended: dict[tuple[str, str], NativePollAnswers] = {}

    @classmethod
    def from_config(cls, config: Config) -> TelegramAdapter:
        token = config.telegram_token.reveal() if config.telegram_token else ""
        organisers = [int(o.partition(":")[2]) for o in config.organisers
                      if o.startswith("telegram:") and o.partition(":")[2].lstrip("-").isdigit()]
        return cls(token, base_url=config.telegram_base_url, webhook_url=config.telegram_webhook_url,
                   webhook_listen=config.telegram_webhook_listen, organisers=organisers)

    def __repr__(self) -> str:
        return f"TelegramAdapter(username={self.username!r})"

    # -- lifecycle --------------------------------------------------------------------------

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        self._requests = (HTTPXRequest(connection_pool_size=16),
                          _UpdatesRequest(read_timeout=self._poll_timeout + 5))
        bot = ExtBot(self._token, request=self._requests[0], get_updates_request=self._requests[1],
                     base_url=_api_url(self._base_url or DEFAULT_API, "bot"),
                     base_file_url=_api_url(self._base_url or DEFAULT_API, "file"))
        app = (ApplicationBuilder().updater(_Updater(bot=bot, update_queue=asyncio.Queue()))
               .job_queue(None)  # scheduling belongs to bot/, not to PTB
               .build())
        app.add_handler(TypeHandler(Update, self._on_update))
        app.add_error_handler(self._on_error)
        return app

    async def start(self, on_message: MessageHandler) -> None:
        self._on_message = on_message
        app = self._build()
        try:
            await app.initialize()
        except TelegramError as exc:
            # A failed initialize leaves the HTTP clients open; PTB's shutdown skips them.
            for request in self._requests:
                await request.shutdown()
            if isinstance(exc, InvalidToken):
                reason = "Telegram rejected the token (check EVENTBOT_TELEGRAM_TOKEN)"
            else:
                reason = f"cannot reach the Bot API: {self._redactor.redact(str(exc))}"
            raise AdapterUnavailable("telegram", reason) from None
        self._app = app
        self.username = app.bot.username
        try:
            await app.start()
            if self._webhook_url:
                await self._serve_webhook(app)
        except BaseException:
            await self.stop()
            raise
        self._redactor.install()  # loggers of modules the updater imported late
        log.info("telegram adapter started as @%s (%s)", self.username,
                 "webhook" if self._webhook_url else "polling")

    async def _serve_webhook(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        host, port = self._webhook_listen
        path = urlsplit(self._webhook_url).path.lstrip("/")
        try:
            await app.updater.start_webhook(  # type: ignore[union-attr]
                listen=host, port=port, url_path=path, webhook_url=self._webhook_url,
                allowed_updates=list(ALLOWED_UPDATES), secret_token=self._webhook_secret)
        except RuntimeError as exc:
            raise AdapterUnavailable("telegram", f"webhook mode needs eventbot[telegram]: {exc}") from None

    @property
    def receiving(self) -> bool:
        """Whether updates reach this process: it polls, or it serves the webhook."""
        return self._app is not None and self._app.updater is not None and self._app.updater.running

    async def set_receiving(self, on: bool) -> None:
        """Polling: poll only while ``on`` (this process leads). Webhook: every process serves
        it from ``start`` on; the one told ``on`` registers it with Telegram."""
        app = self._app
        if app is None or app.updater is None:
            raise AdapterUnavailable("telegram", "the adapter is not started")
        updater = app.updater
        try:
            if self._webhook_url:
                if on:
                    await app.bot.set_webhook(self._webhook_url, allowed_updates=list(ALLOWED_UPDATES),
                                              secret_token=self._webhook_secret)
            elif on and not updater.running:
                await updater.start_polling(timeout=timedelta(seconds=self._poll_timeout),
                                            allowed_updates=list(ALLOWED_UPDATES),
                                            error_callback=self._polling_error)
                self._redactor.install()  # loggers of modules the updater imported late
            elif not on and updater.running:
                await updater.stop()  # acknowledges what was fetched: the next poller starts after it
        except TelegramError as exc:
            raise AdapterUnavailable("telegram", f"could not {'start' if on else 'stop'} receiving updates: "
                                                 f"{self._redactor.redact(str(exc))}") from None

    async def stop(self) -> None:
        app, self._app = self._app, None
        if app is not None:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
        self._on_message = None
        self._redactor.uninstall()

    @property
    def connected(self) -> bool:
        """Started; and while this process polls (it leads), the last ``getUpdates`` was
        answered. A process that only sends (another polls) is connected while it runs."""
        app = self._app
        if app is None or not app.running:
            return False
        if self._webhook_url or app.updater is None or not app.updater.running:
            return True
        return all(r.reachable for r in self._requests if isinstance(r, _UpdatesRequest))

    # -- receiving ---------------------------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        incoming = incoming_from_update(update, self.username)
        if update.callback_query is not None:
            # Always answer, or the person's client shows a spinner until it times out.
            try:
                await update.callback_query.answer()
            except TelegramError as exc:
                log.info("could not answer callback query %s: %s", update.callback_query.id, exc)
        if incoming is None or self._on_message is None:
            return
        await self._on_message(incoming)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("error handling Telegram update %s: %s", update_id,
                  self._redactor.redact(repr(context.error)), exc_info=context.error)

    def _polling_error(self, exc: TelegramError) -> None:
        log.warning("polling Telegram failed, retrying: %s", self._redactor.redact(str(exc)))

    # -- sending -------------------------------------------------------------------------------

    @property
    def _bot(self) -> Any:
        if self._app is None:
            raise DeliveryFailed("the Telegram adapter is not running", transient=True)
        return self._app.bot

    async def send(self, message: Outgoing) -> Delivered:
        destination = message.destination
        try:
            chat_id = platform_id(destination)
        except ValueError as exc:
            raise DeliveryFailed(str(exc), transient=False) from None
        markup = _keyboard(message.buttons)
        try:
            if message.poll is not None and _fits_native_poll(message.poll):
                sent = await self._send_poll(chat_id, message.poll, markup)
                return Delivered(str(sent.message_id), poll_ref=sent.poll.id if sent.poll else None)
            if message.attachment is not None:
                return await self._send_file(chat_id, message, markup)
            return await self._send_text(chat_id, message.text, markup, message.mention)
        except TelegramError as exc:
            raise _translate(exc, destination, private=message.user is not None or chat_id > 0) from None

    async def _send_text(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None,
                         mention: Mention | None = None) -> Delivered:
        pieces = list(chunks(text))
        if not pieces:
            raise DeliveryFailed("an empty message cannot be sent to Telegram", transient=False)
        sent: Message | None = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            # The first piece begins where the text does, so the mention's place holds in it.
            sent = await self._bot.send_message(chat_id, to_html(piece, mention if index == 0 else None),
                                                parse_mode=ParseMode.HTML, reply_markup=markup if last else None)
        assert sent is not None
        return Delivered(str(sent.message_id))

    async def _send_poll(self, chat_id: int, poll: PollSpec, markup: InlineKeyboardMarkup | None) -> Message:
        quiz = poll.correct_option is not None
        sent: Message = await self._bot.send_poll(
            chat_id, poll.question, list(poll.options), is_anonymous=False,
            type="quiz" if quiz else "regular",
            allows_multiple_answers=poll.multiple and not quiz,
            correct_option_ids=[poll.correct_option] if quiz else None,
            reply_markup=markup)
        return sent

    async def _send_file(self, chat_id: int, message: Outgoing, markup: InlineKeyboardMarkup | None) -> Delivered:
        attachment = message.attachment
        assert attachment is not None
        caption: str | None = message.text
        if message.text and utf16_len(message.text) > CAPTION_LIMIT:
            await self._send_text(chat_id, message.text, None)
            caption = None
        upload = InputFile(attachment.content, filename=attachment.filename)
        options: dict[str, Any] = {"caption": to_html(caption) if caption else None,
                                   "parse_mode": ParseMode.HTML, "reply_markup": markup}
        if attachment.mime_type.startswith("image/") and attachment.mime_type != "image/svg+xml":
            sent = await self._bot.send_photo(chat_id, upload, **options)
        else:
            sent = await self._bot.send_document(chat_id, upload, **options)
        return Delivered(str(sent.message_id))

    async def edit(self, chat_id: str, message_id: str, text: str,
                   buttons: tuple[tuple[Button, ...], ...] = ()) -> None:
        """Replace the text (and buttons) of a message the bot sent (``Capability.EDIT``)."""
        try:
            await self._bot.edit_message_text(to_html(text), chat_id=platform_id(chat_id),
                                              message_id=int(message_id), parse_mode=ParseMode.HTML,
                                              reply_markup=_keyboard(buttons))
        except TelegramError as exc:
            if isinstance(exc, BadRequest) and "message is not modified" in exc.message:
                return
            raise _translate(exc, chat_id, private=False) from None

    async def end_poll(self, chat_id: str, message_id: str) -> NativePollAnswers | None:
        """``stopPoll`` returns the final poll: counts per option, not who chose what."""
        key = (chat_id, message_id)
        try:
            poll = await self._bot.stop_poll(platform_id(chat_id), int(message_id))
        except TelegramError as exc:
            if isinstance(exc, BadRequest) and "already been closed" in exc.message:
                return self._ended.get(key)
            raise _translate(exc, chat_id, private=False) from None
        final = self._ended[key] = NativePollAnswers(
            votes=tuple(o.voter_count for o in poll.options), voters=poll.total_voter_count)
        while len(self._ended) > ENDED_KEPT:
            del self._ended[next(iter(self._ended))]
        return final

    async def native_poll_answers(self, chat_id: str, message_id: str) -> NativePollAnswers | None:
        # Telegram shows a poll's answers only when it stops; the answers given while the bot
        # was away come as updates, which Telegram keeps for a day.
        return None

    # -- commands and links ------------------------------------------------------------------

    async def publish_commands(self, menu: CommandMenu) -> None:
        """Everyone's menu leaves out organiser-only commands; each configured organiser's
        private chat gets the full list. English is the default, other languages by code."""
        languages = [DEFAULT_LANGUAGE, *(lang for lang in menu.languages if lang != DEFAULT_LANGUAGE)]
        scopes: list[tuple[BotCommandScope | None, Role]] = [(None, Role.FACILITATOR)]
        scopes += [(BotCommandScopeChat(chat_id), Role.ORGANISER) for chat_id in self._organisers]
        for scope, role in scopes:
            for language in languages:
                commands = _bot_commands(menu, language, role)
                try:
                    await self._bot.set_my_commands(
                        commands, scope=scope, language_code=None if language == DEFAULT_LANGUAGE else language)
                except TelegramError as exc:
                    raise _translate(exc, "setMyCommands", private=False) from None

    def join_link(self, occurrence_id: str) -> str | None:
        """The deep link that opens the bot's chat and subscribes to the session."""
        if not self.username:
            return None
        try:
            return subscribe_link(self.username, occurrence_id)
        except ValueError:
            return None

    def subscribe_link(self, event_id: str) -> str:
        """``https://t.me/<bot>?start=sub_<id>`` for this bot (known once started)."""
        if not self.username:
            raise RuntimeError("the bot's username is known only after start()")
        return subscribe_link(self.username, event_id)


def _listen_address(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8443`` for IPv6) of the webhook server.

    Raises:
        ConfigError: Not of that form.
    """
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"telegram_webhook_listen must be HOST:PORT, not {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _bot_commands(menu: CommandMenu, language: str, role: Role) -> list[BotCommand]:
    commands: list[BotCommand] = []
    for spec in menu.commands:
        if getattr(spec, "role", Role.ATTENDEE) > role:
            continue
        if len(commands) == _MAX_MENU:
            log.warning("Telegram's menu holds %d commands; /%s and later are left out", _MAX_MENU, spec.name)
            break
        name = str(spec.name).lower()
        if not 1 <= len(name) <= 32 or not set(name) <= _COMMAND_NAME_CHARS:
            log.warning("command /%s cannot be listed in Telegram's menu", name)
            continue
        summary = " ".join(menu.translate(spec.summary, language).split()) or name
        if len(summary) > 256:
            summary = summary[:255] + "…"
        commands.append(BotCommand(name, summary))
    return commands


def _keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.action) for b in row]
                                 for row in rows if row])


def _fits_native_poll(poll: PollSpec) -> bool:
    """Telegram's limits; a poll beyond them goes out as the text fallback with its buttons."""
    fits = (len(poll.question) <= _QUESTION_LIMIT and 2 <= len(poll.options) <= _MAX_OPTIONS
            and all(1 <= len(o) <= _OPTION_LIMIT for o in poll.options))
    if not fits:
        log.info("poll %s exceeds Telegram's poll limits; sending it as text", poll.poll_id)
    return fits


def _translate(exc: TelegramError, destination: str, *, private: bool) -> DeliveryFailed:
    """Platform failures as the core understands them."""
    if isinstance(exc, RetryAfter):
        # No PTB rate limiter is configured, so PTB raised this on the first 429 without
        # retrying: nothing was delivered, and the dispatcher decides when to try again.
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return RateLimited(seconds, scope=destination)
    if isinstance(exc, Forbidden):
        if private:
            return RecipientUnreachable(destination, exc.message.removeprefix("Forbidden: "))
        return DeliveryFailed(f"{destination}: {exc.message}", transient=False)
    if isinstance(exc, ChatMigrated):
        return DeliveryFailed(f"{destination} moved to telegram:{exc.new_chat_id}", transient=False)
    if isinstance(exc, BadRequest):
        return DeliveryFailed(f"{destination}: {exc.message}", transient=False)
    if isinstance(exc, TimedOut | NetworkError):
        return DeliveryFailed(f"{destination}: {exc.message}", transient=True)
    if isinstance(exc, InvalidToken):
        return DeliveryFailed("Telegram rejected the bot token", transient=False)
    return DeliveryFailed(f"{destination}: {exc.message}", transient=True)
