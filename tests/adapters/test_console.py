"""The console adapter's rendering of what the core asks for."""

from __future__ import annotations

import io

from adapters.console import ROOM, ConsoleAdapter
from bot.models import MENTION, Mention, Outgoing, UserRef


async def test_a_mention_on_the_console_is_the_name_as_written() -> None:
    out = io.StringIO()
    console = ConsoleAdapter(stdout=out)
    text, mention = Mention.within(f"{MENTION}: ⏰ “Ethics” starts at 11:00 GMT, in 15 minutes.", "bryn",
                                   UserRef("console:bryn"))
    await console.send(Outgoing(text, chat=ROOM, kind="reminder", mention=mention))
    assert out.getvalue() == "bryn: ⏰ “Ethics” starts at 11:00 GMT, in 15 minutes.\n"
