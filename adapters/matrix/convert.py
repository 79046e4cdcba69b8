"""Matrix event content to ``bot.models`` and back: commands, HTML bodies, polls (MSC3381).

Pure functions over the JSON of events, so they need neither a homeserver nor matrix-nio.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.models import Attachment, Mention, NativePollAnswers, PollSpec

PREFIX = "matrix:"

# MSC3381 polls, under the names the spec gives them and those Element still reads.
POLL_START = ("m.poll.start", "org.matrix.msc3381.poll.start")
POLL_RESPONSE = ("m.poll.response", "org.matrix.msc3381.poll.response")
POLL_END = ("m.poll.end", "org.matrix.msc3381.poll.end")
TEXT_UNSTABLE = "org.matrix.msc1767.text"
KIND_DISCLOSED = ("m.disclosed", "org.matrix.msc3381.poll.disclosed")

_COMMAND = re.compile(r"[!/](?=[A-Za-z])")
_MODIFIERS = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")


def user_id_of(namespaced: str) -> str:
    """``matrix:@alice:example.org`` -> ``@alice:example.org``.

    Raises:
        ValueError: Not a Matrix user id.
    """
    prefix, _, raw = namespaced.partition(":")
    if prefix != "matrix" or not raw.startswith("@") or ":" not in raw:
        raise ValueError(f"not a Matrix user id: {namespaced!r}")
    return raw


def room_id_of(namespaced: str) -> str:
    """``matrix:!room:example.org`` -> ``!room:example.org``.

    Raises:
        ValueError: Not a Matrix room id.
    """
    prefix, _, raw = namespaced.partition(":")
    # Room ids of room version 12 and later name no server (``!abc…``), older ones do.
    if prefix != "matrix" or not raw.startswith("!") or len(raw) < 2:
        raise ValueError(f"not a Matrix room id: {namespaced!r}")
    return raw


def strip_reply_fallback(body: str) -> str:
    """A reply's body starts with the quoted message (``> <@x:y> …`` lines, then a blank line)."""
    if not body.startswith("> "):
        return body
    lines = body.split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    return "\n".join(lines[index:]).lstrip("\n")


def command_text(body: str, *, bot_user_id: str, bot_names: Iterable[str], mentioned: bool) -> str:
    """What the core should read in a message's body.

    ``!events`` is ``/events`` (Element keeps unknown ``/commands`` for itself); a message that
    starts by naming the bot (``@eventbot: events``, ``EventBot, events``, or a pill whose
    ``m.mentions`` names it) is a command too. Anything else comes back as written.
    """
    text = body.strip()
    names = sorted({bot_user_id, bot_user_id.partition(":")[0], *(n for n in bot_names if n)},
                   key=len, reverse=True)
    lowered = text.casefold()
    for name in names:
        if lowered.startswith(name.casefold()):
            rest = text[len(name):]
            if rest[:1] in (":", ",") or (mentioned and rest[:1] in (" ", "")):
                rest = rest[1:].strip() if rest[:1] in (":", ",") else rest.strip()
                if not rest:
                    return "/help"
                return "/" + (rest[1:] if rest[0] in "/!" else rest)
            break
    if _COMMAND.match(text) and text[0] == "!":
        return "/" + text[1:]
    return text


def as_typed_here(text: str, commands: frozenset[str]) -> str:
    """The core writes commands as ``/name``; Element takes ``/name`` for a command of its own
    and refuses to send it, so here they are written as people must type them: ``!name``.
    Only the bot's own commands, each where a command can start (not inside an address)."""
    return _command_slash(commands).sub("!", text) if commands else text


@functools.lru_cache(maxsize=4)
def _command_slash(commands: frozenset[str]) -> re.Pattern[str]:
    names = "|".join(map(re.escape, sorted(commands, key=len, reverse=True)))
    return re.compile(r"(?<![\w/.:@#%&=?~-])/(?=(?:" + names + r")\b)")


def html_body(text: str, mention: Mention | None = None, mention_user: str | None = None) -> str:
    """The plain text as HTML: escaped, line breaks kept, a mention as a matrix.to pill."""
    if mention is not None and mention_user is not None:
        before, name, after = (text[:mention.start], mention.name_in(text),
                               text[mention.start + mention.length:])
        pill = f'<a href="https://matrix.to/#/{html.escape(mention_user)}">{html.escape(name)}</a>'
        escaped = html.escape(before) + pill + html.escape(after)
    else:
        escaped = html.escape(text)
    return escaped.replace("\n", "<br>")


def message_content(text: str, *, mention: Mention | None = None, mention_user: str | None = None,
                    reply_to: str | None = None, thread: str | None = None) -> dict[str, Any]:
    """An ``m.room.message``: plain ``body``, HTML ``formatted_body``, intentional mentions
    (nobody is pinged by a name that happens to be in the text), threaded to ``reply_to``."""
    content: dict[str, Any] = {
        "msgtype": "m.text", "body": text, "format": "org.matrix.custom.html",
        "formatted_body": html_body(text, mention, mention_user),
        "m.mentions": {"user_ids": [mention_user]} if mention_user else {},
    }
    relates = relation(reply_to, thread)
    if relates:
        content["m.relates_to"] = relates
    return content


def media_content(content: dict[str, Any], attachment: Attachment, url: str) -> dict[str, Any]:
    """A text message (``message_content``) as a file or image message that carries it: the
    text is the caption (``body`` beside a ``filename``, Matrix 1.10), so text and file arrive
    as one event and a retry cannot leave one without the other."""
    image = attachment.mime_type.startswith("image/") and attachment.mime_type != "image/svg+xml"
    return {**content, "msgtype": "m.image" if image else "m.file", "filename": attachment.filename, "url": url,
            "info": {"mimetype": attachment.mime_type, "size": len(attachment.content)}}


def relation(reply_to: str | None, thread: str | None) -> dict[str, Any]:
    if thread:
        return {"rel_type": "m.thread", "event_id": thread, "is_falling_back": True,
                "m.in_reply_to": {"event_id": reply_to or thread}}
    if reply_to:
        return {"m.in_reply_to": {"event_id": reply_to}}
    return {}


def poll_start_content(poll: PollSpec, fallback: str) -> dict[str, Any]:
    """An MSC3381 poll, in the stable form and the unstable one Element reads; answer ids
    are the 1-based option numbers. Results are disclosed as votes come (Matrix shows who
    voted anyway, which is why anonymous polls never come here)."""
    answers = [(str(n), option) for n, option in enumerate(poll.options, 1)]
    max_selections = len(poll.options) if poll.multiple else 1
    return {
        "m.poll": {
            "kind": KIND_DISCLOSED[0], "max_selections": max_selections,
            "question": {"m.text": [{"body": poll.question}]},
            "answers": [{"m.id": i, "m.text": [{"body": text}]} for i, text in answers],
        },
        "m.text": [{"body": fallback}],
        POLL_START[1]: {
            "kind": KIND_DISCLOSED[1], "max_selections": max_selections,
            "question": {TEXT_UNSTABLE: poll.question, "body": poll.question},
            "answers": [{"id": i, TEXT_UNSTABLE: text} for i, text in answers],
        },
        TEXT_UNSTABLE: fallback,
        "body": fallback,
    }


def poll_end_content(poll_event_id: str, text: str) -> dict[str, Any]:
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        "m.text": [{"body": text}],
        POLL_END[1]: {},
        TEXT_UNSTABLE: text,
        "body": text,
    }


def poll_of_start(content: Mapping[str, Any]) -> tuple[list[str], int] | None:
    """The answer ids and max selections of an ``m.poll.start``'s content, either form."""
    stable = content.get("m.poll")
    if isinstance(stable, dict):
        ids = [str(a.get("m.id")) for a in stable.get("answers", ()) if isinstance(a, dict)]
        return ids, _int(stable.get("max_selections"), 1)
    unstable = content.get(POLL_START[1])
    if isinstance(unstable, dict):
        ids = [str(a.get("id")) for a in unstable.get("answers", ()) if isinstance(a, dict)]
        return ids, _int(unstable.get("max_selections"), 1)
    return None


def response_selections(content: Mapping[str, Any]) -> list[str] | None:
    """The answer ids an ``m.poll.response`` picks (either form); None if it names none at all."""
    stable = content.get("m.selections")
    if isinstance(stable, list):
        return [str(s) for s in stable]
    unstable = content.get(POLL_RESPONSE[1])
    if isinstance(unstable, dict) and isinstance(unstable.get("answers"), list):
        return [str(s) for s in unstable["answers"]]
    return None


def referenced_event(content: Mapping[str, Any]) -> str | None:
    relates = content.get("m.relates_to")
    if isinstance(relates, dict) and relates.get("rel_type") == "m.reference":
        event_id = relates.get("event_id")
        return event_id if isinstance(event_id, str) else None
    return None


def chosen_indexes(selections: Sequence[str], answer_ids: Sequence[str], max_selections: int) -> list[int]:
    """0-based options of a response as MSC3381 counts it: the first ``max_selections`` of
    its answers; a response naming an answer the poll lacks is spoiled (it counts as none)."""
    picked = list(dict.fromkeys(selections))[:max(1, max_selections)]
    if any(s not in answer_ids for s in picked):
        return []
    return sorted(answer_ids.index(s) for s in picked)


def tally_responses(responses: Iterable[Mapping[str, Any]], answer_ids: Sequence[str], max_selections: int,
                    *, until_ts: int | None = None) -> NativePollAnswers:
    """The answers a poll holds: each person's latest response (by server time) before the
    poll's end counts, as every Matrix client counts them."""
    latest: dict[str, tuple[int, list[int]]] = {}
    for event in responses:
        sender, ts = event.get("sender"), _int(event.get("origin_server_ts"), 0)
        selections = response_selections(event.get("content") or {})
        if not isinstance(sender, str) or selections is None:
            continue
        if until_ts is not None and ts > until_ts:
            continue
        if sender not in latest or latest[sender][0] <= ts:
            latest[sender] = (ts, chosen_indexes(selections, answer_ids, max_selections))
    by_option: list[list[str]] = [[] for _ in answer_ids]
    for sender, (_ts, chosen) in sorted(latest.items()):
        for index in chosen:
            by_option[index].append(PREFIX + sender)
    return NativePollAnswers(votes=tuple(len(v) for v in by_option),
                             voters=sum(1 for _ts, chosen in latest.values() if chosen),
                             by_option=tuple(tuple(v) for v in by_option))


def reaction_key(key: str) -> str:
    """A reaction's emoji without skin tones or presentation selectors (👍🏽 is 👍)."""
    return _MODIFIERS.sub("", key).strip()


def reaction_buttons(rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    """Buttons as reactions: the emoji each label starts with, to its action. An emoji two
    buttons share would be ambiguous, so it is dropped (the text says how to do it instead)."""
    found: dict[str, str | None] = {}
    for row in rows:
        for button in row:
            emoji = reaction_key(str(button.label).split(" ", 1)[0])
            if not emoji or emoji.isalnum():
                continue
            found[emoji] = None if emoji in found else str(button.action)
    return {emoji: action for emoji, action in found.items() if action is not None}


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
