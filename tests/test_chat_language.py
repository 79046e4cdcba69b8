"""A group chat's language (``/language cy --here``): Welsh in the room for everyone who has not
chosen a language of their own, on platforms (like Discord) that have no Welsh locale."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.harness import START, Harness, make_occurrence
from tests.live.conftest import SESSION, go_live

WELSH_HELP = "Mae eventbot yn eich helpu i gyrraedd mewn pryd ar gyfer y sesiynau sy'n bwysig i chi. Gorchmynion:"
ENGLISH_HELP = "eventbot keeps you on time for the sessions you care about. Commands:"


async def first_line(h: Harness, user: str, text: str, **kwargs: object) -> str:
    return (await h.say(user, text, **kwargs))[0].splitlines()[0]


async def test_the_room_speaks_welsh_to_everyone_without_a_language_of_their_own(tmp_path: Path) -> None:
    async with Harness.open(tmp_path) as h:
        assert await first_line(h, "bob", "/help") == ENGLISH_HELP
        assert await h.say("org", "/language cy --here") == [
            "O hyn ymlaen, byddaf yn ysgrifennu yn y sgwrs hon yn yr iaith hon: Cymraeg, ac eithrio at bobl a "
            "ddewisodd eu hiaith eu hunain gyda /language."]
        assert await first_line(h, "bob", "/help") == WELSH_HELP
        # ...even when their app says English (Discord has no Welsh locale to say otherwise)
        assert await first_line(h, "bob", "/help", locale="en-GB") == WELSH_HELP
        # a person's own choice wins, and the organiser's own language was not changed
        await h.say("carys", "/language en")
        assert await first_line(h, "carys", "/help") == ENGLISH_HELP
        assert (await h.app.store.people.get_settings("fake:org")).language is None
        # in private, the person's own settings and the configured default apply
        assert await first_line(h, "bob", "/help", chat=h.adapter.dm("bob")) == ENGLISH_HELP
        await h.restart()
        assert await first_line(h, "bob", "/help") == WELSH_HELP
        await h.say("org", "/language en --here")
        assert await first_line(h, "bob", "/help") == ENGLISH_HELP


async def test_only_organisers_and_facilitators_set_it_and_only_in_a_group(tmp_path: Path) -> None:
    async with Harness.open(tmp_path) as h:
        assert await h.say("bob", "/language cy --here") == [
            "Only organisers, and facilitators of the session live in this chat, can set the language "
            "of a chat."]
        assert await h.say("org", "/language cy --here", chat=h.adapter.dm("org")) == [
            "--here sets the language of a group chat: send it in that chat."]
        assert await h.app.store.people.chat_language(h.adapter.room.id) is None
        await h.say("org", "/facilitator add fake:fac")
        await h.say("fac", "/language cy --here")  # no session is live here: organisers only
        assert await h.app.store.people.chat_language(h.adapter.room.id) is None
        await go_live(h, SESSION)
        await h.say("fac", "/language cy --here")
        assert await h.app.store.people.chat_language(h.adapter.room.id) == "cy"


async def test_room_posts_follow_the_room_even_from_an_english_speaking_facilitator(tmp_path: Path) -> None:
    async with Harness.open(tmp_path) as h:
        await go_live(h, SESSION)
        await h.say("fac", "/language en")  # the facilitator reads English themselves
        await h.say("org", "/language cy --here")
        h.adapter.clear()
        await h.say("fac", '/poll "Te neu goffi?" "Te" "Coffi" --close 5m')
        [post] = [m for m in h.adapter.in_chat() if m.kind == "poll"]
        assert post.text.startswith("📊 Pôl 1: Te neu goffi?")
        await h.advance(timedelta(minutes=5))  # closed by the alarm
        [results] = [m for m in h.adapter.in_chat() if m.kind == "results"]
        assert results.text.startswith("📊 Canlyniadau terfynol — Te neu goffi?")


async def test_reminders_in_a_welsh_room_are_welsh_unless_the_person_chose_otherwise(tmp_path: Path) -> None:
    session = make_occurrence("Ymarfer myfyriol", START + timedelta(hours=2))
    async with Harness.open(tmp_path, offsets=(timedelta(minutes=15),)) as h:
        await h.add_occurrences(session)
        await h.say("org", "/language cy --here")
        for person in ("bob", "carys", "dai"):
            await h.say(person, "/subscribe all")
        await h.say("bob", "/delivery channel")
        await h.say("carys", "/language en")
        await h.say("carys", "/delivery channel")
        h.adapter.unreachable.add("fake:dai")  # private messages refused: the room instead
        h.adapter.clear()
        await h.advance(timedelta(hours=2))
        room = {m.text.partition(":")[0].partition(",")[0]: m.text for m in h.adapter.in_chat()}
        assert room["bob"].startswith("bob: ⏰ Mae “Ymarfer myfyriol” yn dechrau am 10:00 GMT, ymhen 15 munud.")
        assert room["carys"].startswith("carys: ⏰ “Ymarfer myfyriol” starts at 10:00 GMT, in 15 minutes.")
        assert room["dai"].startswith("dai: ⏰ Mae “Ymarfer myfyriol”")
        [notice] = [m for m in h.adapter.in_chat() if m.kind == "notice"]
        assert notice.text.startswith("dai, ni allwn anfon nodyn atgoffa preifat atoch")
