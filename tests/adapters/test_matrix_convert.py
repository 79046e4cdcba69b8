"""Matrix event content to the core's terms and back, without a homeserver."""

from __future__ import annotations

import pytest

from adapters.matrix import convert
from bot.models import Attachment, Button, Mention, PollSpec, UserRef

BOT = "@eventbot:example.org"


@pytest.mark.parametrize(("body", "mentioned", "expected"), [
    ("!events", False, "/events"),
    ("/events today", False, "/events today"),
    ("@eventbot:example.org: events", False, "/events"),
    ("EventBot: subscribe all", False, "/subscribe all"),
    ("eventbot, !vote 2", False, "/vote 2"),
    ("EventBot events", True, "/events"),  # a pill: m.mentions names the bot
    ("EventBot events", False, "EventBot events"),  # a name in passing is not a command
    ("EventBot:", False, "/help"),
    ("! not a command", False, "! not a command"),
    ("hello", False, "hello"),
])
def test_commands_are_read_from_bang_slash_and_mentions(body: str, mentioned: bool, expected: str) -> None:
    assert convert.command_text(body, bot_user_id=BOT, bot_names=["EventBot"], mentioned=mentioned) == expected


def test_a_reply_fallback_is_not_part_of_the_command() -> None:
    assert convert.strip_reply_fallback("> <@a:b> earlier\n> more\n\n!vote 1") == "!vote 1"


def test_room_ids_with_and_without_a_server() -> None:
    assert convert.room_id_of("matrix:!abc:example.org") == "!abc:example.org"
    assert convert.room_id_of("matrix:!abcDEF_-12") == "!abcDEF_-12"  # room version 12
    for bad in ("matrix:@alice:example.org", "telegram:12", "matrix:!"):
        with pytest.raises(ValueError):
            convert.room_id_of(bad)
    with pytest.raises(ValueError):
        convert.user_id_of("matrix:!room:example.org")


def test_html_is_escaped_and_a_mention_is_a_pill() -> None:
    text = "Bryn <b>: starts soon\nRoom 2"
    content = convert.message_content(text, mention=Mention(UserRef("matrix:@bryn:x"), 0, 4),
                                      mention_user="@bryn:x", reply_to="$cmd")
    assert content["body"] == text
    assert content["formatted_body"] == ('<a href="https://matrix.to/#/@bryn:x">Bryn</a> &lt;b&gt;: starts soon<br>Room 2')
    assert content["m.mentions"] == {"user_ids": ["@bryn:x"]}
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$cmd"}}
    assert convert.message_content("hi")["m.mentions"] == {}  # nobody pinged by a name in the text


def test_a_reply_in_a_thread_stays_in_it() -> None:
    relates = convert.message_content("ok", reply_to="$cmd", thread="$root")["m.relates_to"]
    assert relates == {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                       "m.in_reply_to": {"event_id": "$cmd"}}


def test_a_poll_carries_both_forms_and_its_answers_count_as_msc3381_says() -> None:
    content = convert.poll_start_content(PollSpec(1, "Next?", ("A", "B", "C")), "📊 Next?")
    assert convert.poll_of_start(content) == (["1", "2", "3"], 1)
    assert convert.poll_of_start({"org.matrix.msc3381.poll.start": content["org.matrix.msc3381.poll.start"]}) \
        == (["1", "2", "3"], 1)
    ids = ["1", "2", "3"]

    def response(sender: str, ts: int, answers: list[str], stable: bool = True) -> dict[str, object]:
        body = {"m.selections": answers} if stable else {"org.matrix.msc3381.poll.response": {"answers": answers}}
        return {"sender": sender, "origin_server_ts": ts, "content": body}

    answers = convert.tally_responses([
        response("@a:x", 1, ["1"]), response("@a:x", 5, ["3"], stable=False),  # changed their mind
        response("@b:x", 2, ["2", "3"]),  # two answers in a single-choice poll: the first counts
        response("@c:x", 3, ["9"]),  # an answer the poll lacks spoils the vote
        response("@d:x", 20, ["1"]),  # after the end
    ], ids, 1, until_ts=10)
    assert answers.votes == (0, 1, 1) and answers.voters == 2
    assert answers.by_option == ((), ("matrix:@b:x",), ("matrix:@a:x",))


def test_only_unambiguous_buttons_become_reactions() -> None:
    one = ((Button("👍 1", "q:7:up"),),)
    assert convert.reaction_buttons(one) == {"👍": "q:7:up"}
    two = ((Button("👍 1", "q:7:up"),), (Button("👍 2", "q:8:up"),))
    assert convert.reaction_buttons(two) == {}  # which question would a 👍 be for?
    assert convert.reaction_key("👍🏽") == "👍" and convert.reaction_key("👍️") == "👍"


@pytest.mark.parametrize(("text", "typed"), [
    ("To get reminders here instead, send /delivery dm here.", "To get reminders here instead, send !delivery dm here."),
    ("/events — list sessions\n/vote N — vote", "!events — list sessions\n!vote N — vote"),
    ("(/vote 2) or “/subscribe all”", "(!vote 2) or “!subscribe all”"),
    ("Join at https://meet.example.org/events/vote or /events", "Join at https://meet.example.org/events/vote or !events"),
    ("/eventsx and /unknown stay", "/eventsx and /unknown stay"),
    ("a/vote, x:/vote, ~/vote", "a/vote, x:/vote, ~/vote"),
])
def test_commands_in_replies_are_written_as_element_users_type_them(text: str, typed: str) -> None:
    assert convert.as_typed_here(text, frozenset({"events", "vote", "subscribe", "delivery"})) == typed
    assert convert.as_typed_here(text, frozenset()) == text


@pytest.mark.parametrize(("mime_type", "msgtype"), [("image/png", "m.image"), ("text/calendar", "m.file"),
                                                    ("application/pdf", "m.file"), ("image/svg+xml", "m.file")])
def test_a_file_carries_its_message_as_the_caption(mime_type: str, msgtype: str) -> None:
    text = convert.message_content("Your certificate <for> “Ethics”.", reply_to="$cmd")
    content = convert.media_content(text, Attachment("certificate.pdf", b"%PDF-1.7", mime_type), "mxc://hs/abc")
    assert content["msgtype"] == msgtype and content["url"] == "mxc://hs/abc"
    assert content["filename"] == "certificate.pdf" and content["info"] == {"mimetype": mime_type, "size": 8}
    # the caption keeps the text's plain and HTML bodies and its reply
    assert content["body"] == "Your certificate <for> “Ethics”."
    assert content["formatted_body"] == "Your certificate &lt;for&gt; “Ethics”."
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$cmd"}}
