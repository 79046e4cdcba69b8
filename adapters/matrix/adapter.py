"""Matrix through matrix-nio, inside our event loop.

``start`` logs in (a token, or a password whose token and device are then kept in the store)
and runs one task that long-polls ``/sync`` from the ``next_batch`` stored after the last batch
was handled, so a restart neither answers old commands again nor misses new ones. Everything
the adapter must remember lives in the store (``SupportsStoredState``): the sync position, the
direct room made with each person, which rooms were found encrypted, the reactions its
messages take.

Commands come as ``/events``, ``!events`` (Element keeps unknown ``/commands`` for itself) or
``@bot: events``. Replies are threaded to the command; bodies go as plain text with HTML in
``formatted_body``. Polls are MSC3381 polls; a 👍 on a question upvotes it. Synapse's
``M_LIMIT_EXCEEDED`` becomes ``RateLimited`` for the dispatcher, which paces by the declared
limits; a reply to a command waits out a short limit itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinError,
    LoginResponse,
    RoomCreateError,
    RoomGetEventError,
    RoomGetStateEventError,
    RoomPreset,
    RoomSendResponse,
    SyncError,
    SyncResponse,
    UploadResponse,
    WhoamiResponse,
)

from adapters.matrix import convert
from adapters.matrix.convert import PREFIX
from bot.config import Config
from bot.errors import AdapterUnavailable, DeliveryFailed, RateLimited, RecipientUnreachable
from bot.i18n import N_, translator
from bot.models import (
    Attachment,
    ChatKind,
    ChatRef,
    Delivered,
    Incoming,
    NativePollAnswers,
    Outgoing,
    UserRef,
)
from bot.ports import AdapterStateRepository, Capability, CommandMenu, MessageHandler, RateLimits

log = logging.getLogger(__name__)

SYNC_TIMEOUT_MS = 30_000
REPLY_WAIT = 30.0  # seconds a reply to a command waits out M_LIMIT_EXCEEDED before giving up
STOP_GRACE = 10.0  # seconds stop() lets the batch being handled finish
RELATIONS_PAGE = 100
POLL_OPTIONS = 20
SYNC_FILTER: dict[str, Any] = {
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "timeline": {"limit": 100},
        "state": {"lazy_load_members": True},
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
    },
}
ENCRYPTED_ROOM = N_("This room is end-to-end encrypted, and I can only read unencrypted rooms, so I cannot "
                    "answer anything said here. Please invite me to an unencrypted room instead "
                    "(encryption cannot be turned off once it is on).")
ENCRYPTED_ROOM_ORGANISER = N_("I was invited to the encrypted room {room} ({title}) and cannot work there: "
                              "I need an unencrypted room. I said so in the room.")


@dataclass(frozen=True)
class _Handling:
    """The event being answered in this task, so that replies are threaded to it."""

    room_id: str
    event_id: str
    thread: str | None


_current: contextvars.ContextVar[_Handling | None] = contextvars.ContextVar("matrix_event", default=None)


class MatrixAdapter:
    name = "matrix"
    capabilities = frozenset({Capability.NATIVE_POLLS, Capability.DIRECT_MESSAGES, Capability.REACTIONS,
                              Capability.FILES, Capability.IMAGES})

    def __init__(self, homeserver: str, user_id: str, *, token: str = "", password: str = "",
                 rate: float = 0.2, organisers: Sequence[str] = (), language: str = "en",
                 sync_timeout_ms: int = SYNC_TIMEOUT_MS, device_name: str = "eventbot") -> None:
        if not homeserver or not user_id:
            raise AdapterUnavailable("matrix", "set EVENTBOT_MATRIX_HOMESERVER and EVENTBOT_MATRIX_USER")
        if not token and not password:
            raise AdapterUnavailable("matrix", "set EVENTBOT_MATRIX_TOKEN or EVENTBOT_MATRIX_PASSWORD")
        self._homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self._token = token
        self._password = password
        # Synapse limits messages per sender, over every room: the account's limit is also
        # each room's (rc_message: 0.2 msg/s, burst 10, unless the admin raised it).
        self.limits = RateLimits(global_per_second=rate, per_chat_per_second=rate)
        self._organisers = tuple(o for o in organisers if o.startswith(PREFIX))
        self._language = language
        self._sync_timeout_ms = sync_timeout_ms
        self._device_name = device_name
        self._state: AdapterStateRepository | None = None
        self._client: AsyncClient | None = None
        self._on_message: MessageHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_sync = False
        self._stopping = False
        self.display_name: str | None = None
        # Caches of what the homeserver decides (kept current from /sync): who has joined
        # which direct room, display names, the answers of polls.
        self._joined: set[tuple[str, str]] = set()
        self._names: dict[str, str] = {}
        self._polls: dict[str, tuple[list[str], int, str]] = {}
        self._commands: frozenset[str] = frozenset()  # the bot's, to write as typed here
        self._dm_locks: dict[str, asyncio.Lock] = {}
        self.rate_limited = 0  # how many times the homeserver said M_LIMIT_EXCEEDED

    def __repr__(self) -> str:
        return f"MatrixAdapter(user_id={self.user_id!r}, homeserver={self._homeserver!r})"

    @classmethod
    def from_config(cls, config: Config) -> MatrixAdapter:
        return cls(config.matrix_homeserver, config.matrix_user,
                   token=config.matrix_token.reveal() if config.matrix_token else "",
                   password=config.matrix_password.reveal() if config.matrix_password else "",
                   rate=config.matrix_rate, organisers=config.organisers, language=config.language)

    def use_state(self, state: AdapterStateRepository) -> None:
        self._state = state

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise DeliveryFailed("the Matrix adapter is not running", transient=True)
        return self._client

    # -- state ------------------------------------------------------------------------------

    async def _get(self, key: str) -> str | None:
        assert self._state is not None
        return await self._state.get_state(self.name, key)

    async def _set(self, key: str, value: str) -> None:
        assert self._state is not None
        await self._state.set_state(self.name, key, value)

    async def _forget(self, key: str) -> None:
        assert self._state is not None
        await self._state.delete_state(self.name, key)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, on_message: MessageHandler) -> None:
        if self._state is None:
            raise AdapterUnavailable("matrix", "the adapter keeps its sync position in the store, "
                                               "and was given none")
        config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, encryption_enabled=False,
                                   request_timeout=self._sync_timeout_ms / 1000 + 30)
        self._client = AsyncClient(self._homeserver, self.user_id, config=config, store_path=None)
        self._stopping = False
        try:
            await self._log_in()
            profile = await self.client.get_displayname(self.user_id)
            self.display_name = getattr(profile, "displayname", None)
            if await self._get(self._sync_key) is None:
                await self._first_sync()
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self._close_client()
            raise AdapterUnavailable("matrix", f"cannot reach {self._homeserver}: {type(exc).__name__}") from None
        except BaseException:
            await self._close_client()
            raise
        self._on_message = on_message
        self._task = asyncio.create_task(self._sync_forever(), name="matrix-sync")
        log.info("matrix adapter started as %s", self.user_id)

    @property
    def _sync_key(self) -> str:
        return f"next_batch:{self.user_id}"

    async def _log_in(self) -> None:
        client = self.client
        if self._token:
            client.access_token = self._token
            if not await self._who_am_i():
                raise AdapterUnavailable("matrix", "the homeserver refused EVENTBOT_MATRIX_TOKEN")
            return
        stored = await self._get(f"login:{self.user_id}")
        if stored:
            login = json.loads(stored)
            client.access_token, client.device_id = login["access_token"], login["device_id"]
            if await self._who_am_i():
                return
            log.info("the stored Matrix login of %s is no longer valid; logging in again", self.user_id)
        response = await client.login(self._password, device_name=self._device_name)
        if not isinstance(response, LoginResponse):
            raise AdapterUnavailable("matrix", f"the password login was refused ({response.status_code})")
        await self._set(f"login:{self.user_id}", json.dumps(
            {"access_token": response.access_token, "device_id": response.device_id}))

    async def _who_am_i(self) -> bool:
        response = await self.client.whoami()
        if not isinstance(response, WhoamiResponse):
            return False
        if response.user_id != self.user_id:
            raise AdapterUnavailable("matrix", f"the token belongs to {response.user_id}, not {self.user_id}")
        self.client.user_id = response.user_id
        self.client.device_id = response.device_id or self.client.device_id
        return True

    async def _first_sync(self) -> None:
        """The first start on this database: join the rooms we are invited to and note the
        encrypted ones, but answer nothing said before the bot was running."""
        # Synapse keeps /sync responses for two minutes (sync_response_cache_duration), keyed on
        # the account, device, timeout and filter: a bot started afresh on this account within
        # them would be given an old response, whose position is behind, and would answer all
        # that was said since. Leaving out a room that cannot exist makes the filter, and so
        # the response, this start's own.
        fresh = {**SYNC_FILTER, "room": {**SYNC_FILTER["room"],
                                         "not_rooms": [f"!{uuid.uuid4().hex}:first-sync.invalid"]}}
        response = await self.client.sync(timeout=0, sync_filter=fresh, full_state=True)
        if not isinstance(response, SyncResponse):
            raise AdapterUnavailable("matrix", f"the first sync failed: {response.status_code} {response.message}")
        await self._handle_batch(response, answer=False)
        await self._set(self._sync_key, response.next_batch)

    async def _sync_forever(self) -> None:
        failures = 0
        while not self._stopping:
            since = await self._get(self._sync_key)
            try:
                self._in_sync = True
                try:
                    response = await self.client.sync(timeout=self._sync_timeout_ms, since=since,
                                                      sync_filter=SYNC_FILTER)
                finally:
                    self._in_sync = False
                if isinstance(response, SyncError):
                    raise DeliveryFailed(f"{response.status_code} {response.message}")
                assert isinstance(response, SyncResponse)
                await self._handle_batch(response, answer=True)
                # Only once the batch is answered: a crash before this answers it again
                # rather than dropping it; a clean stop lets the batch finish first.
                await self._set(self._sync_key, response.next_batch)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                wait = min(60.0, 0.5 * 2 ** min(failures, 7))
                log.warning("matrix sync failed (%s: %s); retrying in %.0f s", type(exc).__name__, exc, wait)
                await asyncio.sleep(wait)

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            if self._in_sync:
                task.cancel()
            done, _pending = await asyncio.wait({task}, timeout=STOP_GRACE)
            if not done:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._on_message = None
        await self._close_client()

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- receiving ---------------------------------------------------------------------------

    async def _handle_batch(self, response: SyncResponse, *, answer: bool) -> None:
        for room_id, invite in response.rooms.invite.items():
            await self._invited(room_id, [_invite_source(e) for e in invite.invite_state])
        for room_id, info in response.rooms.join.items():
            state = [_source(e) for e in info.state]
            timeline = [_source(e) for e in info.timeline.events]
            for event in state + timeline:
                self._note_member(room_id, event)
            if any(e.get("type") in ("m.room.encryption", "m.room.encrypted") for e in state + timeline):
                await self._encrypted(room_id)
            if not answer:
                continue
            for event in timeline:
                if event.get("sender") == self.user_id or "state_key" in event:
                    continue
                try:
                    await self._handle_event(room_id, event)
                except Exception:
                    log.exception("could not handle Matrix event %s in %s", event.get("event_id"), room_id)
        for room_id in response.rooms.leave:
            self._joined = {k for k in self._joined if k[0] != room_id}

    async def _invited(self, room_id: str, invite_state: list[dict[str, Any]]) -> None:
        mine = next((e for e in invite_state if e.get("type") == "m.room.member"
                     and e.get("state_key") == self.user_id), None)
        response = await self.client.join(room_id)
        if isinstance(response, JoinError):
            log.warning("could not join %s: %s %s", room_id, response.status_code, response.message)
            return
        log.info("joined %s", room_id)
        if mine is not None and (mine.get("content") or {}).get("is_direct") and isinstance(mine.get("sender"), str):
            # A person started a direct chat with the bot: private messages go there from now
            # on (the one they opened last is the one they look at).
            person = mine["sender"]
            await self._remember_direct(person, room_id)
            self._joined.add((room_id, person))

    def _note_member(self, room_id: str, event: Mapping[str, Any]) -> None:
        if event.get("type") != "m.room.member" or not isinstance(event.get("state_key"), str):
            return
        person, content = event["state_key"], event.get("content") or {}
        if isinstance(content.get("displayname"), str):
            self._names[person] = content["displayname"]
        if content.get("membership") == "join":
            self._joined.add((room_id, person))
        else:
            self._joined.discard((room_id, person))

    async def _handle_event(self, room_id: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "m.room.message":
            await self._on_text(room_id, event)
        elif kind in convert.POLL_RESPONSE:
            await self._on_poll_response(room_id, event)
        elif kind == "m.reaction":
            await self._on_reaction(room_id, event)

    async def _incoming_parts(self, room_id: str, sender: str) -> tuple[UserRef, ChatRef]:
        private = await self._get(f"direct:{room_id}") == sender
        user = UserRef(PREFIX + sender, self._names.get(sender) or sender[1:].partition(":")[0])
        room = self._client.rooms.get(room_id) if self._client is not None else None
        title = room.display_name if room is not None else None
        return user, ChatRef(PREFIX + room_id, ChatKind.PRIVATE if private else ChatKind.GROUP, title)

    async def _on_text(self, room_id: str, event: dict[str, Any]) -> None:
        content = event.get("content") or {}
        relates = content.get("m.relates_to") or {}
        if relates.get("rel_type") == "m.replace" or content.get("msgtype") not in ("m.text", "m.emote"):
            return  # edits, notices from other bots, images
        body = content.get("body")
        if not isinstance(body, str) or not body.strip():
            return
        sender = event["sender"]
        mentioned_ids = (content.get("m.mentions") or {}).get("user_ids") or []
        text = convert.command_text(convert.strip_reply_fallback(body), bot_user_id=self.user_id,
                                    bot_names=[self.display_name or ""],
                                    mentioned=self.user_id in mentioned_ids)
        user, chat = await self._incoming_parts(room_id, sender)
        mentions = tuple(UserRef(PREFIX + m, self._names.get(m)) for m in mentioned_ids
                         if isinstance(m, str) and m != self.user_id)
        thread = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
        await self._dispatch(Incoming(user=user, chat=chat, text=text, message_id=event.get("event_id"),
                                      mentions=mentions), room_id, event, thread)

    async def _on_poll_response(self, room_id: str, event: dict[str, Any]) -> None:
        content = event.get("content") or {}
        poll_id = convert.referenced_event(content)
        selections = convert.response_selections(content)
        if poll_id is None or selections is None:
            return
        poll = await self._poll(room_id, poll_id)
        if poll is None:
            return
        answer_ids, max_selections, _sender = poll
        chosen = convert.chosen_indexes(selections, answer_ids, max_selections)
        user, chat = await self._incoming_parts(room_id, event["sender"])
        await self._dispatch(Incoming(user=user, chat=chat, action=f"npoll:{poll_id}:{','.join(map(str, chosen))}"),
                             room_id, event, None)

    async def _on_reaction(self, room_id: str, event: dict[str, Any]) -> None:
        relates = (event.get("content") or {}).get("m.relates_to") or {}
        target, key = relates.get("event_id"), relates.get("key")
        if relates.get("rel_type") != "m.annotation" or not isinstance(target, str) or not isinstance(key, str):
            return
        stored = await self._get(f"react:{target}")
        action = json.loads(stored).get(convert.reaction_key(key)) if stored else None
        if not action:
            return
        user, chat = await self._incoming_parts(room_id, event["sender"])
        await self._dispatch(Incoming(user=user, chat=chat, action=action, message_id=target), room_id, event, None)

    async def _dispatch(self, incoming: Incoming, room_id: str, event: Mapping[str, Any], thread: str | None) -> None:
        if self._on_message is None:
            return
        token = _current.set(_Handling(room_id, str(event.get("event_id")), thread))
        try:
            await self._on_message(incoming)
        finally:
            _current.reset(token)

    async def _poll(self, room_id: str, poll_id: str) -> tuple[list[str], int, str] | None:
        """Answer ids, max selections and sender of a poll (read once, then remembered)."""
        known = self._polls.get(poll_id)
        if known is not None:
            return known
        response = await self.client.room_get_event(room_id, poll_id)
        if isinstance(response, RoomGetEventError):
            log.info("could not read poll %s in %s: %s", poll_id, room_id, response.status_code)
            return None
        source = _source(response.event)
        parsed = convert.poll_of_start(source.get("content") or {})
        if source.get("type") not in convert.POLL_START or parsed is None:
            return None
        poll = self._polls[poll_id] = (parsed[0], parsed[1], str(source.get("sender")))
        return poll

    async def _encrypted(self, room_id: str) -> None:
        """Say once, in clear text, that the bot needs an unencrypted room; tell the organisers."""
        key = f"encrypted:{room_id}"
        if await self._get(key) is not None:
            return
        await self._set(key, "1")
        log.warning("%s is encrypted: the bot cannot read it", room_id)
        _ = translator(self._language)
        try:
            await self._room_send(room_id, "m.room.message", convert.message_content(_(ENCRYPTED_ROOM)),
                                  destination=PREFIX + room_id, private=False, wait=REPLY_WAIT)
        except DeliveryFailed as exc:
            log.warning("could not tell %s that it needs to be unencrypted: %s", room_id, exc)
        room = self._client.rooms.get(room_id) if self._client is not None else None
        title = (room.display_name if room is not None else None) or room_id
        for organiser in self._organisers:
            if await self._get(f"direct:{room_id}") == convert.user_id_of(organiser):
                continue  # the organiser's own encrypted chat with the bot: already told there
            try:
                await self.send(Outgoing(text=_(ENCRYPTED_ROOM_ORGANISER, room=room_id, title=title),
                                         user=UserRef(organiser), kind="private"))
            except DeliveryFailed as exc:
                log.warning("could not tell organiser %s about encrypted room %s: %s", organiser, room_id, exc)

    # -- sending -----------------------------------------------------------------------------

    async def publish_commands(self, menu: CommandMenu) -> None:
        """Matrix has no command menu; the names are kept so that replies write each command
        as Element users must type it (``!events``, see ``convert.as_typed_here``)."""
        self._commands = frozenset(spec.name for spec in menu.commands)

    async def send(self, message: Outgoing) -> Delivered:
        private = message.user is not None
        try:
            if message.user is not None:
                room_id = await self._direct_room(convert.user_id_of(message.user.id))
            else:
                assert message.chat is not None
                room_id = convert.room_id_of(message.chat.id)
        except ValueError as exc:
            raise DeliveryFailed(str(exc), transient=False) from None
        handling = _current.get()
        replying = handling is not None and handling.room_id == room_id
        native = message.poll is not None and 2 <= len(message.poll.options) <= POLL_OPTIONS
        if native:
            assert message.poll is not None
            event_type, content = convert.POLL_START[0], convert.poll_start_content(message.poll, message.text)
        else:
            mention_user = None
            if message.mention is not None and message.chat is not None:
                with contextlib.suppress(ValueError):
                    mention_user = convert.user_id_of(message.mention.user.id)
            event_type = "m.room.message"
            content = convert.message_content(
                convert.as_typed_here(message.text, self._commands), mention=message.mention, mention_user=mention_user,
                reply_to=handling.event_id if replying and handling else None,
                thread=handling.thread if replying and handling else None)
            if message.attachment is not None:
                url = await self._upload(message.attachment, message.destination, private=private)
                content = convert.media_content(content, message.attachment, url)
        event_id = await self._room_send(room_id, event_type, content, destination=message.destination,
                                         private=private, wait=REPLY_WAIT if handling is not None else 0.0)
        reactions = convert.reaction_buttons(message.buttons)
        if reactions:
            await self._set(f"react:{event_id}", json.dumps(reactions, ensure_ascii=False))
        if native and message.poll is not None:
            self._polls[event_id] = ([str(n) for n in range(1, len(message.poll.options) + 1)],
                                     len(message.poll.options) if message.poll.multiple else 1, self.user_id)
        return Delivered(message_id=event_id, poll_ref=event_id if native else None)

    async def _room_send(self, room_id: str, event_type: str, content: dict[str, Any], *, destination: str,
                         private: bool, wait: float) -> str:
        """Send one event; ``M_LIMIT_EXCEEDED`` is waited out up to ``wait`` seconds, else raised."""
        tx_id = str(uuid.uuid4())  # the same transaction on a retry: the homeserver keeps one copy
        waited = 0.0
        while True:
            try:
                response = await self.client.room_send(room_id, event_type, content, tx_id=tx_id)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DeliveryFailed(f"{self._homeserver} unreachable: {type(exc).__name__}") from None
            if isinstance(response, RoomSendResponse):
                return str(response.event_id)
            limited = _rate_limited(response)
            if limited is not None:
                self.rate_limited += 1
            if limited is not None and waited + limited.retry_after <= wait:
                await asyncio.sleep(limited.retry_after)
                waited += limited.retry_after
                continue
            raise _translate(response, destination, private=private)

    async def _upload(self, attachment: Attachment, destination: str, *, private: bool) -> str:
        """Put a file in the homeserver's media repository; its ``mxc://`` address."""
        try:
            response, _keys = await self.client.upload(
                io.BytesIO(attachment.content), content_type=attachment.mime_type, filename=attachment.filename,
                filesize=len(attachment.content))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"{self._homeserver} unreachable: {type(exc).__name__}") from None
        if isinstance(response, UploadResponse):
            return str(response.content_uri)
        raise _translate(response, destination, private=private)

    async def _direct_room(self, person: str) -> str:
        """The person's direct room with the bot, made (``is_direct``) on first use and kept.

        Raises:
            RecipientUnreachable: They have not joined it (yet), or left it.
        """
        lock = self._dm_locks.setdefault(person, asyncio.Lock())
        async with lock:
            room_id = await self._get(f"dm:{person}")
            if room_id is None:
                room_id = await self._create_direct(person)
        if (room_id, person) in self._joined:
            return room_id
        response = await self.client.room_get_state_event(room_id, "m.room.member", person)
        membership = None if isinstance(response, RoomGetStateEventError) else response.content.get("membership")
        if membership == "join":
            self._joined.add((room_id, person))
            return room_id
        if membership in ("leave", "ban", None):
            # Gone (or never there): the next private message starts a new direct room.
            await self._forget(f"dm:{person}")
            await self._forget(f"direct:{room_id}")
            raise RecipientUnreachable(PREFIX + person, "they left their private chat with the bot")
        raise RecipientUnreachable(PREFIX + person, "they have not joined their private chat with the bot yet")

    async def _create_direct(self, person: str) -> str:
        try:
            response = await self.client.room_create(is_direct=True, invite=[person],
                                                     preset=RoomPreset.trusted_private_chat)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"{self._homeserver} unreachable: {type(exc).__name__}") from None
        if isinstance(response, RoomCreateError):
            raise _translate(response, PREFIX + person, private=True)
        room_id = str(response.room_id)
        await self._remember_direct(person, room_id)
        log.info("made a direct room %s with %s", room_id, person)
        return room_id

    async def _remember_direct(self, person: str, room_id: str) -> None:
        await self._set(f"dm:{person}", room_id)
        await self._set(f"direct:{room_id}", person)

    # -- native polls ------------------------------------------------------------------------

    async def end_poll(self, chat_id: str, message_id: str) -> NativePollAnswers | None:
        room_id = convert.room_id_of(chat_id)
        ended = await self._end_ts(room_id, message_id)
        if ended is None:
            _ = translator(self._language)
            await self._room_send(room_id, convert.POLL_END[0],
                                  convert.poll_end_content(message_id, _("The poll has ended.")),
                                  destination=chat_id, private=False, wait=REPLY_WAIT)
        return await self.native_poll_answers(chat_id, message_id)

    async def native_poll_answers(self, chat_id: str, message_id: str) -> NativePollAnswers | None:
        room_id = convert.room_id_of(chat_id)
        poll = await self._poll(room_id, message_id)
        if poll is None:
            raise DeliveryFailed(f"could not read poll {message_id}", transient=True)
        answer_ids, max_selections, _sender = poll
        related = await self._related(room_id, message_id)
        until = _end_of(related, self.user_id)
        responses = [e for e in related if e.get("type") in convert.POLL_RESPONSE]
        return convert.tally_responses(responses, answer_ids, max_selections, until_ts=until)

    async def _end_ts(self, room_id: str, poll_id: str) -> int | None:
        return _end_of(await self._related(room_id, poll_id), self.user_id)

    async def _related(self, room_id: str, event_id: str) -> list[dict[str, Any]]:
        """Every event that refers to ``event_id`` (the relations API, page by page)."""
        found: list[dict[str, Any]] = []
        base = (f"/_matrix/client/v1/rooms/{quote(room_id, safe='')}/relations/{quote(event_id, safe='')}"
                f"/m.reference?limit={RELATIONS_PAGE}")
        page: str | None = None
        while True:
            path = base + (f"&from={quote(page, safe='')}" if page else "")
            body = await self._get_json(path)
            found += [e for e in body.get("chunk", ()) if isinstance(e, dict)]
            page = body.get("next_batch")
            if not page:
                return found

    async def _get_json(self, path: str) -> dict[str, Any]:
        client = self.client
        try:
            response = await client.send("GET", path, headers={"Authorization": f"Bearer {client.access_token}"})
            body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DeliveryFailed(f"{self._homeserver} unreachable: {type(exc).__name__}") from None
        if response.status == 429:
            raise RateLimited(float(body.get("retry_after_ms") or 1000) / 1000)
        if response.status != 200 or not isinstance(body, dict):
            raise DeliveryFailed(f"{path.split('?')[0]}: {response.status} {body.get('errcode', '')}",
                                 transient=response.status >= 500)
        return body


def _source(event: Any) -> dict[str, Any]:
    source = getattr(event, "source", None)
    return source if isinstance(source, dict) else {}


def _invite_source(event: Any) -> dict[str, Any]:
    """matrix-nio takes the content out of an invite's stripped member events: rebuild them."""
    if not hasattr(event, "membership"):
        return _source(event)
    return {"type": "m.room.member", "state_key": getattr(event, "state_key", None),
            "sender": getattr(event, "sender", None), "content": dict(getattr(event, "content", None) or {})}


def _end_of(related: Iterable[Mapping[str, Any]], poller: str) -> int | None:
    """When the poll was ended (by its sender, the bot), if it was."""
    ends = [int(e.get("origin_server_ts") or 0) for e in related
            if e.get("type") in convert.POLL_END and e.get("sender") == poller]
    return min(ends) if ends else None


def _rate_limited(response: ErrorResponse) -> RateLimited | None:
    if response.status_code != "M_LIMIT_EXCEEDED":
        return None
    # Synapse says how long to wait; the whole account is limited, not one room, so the
    # scope is empty: the dispatcher pauses every send on Matrix.
    return RateLimited(max(0.001, (response.retry_after_ms or 1000) / 1000))


def _translate(response: ErrorResponse, destination: str, *, private: bool) -> DeliveryFailed:
    limited = _rate_limited(response)
    if limited is not None:
        return limited
    code = response.status_code or ""
    if code == "M_FORBIDDEN" and private:
        return RecipientUnreachable(destination, f"the homeserver refused: {response.message}")
    if code in ("M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_TOKEN", "M_BAD_JSON", "M_NOT_JSON", "M_TOO_LARGE"):
        return DeliveryFailed(f"{destination}: {code} {response.message}", transient=False)
    return DeliveryFailed(f"{destination}: {code} {response.message}".strip(), transient=True)
