"""The Discord adapter, driven through the real discord.py client against a fake Discord on
127.0.0.1 (tests/fakes/discord_api.py), with the whole core behind it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from adapters.discord import DiscordAdapter
from bot.alarms import ManualAlarms
from bot.app import FEATURES, App, open_app
from bot.clock import FakeClock
from bot.config import Config, SecretStr
from bot.errors import AdapterUnavailable, RateLimited, RecipientUnreachable
from bot.models import (
    Attachment,
    Button,
    ChatKind,
    ChatRef,
    NativePollAnswers,
    Outgoing,
    PollSpec,
    ReminderStatus,
    UserRef,
)
from bot.ports import Capability
from tests.conftest import REPO
from tests.databases import database_for
from tests.fakes.discord_api import ALICE, BOB, CAROL, CHANNEL_ID, GUILD_ID, FakeDiscord
from tests.harness import START, make_occurrence, store_occurrences

TOKEN = "MTAw.fake-discord-token.XYZ"


@dataclass
class DiscordBot:
    """The core with a real DiscordAdapter, talking to the fake Discord."""

    api: FakeDiscord
    config: Config
    clock: FakeClock
    features: tuple[ModuleType, ...]
    app: App = field(init=False)
    adapter: DiscordAdapter = field(init=False)
    _stack: contextlib.AsyncExitStack = field(init=False, default_factory=contextlib.AsyncExitStack)

    async def open(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        assert self.config.discord_token is not None
        # guild_ready_timeout: the fake sends every GUILD_CREATE at once, so don't wait 2 s for more.
        self.adapter = DiscordAdapter(self.config.discord_token.reveal(), guilds=self.config.discord_guilds,
                                      events_guild=self.config.discord_events_guild, guild_ready_timeout=0.05)
        self.app = await self._stack.enter_async_context(open_app(
            self.config, adapters=[self.adapter], clock=self.clock, alarms=ManualAlarms(self.clock),
            features=self.features))

    async def close(self) -> None:
        await self._stack.aclose()

    async def restart(self) -> None:
        await self.close()
        await self.open()


@contextlib.asynccontextmanager
async def discord_bot(tmp_path: Path, *extra_features: ModuleType, **settings: Any) -> AsyncIterator[DiscordBot]:
    async with FakeDiscord.running() as api:
        with api.patched():
            config = replace(Config(), db=database_for(tmp_path), organisers=(f"discord:{ALICE.id}",),
                             discord_token=SecretStr(TOKEN), **{"outbox_check_seconds": 0, **settings})
            bot = DiscordBot(api, config, FakeClock(START), (*FEATURES, *extra_features))
            await bot.open()
            try:
                yield bot
            finally:
                await bot.close()


def embed_text(recorded: Any) -> str:
    return "\n".join(e.get("description", "") for e in recorded.json.get("embeds", []))


async def test_subscribe_with_a_slash_command(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        api = bot.api
        await api.slash("subscribe", user=BOB, options={"event": "all"})
        followups = await api.wait_for(api.followups)
        assert "You will be reminded of every session." in embed_text(followups[0])
        # deferred first (within Discord's 3 s), then answered as a followup to that interaction
        assert api.callbacks()[0].json["type"] == 5
        subs = await bot.app.store.people.subscriptions_of(f"discord:{BOB.id}")
        assert [s.scope.value for s in subs] == ["all"]



# -- a test feature: records what the router hands it -------------------------------------------

@dataclass
class Seen:
    commands: list[tuple[str, dict[str, str], dict[str, str | bool]]] = field(default_factory=list)
    chats: list[ChatRef] = field(default_factory=list)
    extra: list[tuple[str, ...]] = field(default_factory=list)
    actions: list[tuple[str, str, list[str], str]] = field(default_factory=list)  # user, chat, parts, prefix


def recording_feature() -> tuple[ModuleType, Seen]:
    from bot.commands.router import CommandSpec, Flag, Param, ParsedCommand, Router
    from bot.context import Context

    seen = Seen()

    async def echo(ctx: Context, cmd: ParsedCommand) -> None:
        seen.commands.append((ctx.user.id, cmd.args, cmd.flags))
        seen.chats.append(ctx.chat)
        seen.extra.append(cmd.extra)
        await ctx.reply(f"echo {cmd.args.get('first', '')}")

    def recorder(prefix: str) -> Any:
        async def handle(ctx: Context, parts: list[str]) -> None:
            seen.actions.append((ctx.user.id, ctx.chat.id, parts, prefix))
            await ctx.reply(f"{prefix} {':'.join(parts)} from {ctx.user.display}")
        return handle

    def register(router: Router) -> None:
        router.add(CommandSpec(
            "echo", "Repeat the arguments.", echo,
            params=(Param("first", "The first word"), Param("rest", "Everything else", required=False, rest=True)),
            flags=(Flag("close", "When to close", takes_value=True), Flag("anonymous", "Hide names"))))
        router.add(CommandSpec("choose", "Ask a question with options.", echo,
                               params=(Param("question", "The question"),), variadic=True,
                               flags=(Flag("multi", "Several answers"),)))
        for prefix in ("poll", "q", "npoll"):
            router.action(prefix)(recorder(prefix))

    module = ModuleType("recording_feature")
    module.register = register  # type: ignore[attr-defined]
    return module, seen


# -- slash commands -----------------------------------------------------------------------------

async def test_slash_options_are_requoted_so_the_router_parses_them_as_typed(tmp_path: Path) -> None:
    feature, seen = recording_feature()
    async with discord_bot(tmp_path, feature) as bot:
        await bot.api.slash("echo", user=BOB, options={
            "first": "two words", "rest": 'say "hi" it’s O\'Brien \\ “curly”', "close": "5 m",
            "anonymous": True})
        await bot.api.wait_for(lambda: seen.commands)
        user, args, flags = seen.commands[0]
        assert user == f"discord:{BOB.id}"
        assert args == {"first": "two words", "rest": 'say "hi" it\'s O\'Brien \\ "curly"'}
        assert flags == {"close": "5 m", "anonymous": True}


async def test_variadic_commands_take_their_extra_words_as_typed(tmp_path: Path) -> None:
    feature, seen = recording_feature()
    async with discord_bot(tmp_path, feature) as bot:
        [put] = bot.api.find("PUT", r"applications/\d+/commands")
        poll = next(c for c in put.json if c["name"] == "choose")
        assert [o["name"] for o in poll["options"]] == ["question", "more", "multi"]
        assert not poll["options"][1].get("required")
        await bot.api.slash("choose", user=BOB, options={
            "question": "Which day suits?", "more": 'Monday "Tuesday morning" Wed', "multi": True})
        await bot.api.wait_for(lambda: seen.commands)
        assert seen.commands == [(f"discord:{BOB.id}", {"question": "Which day suits?"}, {"multi": True})]
        assert seen.extra == [("Monday", "Tuesday morning", "Wed")]


async def test_slash_command_in_a_dm_is_a_private_chat(tmp_path: Path) -> None:
    feature, seen = recording_feature()
    async with discord_bot(tmp_path, feature) as bot:
        await bot.api.slash("echo", user=CAROL, options={"first": "x"}, dm=True)
        followups = await bot.api.wait_for(bot.api.followups)
        assert embed_text(followups[0]) == "echo x"
        assert seen.chats == [ChatRef(f"discord:{FakeDiscord.dm_channel_id(CAROL.id)}", ChatKind.PRIVATE)]
        await bot.api.slash("echo", user=CAROL, options={"first": "y"})
        await bot.api.wait_for(lambda: len(seen.chats) == 2)
        assert seen.chats[1] == ChatRef(f"discord:{CHANNEL_ID}", ChatKind.GROUP, "general")


def localisation_keys(payload: Any) -> list[str]:
    """Every locale named in a ``*_localizations`` map anywhere in a registration payload."""
    if isinstance(payload, list):
        return [k for item in payload for k in localisation_keys(item)]
    if isinstance(payload, dict):
        keys = [k for name, value in payload.items() if name.endswith("_localizations") and value
                for k in value]
        return keys + [k for name, value in payload.items() if not name.endswith("_localizations")
                       for k in localisation_keys(value)]
    return []


async def test_registration_payload_options_autocomplete_and_english_locales_only(tmp_path: Path) -> None:
    feature, _seen = recording_feature()
    async with discord_bot(tmp_path, feature) as bot:
        [put] = bot.api.find("PUT", r"applications/\d+/commands")
        commands = {c["name"]: c for c in put.json}
        assert {"help", "subscribe", "timezone", "language", "echo"} <= set(commands)
        timezone = commands["timezone"]
        [zone] = timezone["options"]
        assert zone["name"] == "zone" and zone["type"] == 3 and zone["required"] and zone["autocomplete"]
        language, here = commands["language"]["options"]
        assert [c["value"] for c in language["choices"]] == ["en", "cy"] and not language.get("autocomplete")
        assert here["name"] == "here" and here["type"] == 5 and not here.get("required")
        assert commands["subscribe"]["options"][0]["autocomplete"]
        echo = {o["name"]: o for o in commands["echo"]["options"]}
        assert echo["first"]["required"] and not echo["rest"].get("required")
        assert echo["close"]["type"] == 3 and echo["anonymous"]["type"] == 5 and not echo["anonymous"].get("required")
        for command in put.json:
            assert 0 < len(command["description"]) <= 100
            assert set(command["description_localizations"]) == {"en-GB", "en-US"}
            assert set(command["name_localizations"]) == {"en-GB", "en-US"}
            for option in command["options"]:
                assert set(option["description_localizations"]) == {"en-GB", "en-US"}
        assert not [key for key in localisation_keys(put.json) if key not in {"en-GB", "en-US"}]  # never cy
        assert commands["timezone"]["description_localizations"]["en-GB"] == \
            "Set the time zone your times are shown in."


async def test_a_welsh_server_set_with_language_here_outranks_discords_english_locale(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        api = bot.api
        await api.slash("language", user=ALICE, options={"language": "cy", "here": True})  # Alice organises
        [set_here] = await api.wait_for(api.followups)
        assert embed_text(set_here).startswith("O hyn ymlaen, byddaf yn ysgrifennu yn y sgwrs hon")
        await api.slash("help", user=BOB, locale="en-GB")
        help_reply = (await api.wait_for(lambda: len(api.followups()) == 2 and api.followups()))[-1]
        assert embed_text(help_reply).startswith("Mae eventbot yn eich helpu")
        await api.slash("help", user=BOB, dm=True, locale="en-GB")  # his DM is not the Welsh room
        dm_reply = (await api.wait_for(lambda: len(api.followups()) == 3 and api.followups()))[-1]
        assert embed_text(dm_reply).startswith("eventbot keeps you on time")


async def test_commands_are_synced_per_guild_in_development(tmp_path: Path) -> None:
    async with discord_bot(tmp_path, discord_guilds=(GUILD_ID,)) as bot:
        assert bot.api.find("PUT", rf"applications/\d+/guilds/{GUILD_ID}/commands")
        assert not bot.api.find("PUT", r"applications/\d+/commands")


async def test_autocomplete_is_answered_with_suggestions(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        await bot.api.autocomplete("timezone", user=BOB, focused="zone", value="Europe/Lond")
        [callback] = await bot.api.wait_for(bot.api.callbacks)
        assert callback.json["type"] == 8
        assert {"name": "Europe/London", "value": "Europe/London"} in callback.json["data"]["choices"]


async def test_event_autocomplete_offers_upcoming_sessions(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        occurrence = make_occurrence("Trauma-informed practice", START + timedelta(days=1))
        await store_occurrences(bot.app, [occurrence])
        await bot.api.autocomplete("subscribe", user=BOB, focused="event", value="trauma")
        [callback] = await bot.api.wait_for(bot.api.callbacks)
        [choice] = callback.json["data"]["choices"]
        assert choice["value"] == occurrence.id and choice["name"].startswith("Trauma-informed practice")


# -- delivery -----------------------------------------------------------------------------------

async def test_reminder_goes_by_dm_with_viewer_local_timestamps(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        starts = START + timedelta(hours=2)
        delivered = await bot.app.services.messenger.send(Outgoing(
            text="Reminder: *Supervision* starts in 2 hours", user=UserRef(f"discord:{BOB.id}", "Bob"),
            kind="reminder", starts_at=starts))
        [opened] = bot.api.find("POST", "users/@me/channels")
        assert opened.json == {"recipient_id": BOB.id}
        [sent] = bot.api.channel_messages(FakeDiscord.dm_channel_id(BOB.id))
        text = embed_text(sent)
        unix = int(starts.timestamp())
        assert f"<t:{unix}:F>" in text and f"<t:{unix}:R>" in text
        assert "\\*Supervision\\*" in text  # user text is markdown-escaped
        assert sent.json["allowed_mentions"] == {"parse": []}
        assert delivered.message_id is not None


async def test_the_dispatcher_reminds_by_dm_and_a_refused_dm_falls_back_to_the_channel(tmp_path: Path) -> None:
    session = make_occurrence("Reflective supervision", START + timedelta(hours=2))
    async with discord_bot(tmp_path, offsets=(timedelta(minutes=15),)) as bot:
        api = bot.api
        await store_occurrences(bot.app, [session])
        for person in (BOB, CAROL):
            await api.slash("subscribe", user=person, options={"event": "all"})  # in the guild channel
        await api.wait_for(lambda: len(api.followups()) == 2)
        api.refuse_dms.add(CAROL.id)
        alarms = bot.app.services.alarms
        assert isinstance(alarms, ManualAlarms)
        await alarms.advance(timedelta(hours=2))

        [dm] = await api.wait_for(lambda: api.channel_messages(FakeDiscord.dm_channel_id(BOB.id)))
        unix = int(session.start.timestamp())
        assert "Reflective supervision" in embed_text(dm)
        assert f"<t:{unix}:F>" in embed_text(dm) and f"<t:{unix}:R>" in embed_text(dm)

        def in_channel() -> list[Any]:
            return [m for m in api.channel_messages(CHANNEL_ID) if m.json.get("embeds")][-2:]

        notice, reminder = await api.wait_for(lambda: len(in_channel()) == 2 and in_channel())
        assert embed_text(notice).startswith("Carol, I could not send you a private reminder")
        assert embed_text(reminder).startswith("Carol: ⏰ “Reflective supervision”")
        assert f"<t:{unix}:R>" in embed_text(reminder)
        # Both reach Carol: a mention in the content (one in an embed notifies nobody), and
        # the message may notify her and nobody else.
        for message in (notice, reminder):
            assert message.json["content"] == f"<@{CAROL.id}>"
            assert message.json["allowed_mentions"] == {"parse": [], "users": [CAROL.id]}
        assert not dm.json.get("content") and dm.json["allowed_mentions"] == {"parse": []}
        assert not api.channel_messages(FakeDiscord.dm_channel_id(CAROL.id))
        counts = await bot.app.store.reminders.counts()
        assert (counts["sent"], counts["failed"]) == (2, 0)


async def test_refused_dm_is_recipient_unreachable(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        bot.api.refuse_dms.add(CAROL.id)
        with pytest.raises(RecipientUnreachable) as caught:
            await bot.adapter.send(Outgoing(text="Reminder", user=UserRef(f"discord:{CAROL.id}"),
                                            kind="reminder", starts_at=START))
        assert caught.value.recipient == f"discord:{CAROL.id}"
        assert not bot.api.channel_messages()
        # the shared channel still works, for whoever decides to fall back to it
        await bot.adapter.send(Outgoing(text="Carol could not be reached by DM",
                                        chat=ChatRef(f"discord:{CHANNEL_ID}")))
        assert bot.api.channel_messages(CHANNEL_ID)


async def test_a_429_becomes_rate_limited_and_nothing_is_sent_twice(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        bot.api.fail_next("POST", rf"channels/{CHANNEL_ID}/messages", 429,
                          {"message": "You are being rate limited.", "retry_after": 42.5, "global": False},
                          {"Via": "1.1 google", "Retry-After": "43"})
        room = ChatRef(f"discord:{CHANNEL_ID}")
        with pytest.raises(RateLimited) as caught:
            await bot.adapter.send(Outgoing(text="Poll closes soon", chat=room))
        assert caught.value.retry_after == 42.5
        assert len(bot.api.find("POST", rf"channels/{CHANNEL_ID}/messages", ok_only=False)) == 1
        assert not bot.api.channel_messages(CHANNEL_ID)
        await bot.adapter.send(Outgoing(text="Poll closes soon", chat=room))
        assert len(bot.api.channel_messages(CHANNEL_ID)) == 1


async def test_per_route_buckets_from_the_headers_are_respected(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        # Discord announces 2 messages per 0.2 s for this channel and refuses a third with a 429.
        bucket = bot.api.limit_route("POST", rf"channels/{CHANNEL_ID}/messages", limit=2, window=0.2)
        room = ChatRef(f"discord:{CHANNEL_ID}")
        await asyncio.gather(*(bot.adapter.send(Outgoing(text=f"Update {n}", chat=room)) for n in range(6)))
        sent = bot.api.find("POST", rf"channels/{CHANNEL_ID}/messages", ok_only=False)
        # discord.py read the bucket from the headers and waited for it: nothing was refused
        assert [r.status for r in sent] == [200] * 6 and bucket.refused == 0
        assert sorted(embed_text(r) for r in sent) == [f"Update {n}" for n in range(6)]


async def test_a_429_on_a_reminder_dm_is_waited_out_by_the_dispatcher_and_sent_once(tmp_path: Path) -> None:
    session = make_occurrence("Reflective supervision", START + timedelta(hours=2))
    async with discord_bot(tmp_path, offsets=(timedelta(minutes=15),)) as bot:
        api = bot.api
        await store_occurrences(bot.app, [session])
        await api.slash("subscribe", user=BOB, options={"event": "all"})
        await api.wait_for(api.followups)
        dm = FakeDiscord.dm_channel_id(BOB.id)
        # longer than discord.py waits out by itself (MAX_RATELIMIT_WAIT), so it is ours to honour
        api.fail_next("POST", rf"channels/{dm}/messages", 429,
                      {"message": "You are being rate limited.", "retry_after": 42.5, "global": False},
                      {"Via": "1.1 google", "Retry-After": "43"})
        alarms = bot.app.services.alarms
        assert isinstance(alarms, ManualAlarms)
        await alarms.advance(timedelta(hours=2))
        [refused, delivered] = await api.wait_for(
            lambda: len(attempts := api.find("POST", rf"channels/{dm}/messages", ok_only=False)) == 2 and attempts)
        assert (refused.status, delivered.status) == (429, 200)
        assert "Reflective supervision" in embed_text(delivered)
        [sent] = await bot.app.store.reminders.find(ReminderStatus.SENT)
        # Discord said 42.5 s: the retry came no sooner, and still before the session started
        assert sent.sent_at is not None and sent.sent_at >= sent.due - timedelta(seconds=5) + timedelta(seconds=42)
        assert sent.sent_at < session.start


def test_the_adapter_declares_its_limits_and_capabilities() -> None:
    assert DiscordAdapter.limits.global_per_second == 50
    assert DiscordAdapter.limits.per_chat_per_second is not None
    assert {Capability.BUTTONS, Capability.NATIVE_POLLS, Capability.DIRECT_MESSAGES,
            Capability.FILES, Capability.IMAGES} <= DiscordAdapter.capabilities


async def test_attachments_go_as_files(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        await bot.adapter.send(Outgoing(
            text="Your certificate", user=UserRef(f"discord:{BOB.id}"),
            attachment=Attachment("certificate.txt", b"CPD: 1.5 hours", "text/plain")))
        [sent] = bot.api.channel_messages(FakeDiscord.dm_channel_id(BOB.id))
        assert sent.files == {"certificate.txt": b"CPD: 1.5 hours"}
        assert sent.json["attachments"][0]["filename"] == "certificate.txt"


# -- buttons ------------------------------------------------------------------------------------

def custom_ids(recorded: Any) -> list[str]:
    return [c["custom_id"] for row in recorded.json["components"] for c in row["components"]]


async def test_a_poll_voted_with_buttons_by_three_users(tmp_path: Path) -> None:
    feature, seen = recording_feature()
    async with discord_bot(tmp_path, feature) as bot:
        room = ChatRef(f"discord:{CHANNEL_ID}")
        buttons = tuple((Button(f"{n}. {label}", f"poll:7:vote:{n}"),)
                        for n, label in enumerate(["Yes", "No", "Not sure"], start=1))
        await bot.adapter.send(Outgoing(text="Was this useful?", chat=room, buttons=buttons, kind="poll"))
        [sent] = bot.api.channel_messages(CHANNEL_ID)
        assert custom_ids(sent) == ["poll:7:vote:1", "poll:7:vote:2", "poll:7:vote:3"]
        for person, choice in ((ALICE, 1), (BOB, 2), (CAROL, 1)):
            await bot.api.press(f"poll:7:vote:{choice}", user=person)
        await bot.api.wait_for(lambda: len(seen.actions) == 3)
        assert sorted(seen.actions) == sorted([
            (f"discord:{ALICE.id}", f"discord:{CHANNEL_ID}", ["7", "vote", "1"], "poll"),
            (f"discord:{BOB.id}", f"discord:{CHANNEL_ID}", ["7", "vote", "2"], "poll"),
            (f"discord:{CAROL.id}", f"discord:{CHANNEL_ID}", ["7", "vote", "1"], "poll"),
        ])
        # each press is acknowledged at once (deferred update) and answered as a followup
        callbacks = await bot.api.wait_for(lambda: len(bot.api.callbacks()) == 3 and bot.api.callbacks())
        assert {c.json["type"] for c in callbacks} == {6}
        followups = await bot.api.wait_for(lambda: len(bot.api.followups()) == 3 and bot.api.followups())
        assert sorted(embed_text(f) for f in followups) == ["poll 7:vote:1 from Alice", "poll 7:vote:1 from Carol",
                                                           "poll 7:vote:2 from Bob"]


async def test_more_than_five_rows_of_buttons_are_packed(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        buttons = tuple((Button(f"{n}. Option", f"poll:3:vote:{n}"),) for n in range(1, 9))
        await bot.adapter.send(Outgoing(text="Pick", chat=ChatRef(f"discord:{CHANNEL_ID}"), buttons=buttons))
        [sent] = bot.api.channel_messages(CHANNEL_ID)
        assert [len(row["components"]) for row in sent.json["components"]] == [5, 3]
        assert custom_ids(sent) == [f"poll:3:vote:{n}" for n in range(1, 9)]


async def test_a_poll_too_big_for_discord_without_buttons_gets_vote_buttons(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        options = tuple(f"Option {n}" for n in range(1, 12))
        delivered = await bot.adapter.send(Outgoing(
            text="Pick one", chat=ChatRef(f"discord:{CHANNEL_ID}"),
            poll=PollSpec(poll_id=4, question="Pick one", options=options)))
        [sent] = bot.api.channel_messages(CHANNEL_ID)
        assert "poll" not in sent.json and delivered.poll_ref is None
        assert custom_ids(sent) == [f"poll:4:vote:{n}" for n in range(1, 12)]


async def test_a_question_upvote(tmp_path: Path) -> None:
    feature, seen = recording_feature()
    async with discord_bot(tmp_path, feature) as bot:
        await bot.adapter.send(Outgoing(text="Q3: How do we record consent?", chat=ChatRef(f"discord:{CHANNEL_ID}"),
                                        buttons=((Button("👍 3", "q:12:up"),),)))
        assert custom_ids(bot.api.channel_messages(CHANNEL_ID)[0]) == ["q:12:up"]
        await bot.api.press("q:12:up", user=BOB)
        await bot.api.wait_for(lambda: seen.actions)
        assert seen.actions == [(f"discord:{BOB.id}", f"discord:{CHANNEL_ID}", ["12", "up"], "q")]


async def test_buttons_still_work_after_a_restart(tmp_path: Path) -> None:
    feature, seen = recording_feature()
    async with discord_bot(tmp_path, feature) as bot:
        await bot.adapter.send(Outgoing(text="Was this useful?", chat=ChatRef(f"discord:{CHANNEL_ID}"),
                                        buttons=((Button("Yes", "poll:9:vote:1"),),)))
        [sent] = bot.api.channel_messages(CHANNEL_ID)
        old_client = bot.adapter.client
        await bot.restart()
        assert bot.adapter.client is not old_client and len(bot.api.identifies) == 2
        await bot.api.press(custom_ids(sent)[0], user=CAROL)
        await bot.api.wait_for(lambda: seen.actions)
        assert seen.actions == [(f"discord:{CAROL.id}", f"discord:{CHANNEL_ID}", ["9", "vote", "1"], "poll")]


# -- native polls -------------------------------------------------------------------------------

async def test_native_poll_votes_become_npoll_actions(tmp_path: Path) -> None:
    feature, seen = recording_feature()
    async with discord_bot(tmp_path, feature) as bot:
        room = ChatRef(f"discord:{CHANNEL_ID}")
        delivered = await bot.adapter.send(Outgoing(
            text="Which topic next?\n1. Consent\n2. Risk", chat=room, kind="poll",
            poll=PollSpec(poll_id=5, question="Which topic next?", options=("Consent", "Risk", "Ethics"),
                          multiple=True),
            buttons=((Button("1. Consent", "poll:5:vote:1"),),)))
        [sent] = bot.api.channel_messages(CHANNEL_ID)
        assert sent.json["poll"]["question"] == {"text": "Which topic next?"}
        assert [a["poll_media"]["text"] for a in sent.json["poll"]["answers"]] == ["Consent", "Risk", "Ethics"]
        assert sent.json["poll"]["allow_multiselect"] is True and not sent.json.get("components")
        assert delivered.poll_ref == delivered.message_id
        message_id = int(delivered.message_id or 0)
        await bot.api.poll_vote(user=BOB, message_id=message_id, answer_id=1)
        await bot.api.poll_vote(user=BOB, message_id=message_id, answer_id=3)
        await bot.api.poll_vote(user=BOB, message_id=message_id, answer_id=1, add=False)
        await bot.api.poll_vote(user=BOB, message_id=message_id, answer_id=3, add=False)
        await bot.api.wait_for(lambda: len(seen.actions) == 4)
        assert [a[2] for a in seen.actions[:4]] == [[str(message_id), "0"], [str(message_id), "0,2"],
                                                [str(message_id), "2"], [str(message_id), ""]]
        assert {a[0] for a in seen.actions[:4]} == {f"discord:{BOB.id}"}
        # after a restart, a multiple-choice vote is read back from Discord, then followed
        await bot.api.poll_vote(user=CAROL, message_id=message_id, answer_id=2)
        await bot.api.wait_for(lambda: len(seen.actions) == 5)
        await bot.restart()
        await bot.api.poll_vote(user=CAROL, message_id=message_id, answer_id=3)
        await bot.api.wait_for(lambda: len(seen.actions) == 6)
        assert seen.actions[-1][:3] == (f"discord:{CAROL.id}", f"discord:{CHANNEL_ID}", [str(message_id), "1,2"])
        assert bot.api.find("GET", rf"channels/{CHANNEL_ID}/polls/{message_id}/answers/2")
        await bot.api.poll_vote(user=CAROL, message_id=message_id, answer_id=2, add=False)
        await bot.api.wait_for(lambda: len(seen.actions) == 7)
        assert seen.actions[-1][2] == [str(message_id), "2"]
        final = await bot.adapter.end_poll(room.id, str(message_id))
        assert bot.api.find("POST", rf"channels/{CHANNEL_ID}/polls/{message_id}/expire")
        assert final == NativePollAnswers(votes=(0, 0, 1), voters=1, by_option=((), (), (f"discord:{CAROL.id}",)))
        # ending it again (another process did it first) reads the same answers
        assert await bot.adapter.end_poll(room.id, str(message_id)) == final


async def test_single_choice_native_poll_after_a_restart(tmp_path: Path) -> None:
    feature, seen = recording_feature()
    async with discord_bot(tmp_path, feature) as bot:
        delivered = await bot.adapter.send(Outgoing(
            text="Ready?", chat=ChatRef(f"discord:{CHANNEL_ID}"),
            poll=PollSpec(poll_id=8, question="Ready?", options=("Yes", "No"))))
        message_id = int(delivered.message_id or 0)
        await bot.restart()
        await bot.api.poll_vote(user=ALICE, message_id=message_id, answer_id=1, add=False)
        await bot.api.poll_vote(user=ALICE, message_id=message_id, answer_id=2)
        await bot.api.wait_for(lambda: len(seen.actions) == 2)
        assert [a[2] for a in seen.actions] == [[str(message_id), ""], [str(message_id), "1"]]
        assert not bot.api.find("GET", r"channels/\d+/polls/.*")  # one message read; no voter lists


async def test_polls_beyond_discord_limits_use_buttons(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as bot:
        long_option = "An option far longer than the fifty-five characters Discord allows"
        delivered = await bot.adapter.send(Outgoing(
            text="Pick one", chat=ChatRef(f"discord:{CHANNEL_ID}"),
            poll=PollSpec(poll_id=6, question="Pick one", options=("Short", long_option)),
            buttons=((Button("1. Short", "poll:6:vote:1"), Button("2. Long", "poll:6:vote:2")),)))
        [sent] = bot.api.channel_messages(CHANNEL_ID)
        assert "poll" not in sent.json and custom_ids(sent) == ["poll:6:vote:1", "poll:6:vote:2"]
        assert delivered.poll_ref is None


# -- secrets and packaging -----------------------------------------------------------------------

async def test_the_token_never_reaches_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    feature, _seen = recording_feature()
    async with discord_bot(tmp_path, feature, log_level="DEBUG") as bot:
        await bot.api.slash("echo", user=BOB, options={"first": "x"})
        await bot.api.wait_for(bot.api.followups)
        logging.getLogger("test").info("config %r %s adapter %r", bot.config, bot.config.discord_token, bot.adapter)
    assert caplog.records
    assert TOKEN not in caplog.text
    assert all(TOKEN not in str(r.args) for r in caplog.records)


def test_missing_sdk_is_adapter_unavailable_at_start_up() -> None:
    code = (
        "import sys; sys.modules['discord'] = None\n"
        "from adapters.discord import DiscordAdapter\n"
        "from bot.config import Config, SecretStr\n"
        "from bot.errors import AdapterUnavailable\n"
        "assert 'discord' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "try:\n"
        "    DiscordAdapter.from_config(Config(discord_token=SecretStr('t')))\n"
        "except AdapterUnavailable as exc:\n"
        "    print('unavailable:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "install eventbot[discord]" in done.stdout


def test_from_config_reads_the_token_and_guilds() -> None:
    with pytest.raises(AdapterUnavailable):
        DiscordAdapter.from_config(Config())
    adapter = DiscordAdapter.from_config(replace(Config(), discord_token=SecretStr(TOKEN), discord_guilds=(1, 2)))
    assert TOKEN not in repr(adapter) and adapter.name == "discord"


def test_the_documented_invite_matches_the_permissions_the_adapter_needs() -> None:
    from adapters.discord.invite import invite_url, required_permissions

    doc = (REPO / "README.md").read_text(encoding="utf-8")
    assert invite_url(1).replace("client_id=1", "client_id=APPLICATION_ID") in doc
    assert f"`{required_permissions(scheduled_events=True).value}`" in doc
    assert required_permissions().send_polls and not required_permissions().manage_events


async def test_a_reply_whose_interaction_is_gone_goes_to_the_channel(tmp_path: Path) -> None:
    feature, _seen = recording_feature()
    async with discord_bot(tmp_path, feature) as bot:
        bot.api.fail_next("POST", r"webhooks/\d+/[^/]+", 404, {"code": 10015, "message": "Unknown Webhook"})
        await bot.api.slash("echo", user=BOB, options={"first": "hello"})
        [sent] = await bot.api.wait_for(lambda: bot.api.channel_messages(CHANNEL_ID))
        assert embed_text(sent) == "echo hello"


# -- Scheduled Events mirror ---------------------------------------------------------------------

def mirrored(api: FakeDiscord) -> dict[str, dict[str, Any]]:
    """The bot's scheduled events by the occurrence id their description ends with."""
    return {e["description"].rsplit("/subscribe ", 1)[1]: e for e in api.scheduled_events.values()
            if int(e["creator_id"]) != ALICE.id}


async def test_scheduled_events_mirror_follows_the_programme(tmp_path: Path) -> None:
    from bot.mirror import mirror_now

    async with discord_bot(tmp_path, discord_events_guild=GUILD_ID) as bot:
        api, services = bot.api, bot.app.services
        by_hand = api.add_scheduled_event("Coffee", creator_id=ALICE.id)
        supervision = make_occurrence("Supervision", START + timedelta(days=1), url="https://meet.example/s",
                                      description="Reflective *supervision*", facilitator="Dr Jones")
        ethics = make_occurrence("Ethics", START + timedelta(days=2), location="Cardiff")
        started = make_occurrence("Already on", START - timedelta(minutes=10))
        await store_occurrences(bot.app, [supervision, ethics, started])

        assert await mirror_now(services) == 3
        events = mirrored(api)
        assert set(events) == {supervision.id, ethics.id}  # a session already on can't be created
        event = events[supervision.id]
        assert event["name"] == "Supervision" and event["entity_type"] == 3 and event["privacy_level"] == 2
        assert event["entity_metadata"] == {"location": "https://meet.example/s"}
        assert event["scheduled_start_time"] == supervision.start.isoformat()
        assert event["description"] == f"Dr Jones\nReflective *supervision*\n\n/subscribe {supervision.id}"

        # the feed moves one session and cancels the other
        from bot.models import EventStatus
        moved = replace(supervision, title="Group supervision", start=supervision.start + timedelta(hours=1),
                        end=supervision.end + timedelta(hours=1))
        await store_occurrences(bot.app, [moved, replace(ethics, status=EventStatus.CANCELLED)])
        requests_before = len(api.requests)
        await mirror_now(services)
        events = mirrored(api)
        assert set(events) == {supervision.id}
        assert events[supervision.id]["name"] == "Group supervision"
        assert events[supervision.id]["scheduled_start_time"] == moved.start.isoformat()
        assert len(api.find("PATCH", r"guilds/\d+/scheduled-events/\d+")) == 1
        assert len(api.find("DELETE", r"guilds/\d+/scheduled-events/\d+")) == 1
        assert len(api.requests) - requests_before == 3  # list, one update, one delete

        # nothing changed: only the listing; the event made by hand is never touched
        requests_before = len(api.requests)
        await mirror_now(services)
        assert [r.method for r in api.requests[requests_before:]] == ["GET"]
        assert by_hand in api.scheduled_events


async def test_scheduled_events_mirror_runs_on_its_alarm_and_keeps_to_100(tmp_path: Path) -> None:
    async with discord_bot(tmp_path, discord_events_guild=GUILD_ID) as bot:
        await store_occurrences(bot.app, [make_occurrence(f"Session {n}", START + timedelta(hours=n + 1),
                                                          id=f"m{n:05d}", series_id=f"sm{n:05d}")
                                          for n in range(105)])
        alarms = bot.app.services.alarms
        assert isinstance(alarms, ManualAlarms)
        await alarms.advance(timedelta(minutes=2))
        events = mirrored(bot.api)
        assert len(events) == 100
        assert "Session 0" in {e["name"] for e in events.values()}
        assert "Session 104" not in {e["name"] for e in events.values()}


async def test_without_an_events_guild_nothing_is_mirrored(tmp_path: Path) -> None:
    from bot.mirror import mirror_now

    async with discord_bot(tmp_path) as bot:
        await store_occurrences(bot.app, [make_occurrence("Supervision", START + timedelta(days=1))])
        await mirror_now(bot.app.services)
        assert not bot.api.find("GET", r"guilds/\d+/scheduled-events")


async def test_a_refused_token_is_adapter_unavailable(tmp_path: Path) -> None:
    async with FakeDiscord.running() as api:
        with api.patched():
            api.fail_next("GET", "users/@me", 401, {"code": 0, "message": "401: Unauthorized"})
            adapter = DiscordAdapter(TOKEN, guild_ready_timeout=0.05)

            async def ignore(incoming: Any) -> None:
                return None

            with pytest.raises(AdapterUnavailable, match="token was refused"):
                await adapter.start(ignore)
            assert not api.identifies


async def test_sending_before_start_is_a_transient_failure() -> None:
    from bot.errors import DeliveryFailed

    adapter = DiscordAdapter(TOKEN)
    with pytest.raises(DeliveryFailed) as caught:
        await adapter.send(Outgoing(text="hi", chat=ChatRef(f"discord:{CHANNEL_ID}")))
    assert caught.value.transient
