"""A fake Telegram Bot API server on 127.0.0.1, for running the real python-telegram-bot client.

It speaks the Bot API's wire format: POST ``/bot{token}/{method}`` with form-encoded (or
multipart, for files) parameters whose nested values are JSON strings, answered with
``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": …, "description": …}``. Result
objects mirror the current Bot API shapes (polls carry ``persistent_id`` on each option and
``allows_revoting``/``members_only``), because PTB refuses objects that lack them.

Tests push updates (``api.say(...)``, ``api.press(...)``, ``api.vote(...)``) into a queue that
``getUpdates`` long-polls, and read every call the bot made from ``api.calls``. Failures are
injected per method (``api.fail_next``) or per person (``api.block``).

    async with FakeBotApi() as api:
        alice = api.add_user(1001, "alice")
        api.say(alice, "/help")
        reply = await api.wait_call("sendMessage")
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, ClassVar

from aiohttp import web

TOKEN = "123456789:AAF-fake-token-for-tests-only-0123456"
DEADLINE = 10.0

# Parameters whose values arrive JSON-encoded (everything non-string PTB sends is json.dumps'd).
_JSON_PARAMS = {
    "reply_markup", "options", "correct_option_ids", "commands", "scope", "entities",
    "caption_entities", "link_preview_options", "reply_parameters", "allowed_updates",
    "is_anonymous", "allows_multiple_answers", "allows_revoting", "is_closed", "show_alert",
    "disable_notification", "protect_content", "drop_pending_updates", "offset", "limit",
    "timeout", "message_id", "chat_id", "max_connections", "members_only", "cache_time",
    "correct_option_id", "open_period",
}


class BotApiError(Exception):
    """An error the fake answers with, in Telegram's shape."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def forbidden_blocked() -> BotApiError:
    return BotApiError(403, "Forbidden: bot was blocked by the user")


def rate_limited(retry_after: int) -> BotApiError:
    return BotApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


@dataclass
class Call:
    """One Bot API call the client made: the method and its decoded parameters."""

    method: str
    params: dict[str, Any]
    result: Any = None  # what the fake answered (None for an error)
    error: str | None = None  # the description of the error it answered
    client: str = ""  # which bot process called: the marker in its base URL (``client_url``)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass
class FakeUser:
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = None
    started: bool = False  # has opened a private chat with the bot
    blocked: bool = False

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    def private_chat(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class FakePoll:
    id: str
    chat_id: int
    message_id: int
    question: str
    options: list[str]
    is_anonymous: bool
    type: str
    allows_multiple_answers: bool
    correct_option_ids: list[int] = field(default_factory=list)
    is_closed: bool = False
    votes: dict[int, list[int]] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        counts = [0] * len(self.options)
        for chosen in self.votes.values():
            for option in chosen:
                counts[option] += 1
        data: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "options": [{"text": text, "voter_count": counts[i], "persistent_id": str(i)}
                        for i, text in enumerate(self.options)],
            "total_voter_count": sum(1 for chosen in self.votes.values() if chosen),
            "is_closed": self.is_closed,
            "is_anonymous": self.is_anonymous,
            "type": self.type,
            "allows_multiple_answers": self.allows_multiple_answers,
            "allows_revoting": self.type != "quiz",
            "members_only": False,
        }
        if self.correct_option_ids:
            data["correct_option_ids"] = list(self.correct_option_ids)
        return data


class _TelegramHtml(HTMLParser):
    """Telegram's HTML parse mode: a few tags, entities for <, > and &, nothing else."""

    TAGS: ClassVar[dict[str, str]] = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
            "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
            "code": "code", "pre": "pre", "a": "text_link", "tg-spoiler": "spoiler",
            "blockquote": "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.entities: list[dict[str, Any]] = []
        self._open: list[tuple[str, int, dict[str, Any]]] = []

    def _offset(self) -> int:
        return len(self.text.encode("utf-16-le")) // 2  # Telegram counts UTF-16 code units

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.TAGS:
            raise BotApiError(400, f"Bad Request: can't parse entities: Unsupported start tag \"{tag}\"")
        extra: dict[str, Any] = {}
        if tag == "a":
            extra["url"] = dict(attrs).get("href") or ""
        self._open.append((tag, self._offset(), extra))

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1][0] != tag:
            raise BotApiError(400, f"Bad Request: can't parse entities: Unmatched end tag \"{tag}\"")
        tag, start, extra = self._open.pop()
        if self._offset() > start:
            self.entities.append({"type": self.TAGS[tag], "offset": start, "length": self._offset() - start,
                                  **extra})

    def handle_data(self, data: str) -> None:
        self.text += data


_BARE_AMP = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")
_BARE_LT = re.compile(r"<(?!/?(?:b|strong|i|em|u|ins|s|strike|del|code|pre|a|tg-spoiler|blockquote)[\s>])")


def parse_html(markup: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (text, entities) as Telegram would, or raise the 400 it would answer."""
    if match := (_BARE_LT.search(markup) or _BARE_AMP.search(markup)):
        offset = len(markup[: match.start()].encode("utf-16-le")) // 2
        raise BotApiError(400, f"Bad Request: can't parse entities: Unsupported start tag at byte offset {offset}")
    parser = _TelegramHtml()
    parser.feed(markup)
    parser.close()
    if parser._open:
        raise BotApiError(400, "Bad Request: can't parse entities: Can't find end tag corresponding to start tag")
    return parser.text, parser.entities


class FakeBotApi:
    """The fake server. Use as an async context manager; ``base_url`` goes to the adapter."""

    def __init__(self, token: str = TOKEN, *, bot_id: int = 7000, username: str = "eventbot_test_bot") -> None:
        self.token = token
        self.me = {"id": bot_id, "is_bot": True, "first_name": "Eventbot", "username": username,
                   "can_join_groups": True, "can_read_all_group_messages": False,
                   "supports_inline_queries": False, "can_connect_to_business": False,
                   "has_main_web_app": False}
        self.users: dict[int, FakeUser] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.calls: list[Call] = []
        # (scope, language code) -> commands; scope is "default" or "chat:<id>", language "" for all
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.polls: dict[str, FakePoll] = {}
        self.webhook_url = ""
        self.conflicts = 0  # long polls ended by another consumer's getUpdates (409)
        self._long_polls: list[tuple[str, asyncio.Event, web.Request]] = []  # open getUpdates
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._poll_ids = itertools.count(5_000_000_000_000_000_001)
        self._callback_ids = itertools.count(900_000)
        self._failures: list[tuple[str, Callable[[Call], bool], BotApiError]] = []
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> FakeBotApi:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        # The same API under /<client>/bot…: two bot processes on one token, told apart.
        app.router.add_post("/{client}/bot{token}/{method}", self._handle)
        app.router.add_get("/{client}/bot{token}/{method}", self._handle)
        # The server side is Telegram's: its access log (with the token in each path) is not ours.
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def client_url(self, client: str) -> str:
        """A base URL whose calls are recorded with ``Call.client == client``."""
        return f"http://127.0.0.1:{self.port}/{client}/bot"

    # -- the world: people, groups, updates --------------------------------------------------

    def add_user(self, user_id: int, first_name: str, *, username: str | None = None,
                 language_code: str | None = None) -> FakeUser:
        user = FakeUser(user_id, first_name, username, language_code)
        self.users[user_id] = user
        return user

    def add_group(self, chat_id: int, title: str) -> dict[str, Any]:
        chat = {"id": chat_id, "type": "supergroup" if str(chat_id).startswith("-100") else "group", "title": title}
        self.groups[chat_id] = chat
        return chat

    def block(self, user: FakeUser) -> None:
        user.blocked = True

    def push_update(self, payload: dict[str, Any]) -> int:
        """Queue a raw update (without ``update_id``); return the id it got."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **payload})
        asyncio.get_running_loop().create_task(self._notify())
        return update_id

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def say(self, user: FakeUser, text: str, *, group: dict[str, Any] | None = None) -> int:
        """``user`` sends ``text`` privately, or into ``group``; returns the update id."""
        if group is None:
            user.started = True
        chat = group if group is not None else user.private_chat()
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": 1_742_198_400,
                                   "from": user.json(), "chat": chat, "text": text}
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.push_update({"message": message})

    def press(self, user: FakeUser, data: str, *, message: dict[str, Any] | None = None) -> int:
        """``user`` presses an inline button carrying ``data`` under ``message``."""
        query: dict[str, Any] = {"id": str(next(self._callback_ids)), "from": user.json(),
                                 "chat_instance": "-4242", "data": data}
        if message is not None:
            query["message"] = message
        return self.push_update({"callback_query": query})

    def vote(self, user: FakeUser, poll_id: str, option_ids: Iterable[int]) -> int:
        """``user`` answers a non-anonymous poll (an empty list retracts the vote)."""
        chosen = list(option_ids)
        poll = self.polls.get(poll_id)
        if poll is not None:
            poll.votes[user.id] = chosen
        return self.push_update({"poll_answer": {
            "poll_id": poll_id, "user": user.json(), "option_ids": chosen,
            "option_persistent_ids": [str(i) for i in chosen]}})

    # -- what the bot did ------------------------------------------------------------------

    def calls_to(self, method: str, *, client: str | None = None, **where: Any) -> list[Call]:
        return [c for c in self.calls if c.method == method and client in (None, c.client)
                and all(c.params.get(k) == v for k, v in where.items())]

    async def wait_call(self, method: str, count: int = 1, *, within: float = DEADLINE,
                        client: str | None = None, **where: Any) -> list[Call]:
        """Wait until at least ``count`` calls of ``method`` (matching ``where``, and made by
        ``client`` if given) were made."""
        return await self.wait_until(lambda: len(self.calls_to(method, client=client, **where)) >= count,
                                     lambda: self.calls_to(method, client=client, **where), within=within,
                                     what=f"{count} × {method} {where or ''}{f' from {client}' if client else ''}")

    async def wait_until(self, condition: Callable[[], bool], result: Callable[[], Any] = lambda: None,
                         *, within: float = DEADLINE, what: str = "condition") -> Any:
        """Wait (on the server's own activity, not a sleep loop) until ``condition()`` holds."""
        async def waiter() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        try:
            await asyncio.wait_for(waiter(), within)
        except TimeoutError:
            seen = [c.method for c in self.calls]
            raise AssertionError(f"timed out waiting for {what}; calls so far: {seen}") from None
        return result()

    def fail_next(self, method: str, error: BotApiError, *, times: int = 1,
                  when: Callable[[Call], bool] = lambda call: True) -> None:
        """Answer the next ``times`` calls of ``method`` (matching ``when``) with ``error``."""
        for _ in range(times):
            self._failures.append((method, when, error))

    # -- the HTTP side -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(BotApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        params = await _read_params(request)
        call = Call(method, params, client=request.match_info.get("client", ""))
        handler = getattr(self, f"_m_{method}", None)
        self.calls.append(call)
        await self._notify()
        try:
            if handler is None and method != "getUpdates":
                raise BotApiError(404, "Not Found: method not found")
            for index, (failing, when, error) in enumerate(self._failures):
                if failing == method and when(call):
                    del self._failures[index]
                    raise error
            if method == "getUpdates":
                result = await self._get_updates(params, call.client, request)
            else:
                assert handler is not None
                result = await handler(params)
        except BotApiError as exc:
            call.error = exc.description
            await self._notify()
            return _error(exc)
        call.result = result
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    def _chat(self, chat_id: Any, *, sending: bool = True) -> dict[str, Any]:
        try:
            cid = int(chat_id)
        except (TypeError, ValueError):
            raise BotApiError(400, "Bad Request: chat not found") from None
        if cid in self.groups:
            return self.groups[cid]
        user = self.users.get(cid)
        if user is None:
            raise BotApiError(400, "Bad Request: chat not found")
        if sending and user.blocked:
            raise forbidden_blocked()
        if sending and not user.started:
            raise BotApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return user.private_chat()

    def _message(self, chat: dict[str, Any], **content: Any) -> dict[str, Any]:
        return {"message_id": next(self._message_ids), "date": 1_742_198_400,
                "from": {k: self.me[k] for k in ("id", "is_bot", "first_name", "username")},
                "chat": chat, **content}

    @staticmethod
    def _text(params: dict[str, Any], key: str) -> dict[str, Any]:
        raw = params.get(key)
        if raw is None:
            return {}
        if params.get("parse_mode") == "HTML":
            text, entities = parse_html(raw)
        else:
            text, entities = raw, []
        if not text.strip() and key == "text":
            raise BotApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > (4096 if key == "text" else 1024):
            raise BotApiError(400, f"Bad Request: {'message' if key == 'text' else 'caption'} is too long")
        out: dict[str, Any] = {key: text}
        if entities:
            out["entities" if key == "text" else "caption_entities"] = entities
        return out

    @staticmethod
    def _markup(params: dict[str, Any]) -> dict[str, Any]:
        markup = params.get("reply_markup")
        if markup is None:
            return {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise BotApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return {"reply_markup": markup}

    # -- methods -------------------------------------------------------------------------------

    async def _m_getMe(self, params: dict[str, Any]) -> Any:
        return self.me

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook_url = ""
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook_url = params.get("url", "")
        return True

    async def _get_updates(self, params: dict[str, Any], client: str, request: web.Request) -> Any:
        if self.webhook_url:
            raise BotApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                   "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        # One consumer per token: a getUpdates ends the long poll another consumer has open
        # (one whose client went away is no consumer any more).
        for other, ended, asked in self._long_polls:
            if other != client and asked.transport is not None and not asked.transport.is_closing():
                ended.set()
        await self._notify()
        mine = (client, asyncio.Event(), request)
        self._long_polls.append(mine)

        def ready() -> bool:
            return (self._closing or mine[1].is_set()
                    or any(u["update_id"] >= offset for u in self._updates))

        try:
            if timeout > 0:
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait_for(ready), timeout)
        finally:
            self._long_polls.remove(mine)
        if mine[1].is_set():
            self.conflicts += 1
            raise BotApiError(409, "Conflict: terminated by other getUpdates request; "
                                   "make sure that only one bot instance is running")
        return [u for u in self._updates if u["update_id"] >= offset][:limit]

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        return self._message(chat, **self._text(params, "text"), **self._markup(params))

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        message = self._message(chat, **self._text(params, "text"), **self._markup(params))
        message["message_id"] = int(params["message_id"])
        message["edit_date"] = 1_742_198_460
        return message

    async def _m_sendPoll(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        options = [o["text"] if isinstance(o, dict) else str(o) for o in params.get("options", [])]
        if not 2 <= len(options) <= 12:
            raise BotApiError(400, "Bad Request: poll must have at least 2 option")
        poll_type = params.get("type") or "regular"
        correct = list(params.get("correct_option_ids") or [])
        if poll_type == "quiz" and not correct:
            raise BotApiError(400, "Bad Request: correct option id not specified")
        message_id = next(self._message_ids)
        poll = FakePoll(id=str(next(self._poll_ids)), chat_id=chat["id"], message_id=message_id,
                        question=params["question"], options=options,
                        is_anonymous=params.get("is_anonymous", True) is not False,
                        type=poll_type, allows_multiple_answers=bool(params.get("allows_multiple_answers")),
                        correct_option_ids=correct)
        self.polls[poll.id] = poll
        message = self._message(chat, poll=poll.json(), **self._markup(params))
        message["message_id"] = message_id
        return message

    async def _m_stopPoll(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        for poll in self.polls.values():
            if poll.chat_id == chat["id"] and poll.message_id == int(params["message_id"]):
                if poll.is_closed:
                    raise BotApiError(400, "Bad Request: poll has already been closed")
                poll.is_closed = True
                return poll.json()
        raise BotApiError(400, "Bad Request: message with poll to stop not found")

    async def _m_sendDocument(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        upload = params.get("document")
        if not isinstance(upload, dict):
            raise BotApiError(400, "Bad Request: there is no document in the request")
        document = {"file_id": f"BQAC{len(self.calls)}", "file_unique_id": f"AgAD{len(self.calls)}",
                    "file_name": upload["filename"], "mime_type": upload["content_type"],
                    "file_size": len(upload["content"])}
        return self._message(chat, document=document, **self._text(params, "caption"), **self._markup(params))

    async def _m_sendPhoto(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        upload = params.get("photo")
        if not isinstance(upload, dict):
            raise BotApiError(400, "Bad Request: there is no photo in the request")
        photo = [{"file_id": f"AgAC{len(self.calls)}", "file_unique_id": f"AQAD{len(self.calls)}",
                  "width": 320, "height": 240, "file_size": len(upload["content"])}]
        return self._message(chat, photo=photo, **self._text(params, "caption"), **self._markup(params))

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            raise BotApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands") or []
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise BotApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise BotApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[_scope_key(params), params.get("language_code") or ""] = commands
        return True

    async def _m_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands.pop((_scope_key(params), params.get("language_code") or ""), None)
        return True


async def _read_params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        raw: dict[str, Any] = await request.json()
        return raw
    params: dict[str, Any] = {}
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            params[key] = {"filename": value.filename, "content_type": value.content_type,
                           "content": value.file.read()}
        elif key in _JSON_PARAMS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        else:
            params[key] = value
    return params


def _scope_key(params: dict[str, Any]) -> str:
    scope = params.get("scope") or {"type": "default"}
    if scope.get("type") == "default":
        return "default"
    if scope.get("type") in {"chat", "chat_administrators"}:
        return f"{scope['type']}:{scope['chat_id']}"
    if scope.get("type") == "chat_member":
        return f"chat_member:{scope['chat_id']}:{scope['user_id']}"
    return str(scope["type"])


def _error(exc: BotApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.code)


def unescape(text: str) -> str:
    """What a person reads for ``text`` sent with parse_mode=HTML (tags dropped)."""
    return html.unescape(re.sub(r"</?[a-z-]+[^>]*>", "", text))
