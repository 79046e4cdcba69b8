"""A fake Discord REST API and gateway on 127.0.0.1, enough for the real discord.py client.

The fake records every REST request, answers the calls the adapter makes (login,
application info, messages, DMs, interaction callbacks and followups, command
registration, native polls: their voters per answer, ending them with final results) and
pushes gateway events on demand (``interaction``, ``poll_vote``). Failures are injected per
route with ``fail_next``.

Several clients may connect to the gateway at once, each as the shard its IDENTIFY names
(``[shard_id, shard_count]``; none means shard 0 of 1). As Discord does, each shard's READY
lists the guilds with ``(guild_id >> 22) % shard_count == shard_id``, and an event goes to the
shard of its guild, or to shard 0 when it has none (a DM).

    async with FakeDiscord.running() as discord_api, discord_api.patched():
        ... start the adapter, then:
        await discord_api.slash("subscribe", user=ALICE, options={"target": "all"})
        await discord_api.wait_for(lambda: discord_api.followups())
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = 900000000000000001
BOT_ID = 900000000000000002
GUILD_ID = 900000000000000100  # on shard 1 of 2
CHANNEL_ID = 900000000000000200
SHARD0_GUILD_ID = GUILD_ID + (1 << 22)  # another server, on shard 0 of 2 (not joined unless added)
DISCORD_EPOCH_MS = 1420070400000
TIMESTAMP = "2025-03-17T08:00:00+00:00"


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "username": self.username, "discriminator": "0",
                "global_name": self.global_name, "avatar": None, "bot": False}


ALICE = Person(1001, "alice", "Alice")
BOB = Person(1002, "bob", "Bob")
CAROL = Person(1003, "carol", "Carol")
BOT_USER = {"id": str(BOT_ID), "username": "eventbot", "discriminator": "0", "global_name": None,
            "avatar": None, "bot": True}


@dataclass
class Recorded:
    """One REST request as the fake saw it (``json`` holds ``payload_json`` for multipart)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: dict[str, bytes] = field(default_factory=dict)
    status: int = 200


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Bucket:
    """A per-route rate limit as Discord keeps it: ``limit`` requests per ``window`` seconds of
    wall time, announced in X-RateLimit-* headers, and a 429 for a request beyond it."""

    method: str
    pattern: re.Pattern[str]
    limit: int
    window: float
    name: str
    used: int = 0
    resets_at: float = 0.0
    refused: int = 0

    def take(self) -> dict[str, str] | None:
        """Count one request; return the headers to answer with, or None if it is over the limit."""
        now = time.monotonic()
        if now >= self.resets_at:
            self.used, self.resets_at = 0, now + self.window
        if self.used >= self.limit:
            self.refused += 1
            return None
        self.used += 1
        reset_after = max(0.0, self.resets_at - now)
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.limit - self.used),
                "X-RateLimit-Reset-After": f"{reset_after:.3f}", "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                "X-RateLimit-Bucket": self.name}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py only parses JSON when the Content-Type is exactly application/json;
    # aiohttp's json_response would append "; charset=utf-8".
    return web.Response(body=json.dumps(data).encode(), status=status, content_type=None,
                        headers={"Content-Type": "application/json", **(headers or {})})


class FakeDiscord:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.identifies: list[dict[str, Any]] = []
        self.refuse_dms: set[int] = set()
        self.guilds: list[int] = [GUILD_ID]
        self.messages: dict[int, dict[str, Any]] = {}
        self.scheduled_events: dict[int, dict[str, Any]] = {}
        self.poll_voters: dict[tuple[int, int], list[Person]] = {}  # (message id, answer id) -> voters
        self.ended_polls: set[int] = set()  # message ids of polls ended (no more votes taken)
        self._failures: list[_Failure] = []
        self._buckets: list[_Bucket] = []
        # Snowflakes carry their creation time; interaction tokens expire 15 minutes after it.
        self._ids = itertools.count((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22)
        self._seq = itertools.count(1)
        self.shard_count = 1
        self._shards: dict[int, web.WebSocketResponse] = {}  # shard id -> its connection
        self.dispatched: list[tuple[int, str]] = []  # (shard id, event) pushed, in order
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[FakeDiscord]:
        fake = cls()
        app = web.Application()
        app.router.add_get("/gateway", fake._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", fake._rest)
        fake._runner = web.AppRunner(app)
        await fake._runner.setup()
        site = web.TCPSite(fake._runner, "127.0.0.1", 0)
        await site.start()
        fake.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield fake
        finally:
            for ws in list(fake._shards.values()):
                await ws.close()
            await fake._runner.cleanup()

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """Point discord.py's REST base and gateway URL here; restore them afterwards."""
        import discord.gateway
        import discord.http
        import yarl

        old_base, old_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = f"http://127.0.0.1:{self.port}/api/v10"
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{self.port}/gateway")
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    def new_id(self) -> int:
        return next(self._ids)

    # -- waiting and reading ------------------------------------------------------------------

    async def wait_for(self, condition: Callable[[], Any], within: float = 5.0) -> Any:
        """Poll ``condition`` (a function, or a coroutine function such as a store query)
        until it is truthy, and return its value.

        The deadline only bounds a failing test; a passing one returns as soon as the fake
        has recorded (or the bot has stored) what it waits for."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError("condition not met before the deadline")
            await asyncio.sleep(0.005)

    def find(self, method: str, pattern: str, *, ok_only: bool = True) -> list[Recorded]:
        rx = re.compile(pattern)
        return [r for r in self.requests if r.method == method and rx.fullmatch(r.path)
                and (not ok_only or r.status < 300)]

    def channel_messages(self, channel_id: int | None = None) -> list[Recorded]:
        cid = str(channel_id) if channel_id is not None else r"\d+"
        return self.find("POST", rf"channels/{cid}/messages")

    def followups(self) -> list[Recorded]:
        return self.find("POST", rf"webhooks/{APP_ID}/[^/]+")

    def callbacks(self) -> list[Recorded]:
        return self.find("POST", r"interactions/\d+/[^/]+/callback")

    def fail_next(self, method: str, pattern: str, status: int, body: dict[str, Any],
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next request matching ``method`` and the path regex with an error."""
        self._failures.append(_Failure(method, re.compile(pattern), status, body, headers or {}))

    def limit_route(self, method: str, pattern: str, limit: int, window: float) -> _Bucket:
        """Enforce a per-route bucket on matching requests, as Discord does; returns it so a test
        can read how many requests it refused."""
        bucket = _Bucket(method, re.compile(pattern), limit, window, f"bucket{len(self._buckets)}")
        self._buckets.append(bucket)
        return bucket

    # -- gateway --------------------------------------------------------------------------

    def shard_of(self, guild_id: int | str | None) -> int:
        """The shard Discord sends a guild's events to; DMs (no guild) go to shard 0."""
        return (int(guild_id) >> 22) % self.shard_count if guild_id else 0

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        shard: int | None = None
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame["op"] == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif frame["op"] == 2:
                self.identifies.append(frame["d"])
                shard, self.shard_count = frame["d"].get("shard") or (0, 1)
                self._shards[shard] = ws
                guilds = [g for g in self.guilds if self.shard_of(g) == shard]
                await self._dispatch(ws, "READY", {
                    "v": 10, "user": BOT_USER, "session_id": f"fake-session-{shard}",
                    "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                    "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                    "application": {"id": str(APP_ID), "flags": 0}, "private_channels": [],
                    "shard": [shard, self.shard_count],
                })
                for guild in guilds:
                    await self._dispatch(ws, "GUILD_CREATE", self._guild(guild))
        if shard is not None and self._shards.get(shard) is ws:
            del self._shards[shard]
        return ws

    async def _dispatch(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    async def push(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the shard its guild belongs to (shard 0 for a DM)."""
        shard = self.shard_of(data.get("guild_id"))
        ws = self._shards.get(shard)
        if ws is None:
            raise RuntimeError(f"no client is connected to the fake gateway as shard {shard}")
        self.dispatched.append((shard, event))
        await self._dispatch(ws, event, data)

    @staticmethod
    def channel_of(guild_id: int) -> int:
        """The one text channel of a guild (``CHANNEL_ID`` in ``GUILD_ID``)."""
        return CHANNEL_ID if guild_id == GUILD_ID else guild_id + 100

    @classmethod
    def _guild(cls, guild_id: int) -> dict[str, Any]:
        return {
            "id": str(guild_id), "name": "Social Work Week", "icon": None, "owner_id": str(ALICE.id),
            "roles": [{"id": str(guild_id), "name": "@everyone", "permissions": "0", "position": 0,
                       "color": 0, "hoist": False, "managed": False, "mentionable": False}],
            "channels": [{"id": str(cls.channel_of(guild_id)), "type": 0, "name": "general", "position": 0,
                          "guild_id": str(guild_id), "permission_overwrites": []}],
            "members": [], "threads": [], "emojis": [], "stickers": [], "features": [],
            "voice_states": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
            "member_count": 3, "large": False, "unavailable": False, "preferred_locale": "en-GB",
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "mfa_level": 0, "nsfw_level": 0, "premium_tier": 0, "system_channel_flags": 0,
            "joined_at": TIMESTAMP,
        }

    # -- pushing interactions and votes ---------------------------------------------------------

    def _interaction(self, kind: int, user: Person, data: dict[str, Any], *, dm: bool,
                     locale: str, message: dict[str, Any] | None = None, guild: int = GUILD_ID) -> dict[str, Any]:
        iid = self.new_id()
        payload: dict[str, Any] = {
            "id": str(iid), "application_id": str(APP_ID), "type": kind, "token": f"itoken-{iid}",
            "version": 1, "data": data, "locale": locale, "app_permissions": "0", "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD_ID)}, "attachment_size_limit": 8388608,
        }
        if dm:
            channel = self.dm_channel_id(user.id)
            payload.update(channel_id=str(channel), user=user.payload(), context=1,
                           channel={"id": str(channel), "type": 1, "recipients": [user.payload()]})
        else:
            channel = self.channel_of(guild)
            payload.update(
                channel_id=str(channel), guild_id=str(guild), guild_locale="en-GB", context=0,
                channel={"id": str(channel), "type": 0, "name": "general", "guild_id": str(guild),
                         "position": 0, "permission_overwrites": []},
                member={"user": user.payload(), "roles": [], "joined_at": TIMESTAMP, "deaf": False,
                        "mute": False, "flags": 0, "permissions": "2248473465835073", "nick": None})
        if message is not None:
            payload["message"] = message
        return payload

    async def slash(self, name: str, *, user: Person, options: dict[str, Any] | None = None,
                    dm: bool = False, locale: str = "en-GB", guild: int = GUILD_ID) -> dict[str, Any]:
        """Push a slash-command INTERACTION_CREATE as Discord sends it; returns the payload."""
        opts = [{"name": k, "type": 4 if isinstance(v, int) and not isinstance(v, bool)
                 else 5 if isinstance(v, bool) else 3, "value": v} for k, v in (options or {}).items()]
        data = {"id": str(self.new_id()), "name": name, "type": 1, "options": opts}
        if not dm:
            data["guild_id"] = str(guild)
        payload = self._interaction(2, user, data, dm=dm, locale=locale, guild=guild)
        await self.push("INTERACTION_CREATE", payload)
        return payload

    async def autocomplete(self, name: str, *, user: Person, focused: str, value: str,
                           options: dict[str, str] | None = None) -> dict[str, Any]:
        opts = [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()]
        opts.append({"name": focused, "type": 3, "value": value, "focused": True})
        data = {"id": str(self.new_id()), "name": name, "type": 1, "options": opts,
                "guild_id": str(GUILD_ID)}
        payload = self._interaction(4, user, data, dm=False, locale="en-GB")
        await self.push("INTERACTION_CREATE", payload)
        return payload

    async def press(self, custom_id: str, *, user: Person, message_id: int | None = None,
                    dm: bool = False) -> dict[str, Any]:
        """Push a button press (component interaction) on a message of the bot."""
        channel = self.dm_channel_id(user.id) if dm else CHANNEL_ID
        message = self._message(channel, {"content": "", "components": []}, message_id or self.new_id())
        payload = self._interaction(3, user, {"custom_id": custom_id, "component_type": 2}, dm=dm,
                                    locale="en-GB", message=message)
        await self.push("INTERACTION_CREATE", payload)
        return payload

    async def poll_vote(self, *, user: Person, message_id: int, answer_id: int, add: bool = True,
                        channel_id: int = CHANNEL_ID) -> None:
        """Record the vote as Discord would, then push the gateway event about it (nothing
        happens on a poll that has ended)."""
        self.record_vote(user=user, message_id=message_id, answer_id=answer_id, add=add)
        if message_id in self.ended_polls:
            return
        await self.push("MESSAGE_POLL_VOTE_ADD" if add else "MESSAGE_POLL_VOTE_REMOVE", {
            "user_id": str(user.id), "channel_id": str(channel_id), "message_id": str(message_id),
            "guild_id": str(GUILD_ID), "answer_id": answer_id})

    def record_vote(self, *, user: Person, message_id: int, answer_id: int, add: bool = True) -> None:
        """Record a vote in Discord's own poll without telling the bot (cast while it was down)."""
        if message_id in self.ended_polls:
            return
        message = self.messages.get(message_id)
        if add and message is not None and not (message.get("poll") or {}).get("allow_multiselect"):
            for (mid, _answer), others in self.poll_voters.items():
                if mid == message_id and user in others:
                    others.remove(user)
        voters = self.poll_voters.setdefault((message_id, answer_id), [])
        if add and user not in voters:
            voters.append(user)
        elif not add and user in voters:
            voters.remove(user)

    def poll_results(self, message_id: int) -> list[int]:
        """Votes per answer (1-based answer ids, in order) as Discord counts them."""
        message = self.messages[message_id]
        return [len(self.poll_voters.get((message_id, a["answer_id"]), []))
                for a in message["poll"]["answers"]]

    @staticmethod
    def dm_channel_id(user_id: int) -> int:
        return 800000000000000000 + user_id

    # -- REST -----------------------------------------------------------------------------------

    def _message(self, channel_id: int, body: dict[str, Any], message_id: int | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": str(message_id or self.new_id()), "channel_id": str(channel_id), "author": BOT_USER,
            "content": body.get("content") or "", "timestamp": TIMESTAMP, "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": body.get("embeds") or [], "pinned": False, "type": 0,
            "components": body.get("components") or [], "flags": 0,
        }
        poll = body.get("poll")
        if poll:
            message["poll"] = {
                "question": poll["question"], "allow_multiselect": poll.get("allow_multiselect", False),
                "layout_type": 1, "expiry": "2025-03-18T08:00:00+00:00",
                "answers": [{"answer_id": i + 1, "poll_media": a["poll_media"]}
                            for i, a in enumerate(poll["answers"])],
            }
        return message

    def add_scheduled_event(self, name: str, *, creator_id: int, description: str = "") -> int:
        """An event made in Discord by someone else (the mirror must leave it alone)."""
        event_id = self.new_id()
        self.scheduled_events[event_id] = {
            "id": str(event_id), "guild_id": str(GUILD_ID), "creator_id": str(creator_id), "name": name,
            "description": description, "scheduled_start_time": "2025-03-20T10:00:00+00:00",
            "scheduled_end_time": "2025-03-20T11:00:00+00:00", "privacy_level": 2, "status": 1,
            "entity_type": 3, "entity_id": None, "entity_metadata": {"location": "Cardiff"}, "channel_id": None}
        return event_id

    def _scheduled_events(self, method: str, guild_id: int, event_id: str | None, body: Any) -> web.Response:
        if event_id is None and method == "GET":
            return _json([e for e in self.scheduled_events.values() if e["guild_id"] == str(guild_id)])
        if event_id is None and method == "POST":
            new_id = self.new_id()
            event = self.scheduled_events[new_id] = {
                "id": str(new_id), "guild_id": str(guild_id), "creator_id": str(BOT_ID), "status": 1,
                "entity_id": None, "channel_id": None, "creator": BOT_USER, **body}
            return _json(event)
        event = self.scheduled_events.get(int(event_id or 0))
        if event is None:
            return _json({"code": 10070, "message": "Unknown Guild Scheduled Event"}, 404)
        if method == "PATCH":
            event.update(body)
            return _json(event)
        if method == "DELETE":
            del self.scheduled_events[int(event["id"])]
            return web.Response(status=204)
        return _json(event)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        body: Any = None
        files: dict[str, bytes] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files[part.filename or part.name or ""] = bytes(await part.read())  # type: ignore[union-attr]
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        record = Recorded(request.method, path, dict(request.query), body, files)
        self.requests.append(record)
        for failure in self._failures:
            if failure.method == request.method and failure.pattern.fullmatch(path):
                self._failures.remove(failure)
                record.status = failure.status
                return _json(failure.body, failure.status, failure.headers)
        limited: dict[str, str] = {}
        for bucket in self._buckets:
            if bucket.method == request.method and bucket.pattern.fullmatch(path):
                headers = bucket.take()
                if headers is None:
                    record.status = 429
                    retry = max(0.0, bucket.resets_at - time.monotonic())
                    return _json({"message": "You are being rate limited.", "retry_after": round(retry, 3),
                                  "global": False}, 429,
                                 {"Via": "1.1 google", "Retry-After": str(int(retry) + 1), "X-RateLimit-Scope": "user"})
                limited.update(headers)
        response = self._answer(request.method, path, body, request.query)
        response.headers.update(limited)
        record.status = response.status
        return response

    def _answer(self, method: str, path: str, body: Any, query: Any) -> web.Response:
        if method == "GET" and path == "users/@me":
            return _json(BOT_USER)
        if method == "GET" and path == "oauth2/applications/@me":
            return _json({"id": str(APP_ID), "name": "eventbot", "icon": None, "description": "",
                          "bot_public": True, "bot_require_code_grant": False, "verify_key": "00",
                          "owner": ALICE.payload(), "flags": 0, "team": None, "summary": ""})
        if method == "GET" and path in {"gateway", "gateway/bot"}:
            return _json({"url": f"ws://127.0.0.1:{self.port}/gateway", "shards": 1,
                          "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0,
                                                  "max_concurrency": 1}})
        if method == "PUT" and (m := re.fullmatch(r"applications/\d+(?:/guilds/(\d+))?/commands", path)):
            return _json([{**c, "id": str(self.new_id()), "application_id": str(APP_ID), "version": "1",
                           "type": c.get("type", 1), "default_member_permissions": None,
                           **({"guild_id": m.group(1)} if m.group(1) else {})} for c in body])
        if method == "POST" and path == "users/@me/channels":
            recipient = int(body["recipient_id"])
            return _json({"id": str(self.dm_channel_id(recipient)), "type": 1, "last_message_id": None,
                          "recipients": [{"id": str(recipient), "username": f"user{recipient}",
                                          "discriminator": "0", "global_name": None, "avatar": None}]})
        if method == "POST" and (m := re.fullmatch(r"channels/(\d+)/messages", path)):
            channel = int(m.group(1))
            if channel - 800000000000000000 in self.refuse_dms:
                return _json({"code": 50007, "message": "Cannot send messages to this user"}, 403)
            message = self._message(channel, body or {})
            self.messages[int(message["id"])] = message
            return _json(message)
        if method == "GET" and (m := re.fullmatch(r"channels/\d+/messages/(\d+)", path)):
            found = self.messages.get(int(m.group(1)))
            return _json(found) if found else _json({"code": 10008, "message": "Unknown Message"}, 404)
        if method == "GET" and (m := re.fullmatch(r"channels/\d+/polls/(\d+)/answers/(\d+)", path)):
            voters = sorted(self.poll_voters.get((int(m.group(1)), int(m.group(2))), []), key=lambda p: p.id)
            after = int(query.get("after", 0))
            limit = int(query.get("limit", 25))
            return _json({"users": [v.payload() for v in voters if v.id > after][:limit]})
        if method == "POST" and re.fullmatch(r"interactions/\d+/[^/]+/callback", path):
            iid = path.split("/")[1]
            return _json({"interaction": {"id": iid, "type": 2, "response_message_loading": True,
                                          "response_message_ephemeral": False},
                          "resource": {"type": (body or {}).get("type", 5)}})
        if method == "POST" and re.fullmatch(rf"webhooks/{APP_ID}/[^/]+", path):
            message = {**self._message(CHANNEL_ID, body or {}), "webhook_id": str(APP_ID)}
            self.messages[int(message["id"])] = message
            return _json(message)
        if method in {"DELETE", "PATCH"} and re.fullmatch(rf"webhooks/{APP_ID}/[^/]+/messages/.+", path):
            return web.Response(status=204)
        if (m := re.fullmatch(r"guilds/(\d+)/scheduled-events(?:/(\d+))?", path)):
            return self._scheduled_events(method, int(m.group(1)), m.group(2), body)
        if method == "POST" and (m := re.fullmatch(r"channels/(\d+)/polls/(\d+)/expire", path)):
            message_id = int(m.group(2))
            found = self.messages.get(message_id)
            if found is None or not found.get("poll"):
                return _json({"code": 10008, "message": "Unknown Message"}, 404)
            if message_id in self.ended_polls:
                return _json({"code": 520001, "message": "This poll has already ended"}, 400)
            self.ended_polls.add(message_id)
            found["poll"]["results"] = {"is_finalized": True, "answer_counts": [
                {"id": a["answer_id"], "count": n, "me_voted": False}
                for a, n in zip(found["poll"]["answers"], self.poll_results(message_id), strict=True)]}
            return _json(found)
        return _json({"code": 0, "message": f"fake discord has no route {method} {path}"}, 404)
