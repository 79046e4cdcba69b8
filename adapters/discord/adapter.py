"""The Discord adapter: slash commands and buttons in, embeds, DMs and native polls out.

It runs inside the bot's event loop (``login`` plus a task for ``connect``; never
``Client.run``) with minimal intents: guilds, and poll votes in guilds and DMs. Everything
people do arrives as an interaction, so the Message Content intent is not needed.

Buttons carry the core's restart-safe ``Button.action`` as their ``custom_id`` and are
answered from ``on_interaction``; no view is kept in memory, so a button sent before a
restart works after it.

Several processes share a bot by shards (``discord_shard_count``, and ``discord_shard_ids``
per process): each runs an ``AutoShardedClient`` for its shards and hears the events of
their guilds only; Discord sends DMs to shard 0. Sending is REST and works from any of them.
The process running shard 0 publishes the slash commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import discord
from discord import app_commands

from adapters.discord.commands import MenuTranslator, build_commands
from adapters.discord.events import mirror as mirror_events
from adapters.discord.invite import invite_url
from bot.config import Config
from bot.errors import AdapterUnavailable, DeliveryFailed, RateLimited, RecipientUnreachable
from bot.models import (
    Button,
    ChatKind,
    ChatRef,
    Delivered,
    Incoming,
    NativePollAnswers,
    Occurrence,
    Outgoing,
    PollSpec,
    UserRef,
)
from bot.ports import Capability, CommandMenu, MessageHandler, RateLimits

log = logging.getLogger(__name__)

EMBED_LIMIT = 4096
BUTTON_LABEL_LIMIT = 80
MAX_ROWS = 5
MAX_PER_ROW = 5
POLL_ANSWERS = 10
POLL_ANSWER_LIMIT = 55
POLL_QUESTION_LIMIT = 300
POLL_DURATION = timedelta(hours=24)
# discord.py waits out shorter 429s itself (honouring the route buckets); a longer one is
# raised to us, and the dispatcher decides when to try again.
VOTERS_PAGE = 100
MAX_RATELIMIT_WAIT = 30.0
STOP_GRACE = 10.0  # seconds stop() waits for handlers still answering
CANNOT_DM = 50007
EMBED_COLOUR = 0x2B6CB0


@dataclass
class _Pending:
    """The interaction being answered in this task, so replies can follow up on it."""

    interaction: discord.Interaction[Any]
    channel_id: int
    answered: bool = False


@dataclass(frozen=True)
class _PollInfo:
    multiple: bool
    answer_ids: tuple[int, ...]
    # True for polls sent by this process: every vote since the start was seen here, so a
    # person not yet known holds no answers. Otherwise the first vote reads them back.
    watched_from_start: bool = False


_current: contextvars.ContextVar[_Pending | None] = contextvars.ContextVar("discord_interaction", default=None)


class _StatelessView(discord.ui.View):
    """Buttons only: discord.py must not keep it in its view store, since every press is
    answered from ``on_interaction`` by its custom_id, before and after a restart."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    def is_dispatchable(self) -> bool:
        return False


class _Events:
    """What the adapter hears from the gateway, for the single client and the sharded one."""

    _adapter: DiscordAdapter

    async def on_ready(self) -> None:
        self._adapter._gateway_up = True

    async def on_resumed(self) -> None:
        self._adapter._gateway_up = True

    async def on_disconnect(self) -> None:
        self._adapter._gateway_up = False

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.type is discord.InteractionType.component:
            await self._adapter._on_component(interaction)

    async def on_raw_poll_vote_add(self, event: discord.RawPollVoteActionEvent) -> None:
        await self._adapter._on_poll_vote(event, added=True)

    async def on_raw_poll_vote_remove(self, event: discord.RawPollVoteActionEvent) -> None:
        await self._adapter._on_poll_vote(event, added=False)


class _Client(_Events, discord.Client):
    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self._adapter = adapter


class _ShardedClient(_Events, discord.AutoShardedClient):
    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self._adapter = adapter


def minimal_intents() -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_polls = True
    intents.dm_polls = True
    return intents


class DiscordAdapter:
    name = "discord"
    capabilities = frozenset({Capability.BUTTONS, Capability.NATIVE_POLLS, Capability.DIRECT_MESSAGES,
                              Capability.FILES, Capability.IMAGES})
    # 50 requests/s over the bot; 5 messages per 5 s into one channel.
    limits = RateLimits(global_per_second=50, per_chat_per_second=1.0)

    def __init__(self, token: str, *, guilds: Sequence[int] = (), events_guild: int | None = None,
                 shard_count: int | None = None, shard_ids: Sequence[int] = (), **client_options: Any) -> None:
        self._token = token
        self._guilds = tuple(guilds)
        self._events_guild = events_guild
        self.shard_count = shard_count  # None: one connection, no shards
        self.shard_ids = tuple(shard_ids)  # empty: every shard (with a count)
        self._client_options = client_options
        self._client: discord.Client | None = None
        self._tree: app_commands.CommandTree[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._on_message: MessageHandler | None = None
        self._dm_channels: dict[int, int] = {}
        # Native polls: whether each allows several answers, and the answers each person
        # holds in a multiple-choice one, (message id, user id) -> 0-based indexes. Both are
        # caches: after a restart they are read back from Discord when a vote arrives.
        self._polls: dict[int, _PollInfo] = {}
        self._poll_answers: dict[tuple[int, int], set[int]] = {}
        self._poll_reads: dict[int, asyncio.Future[_PollInfo | None]] = {}
        # Vote events are dispatched as concurrent tasks. One person's changes must reach the
        # core in order; different people's go on together, and the store batches them.
        self._voter_locks: dict[tuple[int, int], asyncio.Lock] = {}
        # Handlers still running: stop() lets them finish before the store closes.
        self._inflight: set[asyncio.Task[Any]] = set()
        self._gateway_up = False  # READY or RESUMED seen since the last disconnect

    def __repr__(self) -> str:
        return f"DiscordAdapter(guilds={self._guilds!r})"

    @classmethod
    def from_config(cls, config: Config) -> DiscordAdapter:
        if not config.discord_token:
            raise AdapterUnavailable("discord", "set EVENTBOT_DISCORD_TOKEN")
        return cls(config.discord_token.reveal(), guilds=config.discord_guilds,
                   events_guild=config.discord_events_guild, shard_count=config.discord_shard_count,
                   shard_ids=config.discord_shard_ids)

    @property
    def client(self) -> discord.Client:
        if self._client is None:
            raise RuntimeError("the Discord adapter is not started")
        return self._client

    @property
    def publishes_commands(self) -> bool:
        """Whether this process publishes the slash commands: it runs shard 0 (the one that
        hears DMs), so exactly one of the processes sharing the bot does."""
        return self.shard_count is None or not self.shard_ids or 0 in self.shard_ids

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, on_message: MessageHandler) -> None:
        self._on_message = on_message
        options: dict[str, Any] = {"intents": minimal_intents(), "max_ratelimit_timeout": MAX_RATELIMIT_WAIT,
                                   **self._client_options}
        client: discord.Client
        if self.shard_count is None:
            client = _Client(self, **options)
        else:
            client = _ShardedClient(self, shard_count=self.shard_count,
                                    shard_ids=list(self.shard_ids) or None, **options)
        self._client = client
        self._tree = app_commands.CommandTree(client)
        try:
            await client.login(self._token)
        except discord.LoginFailure as exc:
            await client.close()
            raise AdapterUnavailable("discord", "the token was refused") from exc
        self._task = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(client.wait_until_ready())
        await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await client.close()
            try:
                await self._task
            except Exception as exc:
                raise AdapterUnavailable("discord", f"the gateway refused us: {type(exc).__name__}") from exc
            raise AdapterUnavailable("discord", "the gateway closed before it was ready")
        log.info("discord connected as %s (application %s)%s", client.user, client.application_id,
                 f", shards {', '.join(map(str, self.shard_ids or range(self.shard_count)))} of {self.shard_count}"
                 if self.shard_count is not None else "")
        if client.application_id is not None:
            log.info("invite the bot to a server with %s", invite_url(client.application_id))

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._inflight:
            _done, pending = await asyncio.wait(set(self._inflight), timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._client = self._tree = self._task = None
        self._on_message = None
        self._gateway_up = False

    @property
    def connected(self) -> bool:
        """The gateway is up (ready or resumed since it last dropped)."""
        return self._client is not None and not self._client.is_closed() and self._gateway_up

    # -- commands -------------------------------------------------------------------------------

    async def publish_commands(self, menu: CommandMenu) -> None:
        tree = self._tree
        if tree is None:
            raise RuntimeError("the Discord adapter is not started")
        tree.clear_commands(guild=None)
        for command in build_commands(menu, self._run_command):
            tree.add_command(command)
        await tree.set_translator(MenuTranslator(menu))
        if not self.publishes_commands:
            # The tree still answers the commands of this process's guilds.
            log.info("slash commands are published by the process running shard 0")
            return
        if self._guilds:
            # Development: per guild, where changes show at once.
            for guild_id in self._guilds:
                guild = discord.Object(id=guild_id)
                tree.clear_commands(guild=guild)
                tree.copy_global_to(guild=guild)
                synced = await tree.sync(guild=guild)
                log.info("published %d slash commands to guild %s", len(synced), guild_id)
        else:
            synced = await tree.sync()
            log.info("published %d global slash commands", len(synced))

    async def _run_command(self, interaction: discord.Interaction[Any], text: str) -> None:
        await interaction.response.defer(thinking=True)
        await self._handle(interaction, Incoming(
            user=_user_ref(interaction.user), chat=_chat_ref(interaction), text=text,
            locale=str(interaction.locale)))

    async def _on_component(self, interaction: discord.Interaction[Any]) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = data.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            return
        await interaction.response.defer()
        message_id = str(interaction.message.id) if interaction.message is not None else None
        await self._handle(interaction, Incoming(
            user=_user_ref(interaction.user), chat=_chat_ref(interaction), action=custom_id,
            locale=str(interaction.locale), message_id=message_id))

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _handle(self, interaction: discord.Interaction[Any], incoming: Incoming) -> None:
        if self._on_message is None:
            return
        with self._tracked():
            pending = _Pending(interaction, interaction.channel_id or 0)
            token = _current.set(pending)
            try:
                await self._on_message(incoming)
            finally:
                _current.reset(token)
            if not pending.answered and interaction.type is discord.InteractionType.application_command:
                # Nothing was said in this channel (the answer went by DM, say): clear "thinking…".
                with contextlib.suppress(discord.HTTPException):
                    await interaction.delete_original_response()

    async def _on_poll_vote(self, event: discord.RawPollVoteActionEvent, *, added: bool) -> None:
        if self._on_message is None:
            return
        user = self.client.get_user(event.user_id)
        kind = ChatKind.PRIVATE if event.guild_id is None else ChatKind.GROUP
        with self._tracked():
            await self._deliver_vote(event, added=added, user=user, kind=kind)

    async def _deliver_vote(self, event: discord.RawPollVoteActionEvent, *, added: bool,
                            user: discord.User | None, kind: ChatKind) -> None:
        assert self._on_message is not None
        key = (event.message_id, event.user_id)
        lock = self._voter_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:  # FIFO: the core sees each person's changes in order
                answers = await self._answers_after(event, added=added)
                await self._on_message(Incoming(
                    user=_user_ref(user) if user else UserRef(f"discord:{event.user_id}"),
                    chat=ChatRef(f"discord:{event.channel_id}", kind),
                    action=f"npoll:{event.message_id}:{','.join(str(i) for i in sorted(answers))}"))
        finally:
            if not lock.locked() and self._voter_locks.get(key) is lock:
                del self._voter_locks[key]

    async def _answers_after(self, event: discord.RawPollVoteActionEvent, *, added: bool) -> set[int]:
        """The 0-based answers the voter holds once this change is applied.

        A single-choice vote is the change itself. A multiple-choice vote adds to or removes
        from what the person held; after a restart that is read back from Discord once.
        """
        index = event.answer_id - 1
        poll = await self._poll_info(event.channel_id, event.message_id)
        if poll is None or not poll.multiple:
            return {index} if added else set()
        key = (event.message_id, event.user_id)
        answers = self._poll_answers.get(key)
        if answers is None and not poll.watched_from_start:
            # Discord's view already includes this change.
            try:
                answers = self._poll_answers[key] = await self._voted_answers(event, poll.answer_ids)
                return set(answers)
            except discord.HTTPException as exc:
                log.warning("could not read the votes on poll %s: %s; counting from this change",
                            event.message_id, exc.status)
        answers = self._poll_answers.setdefault(key, set())
        if added:
            answers.add(index)
        else:
            answers.discard(index)
        return set(answers)

    async def _poll_info(self, channel_id: int, message_id: int) -> _PollInfo | None:
        poll = self._polls.get(message_id)
        if poll is not None:
            return poll
        # Votes on a poll not yet known (after a restart) share one read of it.
        reading = self._poll_reads.get(message_id)
        if reading is None:
            reading = self._poll_reads[message_id] = asyncio.ensure_future(self._read_poll(channel_id, message_id))
            reading.add_done_callback(lambda _f: self._poll_reads.pop(message_id, None))
        return await asyncio.shield(reading)

    async def _read_poll(self, channel_id: int, message_id: int) -> _PollInfo | None:
        try:
            data: Any = await self.client.http.get_message(channel_id, message_id)
        except discord.HTTPException as exc:
            log.warning("could not read poll %s in %s: %s", message_id, channel_id, exc.status)
            return None
        raw = data.get("poll") or {}
        poll = self._polls[message_id] = _PollInfo(
            bool(raw.get("allow_multiselect")), tuple(int(a["answer_id"]) for a in raw.get("answers", ())))
        return poll

    async def _voted_answers(self, event: discord.RawPollVoteActionEvent, answer_ids: Sequence[int]) -> set[int]:
        held: set[int] = set()
        http = self.client.http
        for answer_id in answer_ids:
            after: int | None = None
            while True:
                page: Any = await http.get_poll_answer_voters(
                    event.channel_id, event.message_id, answer_id, after=after, limit=VOTERS_PAGE)
                users = page.get("users", [])
                if any(int(u["id"]) == event.user_id for u in users):
                    held.add(answer_id - 1)
                    break
                if len(users) < VOTERS_PAGE:
                    break
                after = int(users[-1]["id"])
        return held

    # -- Scheduled Events mirror ----------------------------------------------------------------

    async def mirror_occurrences(self, occurrences: Sequence[Occurrence], now: datetime) -> None:
        if self._events_guild is None or self._client is None or not self._client.is_ready():
            return
        await mirror_events(self._client, self._events_guild, occurrences, now)

    # -- delivery -------------------------------------------------------------------------------

    async def send(self, message: Outgoing) -> Delivered:
        if self._client is None or self._client.is_closed():
            raise DeliveryFailed("discord is not connected", transient=True)
        native = message.poll is not None and fits_native_poll(message.poll)
        kwargs = _render(message, native_poll=native)
        pending = _current.get()
        try:
            sent: discord.Message
            if (pending is not None and message.chat is not None
                    and message.chat.id == f"discord:{pending.channel_id}"
                    and not pending.interaction.is_expired()):
                try:
                    sent = await pending.interaction.followup.send(wait=True, **kwargs)
                    pending.answered = True
                except discord.NotFound:  # the interaction is gone: say it in the channel instead
                    sent = await (await self._destination(message)).send(**_render(message, native_poll=native))
            else:
                channel = await self._destination(message)
                sent = await channel.send(**kwargs)
        except discord.RateLimited as exc:
            raise RateLimited(exc.retry_after, message.destination) from exc
        except discord.HTTPException as exc:
            raise _delivery_error(exc, message) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"discord unreachable: {type(exc).__name__}") from exc
        message_id = str(sent.id)
        if native and message.poll is not None:
            self._polls[sent.id] = _PollInfo(message.poll.multiple,
                                             tuple(range(1, len(message.poll.options) + 1)),
                                             watched_from_start=True)
        return Delivered(message_id=message_id, poll_ref=message_id if native else None)

    async def _destination(self, message: Outgoing) -> discord.abc.Messageable:
        client = self.client
        if message.user is not None:
            user_id = _snowflake(message.user.id)
            channel_id = self._dm_channels.get(user_id)
            if channel_id is None:
                dm = await client.create_dm(discord.Object(id=user_id))
                channel_id = self._dm_channels[user_id] = dm.id
            return client.get_partial_messageable(channel_id, type=discord.ChannelType.private)
        assert message.chat is not None
        kind = discord.ChannelType.private if message.chat.is_private else discord.ChannelType.text
        return client.get_partial_messageable(_snowflake(message.chat.id), type=kind)

    async def end_poll(self, chat_id: str, message_id: str) -> NativePollAnswers | None:
        channel_id, poll_id = _snowflake(chat_id), int(message_id)
        try:
            await self.client.http.end_poll(channel_id, poll_id)
        except discord.RateLimited as exc:
            raise RateLimited(exc.retry_after, chat_id) from exc
        except discord.HTTPException as exc:
            if exc.status == 429 or exc.status >= 500 or exc.status == 404:
                raise DeliveryFailed(f"could not end poll {message_id}: {exc.status} {exc.code}",
                                     transient=exc.status != 404) from exc
            # Ended already (by the other process on this account, or by its expiry): read it.
            log.info("poll %s was already ended (%s %s); reading its answers", message_id, exc.status, exc.code)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"discord unreachable: {type(exc).__name__}") from exc
        return await self.native_poll_answers(chat_id, message_id)

    async def native_poll_answers(self, chat_id: str, message_id: str) -> NativePollAnswers | None:
        """Who holds each answer, read from Discord's voter lists (the counts Discord shows
        are finalised some time after a poll ends; the lists are current at once)."""
        channel_id, poll_id = _snowflake(chat_id), int(message_id)
        try:
            poll = await self._poll_info(channel_id, poll_id)
            if poll is None:
                raise DeliveryFailed(f"could not read poll {message_id}", transient=True)
            by_option = [await self._answer_voters(channel_id, poll_id, a) for a in poll.answer_ids]
        except discord.RateLimited as exc:
            raise RateLimited(exc.retry_after, chat_id) from exc
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"could not read the voters of poll {message_id}: {exc.status} {exc.code}",
                                 transient=exc.status >= 500 or exc.status == 429) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"discord unreachable: {type(exc).__name__}") from exc
        # What Discord holds is now what the core holds: multiple-choice changes follow on from it.
        for key in [k for k in self._poll_answers if k[0] == poll_id]:
            del self._poll_answers[key]
        for index, voters in enumerate(by_option):
            for voter in voters:
                self._poll_answers.setdefault((poll_id, voter), set()).add(index)
        return NativePollAnswers(
            votes=tuple(len(v) for v in by_option), voters=len({u for v in by_option for u in v}),
            by_option=tuple(tuple(f"discord:{u}" for u in v) for v in by_option))

    async def _answer_voters(self, channel_id: int, message_id: int, answer_id: int) -> list[int]:
        voters: list[int] = []
        after: int | None = None
        while True:
            page: Any = await self.client.http.get_poll_answer_voters(
                channel_id, message_id, answer_id, after=after, limit=VOTERS_PAGE)
            users = [int(u["id"]) for u in page.get("users", [])]
            voters += users
            if len(users) < VOTERS_PAGE:
                return voters
            after = users[-1]


def fits_native_poll(poll: PollSpec) -> bool:
    """Discord polls hold at most 10 answers of 55 characters, and have no quiz mode."""
    return (poll.correct_option is None and 2 <= len(poll.options) <= POLL_ANSWERS
            and all(0 < len(o) <= POLL_ANSWER_LIMIT for o in poll.options)
            and 0 < len(poll.question) <= POLL_QUESTION_LIMIT)


def _render(message: Outgoing, *, native_poll: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
    if native_poll:
        assert message.poll is not None
        poll = discord.Poll(question=message.poll.question, duration=POLL_DURATION,
                            multiple=message.poll.multiple)
        for option in message.poll.options:
            poll.add_answer(text=option)
        kwargs["poll"] = poll
        return kwargs
    kwargs["embed"] = render_embed(message)
    mentioned = _mentioned(message)
    if mentioned is not None:
        # A mention inside an embed notifies nobody: it goes in the content, and only that
        # person may be notified by it.
        kwargs["content"] = f"<@{mentioned}>"
        kwargs["allowed_mentions"] = discord.AllowedMentions(
            everyone=False, users=[discord.Object(id=mentioned)], roles=False, replied_user=False)
    view = _view(message.buttons or _poll_buttons(message.poll))
    if view is not None:
        kwargs["view"] = view
    if message.attachment is not None:
        kwargs["file"] = discord.File(io.BytesIO(message.attachment.content),
                                      filename=message.attachment.filename)
    return kwargs


def render_embed(message: Outgoing) -> discord.Embed:
    """The text as an embed, markdown-escaped; the start time as Discord timestamps, which
    every viewer sees in their own zone."""
    when = ""
    if message.starts_at is not None:
        unix = int(message.starts_at.timestamp())
        when = f"\n\n🕒 <t:{unix}:F> (<t:{unix}:R>)"
    text = discord.utils.escape_markdown(message.text)
    room = EMBED_LIMIT - len(when)
    if len(text) > room:
        text = text[: room - 1] + "…"
    return discord.Embed(description=text + when, colour=EMBED_COLOUR)


def _poll_buttons(poll: PollSpec | None) -> tuple[tuple[Button, ...], ...]:
    """Buttons for a poll Discord cannot hold natively, when the core sent none: the core
    asked for "a poll with these options", and on Discord that is buttons carrying the
    core's vote ids (``poll:<id>:vote:<n>``, 1-based as ``/vote N``)."""
    if poll is None:
        return ()
    buttons = [Button(f"{n}. {option}"[:BUTTON_LABEL_LIMIT], f"poll:{poll.poll_id}:vote:{n}")
               for n, option in enumerate(poll.options, 1)]
    return tuple(tuple(buttons[i:i + MAX_PER_ROW]) for i in range(0, len(buttons), MAX_PER_ROW))


def _view(buttons: tuple[tuple[Button, ...], ...]) -> discord.ui.View | None:
    if not buttons:
        return None
    if len(buttons) > MAX_ROWS:  # Discord has 5 rows of 5: pack the buttons, keeping their order
        flat = [b for row in buttons for b in row]
        buttons = tuple(tuple(flat[i:i + MAX_PER_ROW]) for i in range(0, len(flat), MAX_PER_ROW))
    view = _StatelessView()
    for row_index, row in enumerate(buttons[:MAX_ROWS]):
        for button in row[:MAX_PER_ROW]:
            view.add_item(discord.ui.Button(label=button.label[:BUTTON_LABEL_LIMIT], custom_id=button.action,
                                            style=discord.ButtonStyle.secondary, row=row_index))
    return view


def _delivery_error(exc: discord.HTTPException, message: Outgoing) -> DeliveryFailed:
    if exc.code == CANNOT_DM and message.user is not None:
        return RecipientUnreachable(message.user.id, "Discord refused the DM (50007)")
    if exc.status == 429:  # discord.py gave up retrying
        retry_after = _retry_after(exc)
        return RateLimited(retry_after, message.destination)
    transient = exc.status >= 500
    return DeliveryFailed(f"discord refused the message: {exc.status} (code {exc.code})", transient=transient)


def _retry_after(exc: discord.HTTPException) -> float:
    header = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return float(header) if header else 1.0
    except ValueError:
        return 1.0


def _snowflake(namespaced_id: str) -> int:
    return int(namespaced_id.partition(":")[2])


def _mentioned(message: Outgoing) -> int | None:
    """The Discord user a message in a shared chat is for, if it names one."""
    if message.mention is None or message.chat is None or message.mention.user.platform != "discord":
        return None
    try:
        return _snowflake(message.mention.user.id)
    except ValueError:
        return None


def _user_ref(user: discord.User | discord.Member) -> UserRef:
    # Only new-style usernames (discriminator "0") are unique; a legacy name#1234 is not.
    unique = user.name if user.discriminator in ("0", "0000", "") else None
    return UserRef(f"discord:{user.id}", user.display_name, username=unique)


def _chat_ref(interaction: discord.Interaction[Any]) -> ChatRef:
    channel = interaction.channel
    if interaction.guild_id is None:
        return ChatRef(f"discord:{interaction.channel_id}", ChatKind.PRIVATE, None)
    return ChatRef(f"discord:{interaction.channel_id}", ChatKind.GROUP, getattr(channel, "name", None))
