"""The console: one shared room on stdin/stdout, the default when no platform is configured.

Each input line is a message; ``NAME: text`` speaks as NAME, a bare line as the configured
console user (``you``). Messages for one person only print as ``[to NAME] text``. End of
input ends the run once every line has been answered.

Lines are read as bytes and decoded as UTF-8 one at a time, with undecodable bytes replaced
(``�``): under a strict locale one bad byte would otherwise end the reading for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

from bot.config import Config
from bot.models import ChatKind, ChatRef, Delivered, Incoming, Outgoing, UserRef
from bot.ports import Capability, MessageHandler, RateLimits

log = logging.getLogger(__name__)

ROOM = ChatRef("console:room", ChatKind.GROUP, "console")
_SPEAKER = re.compile(r"^([A-Za-z0-9_.\-]{1,32}):\s?(.*)$")


class ConsoleAdapter:
    name = "console"
    capabilities = frozenset({Capability.DIRECT_MESSAGES})
    limits = RateLimits()

    def __init__(self, default_user: str = "you", stdin: TextIO | None = None,
                 stdout: TextIO | None = None) -> None:
        self._default_user = default_user
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._finished = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._counter = 0

    @classmethod
    def from_config(cls, config: Config) -> ConsoleAdapter:
        return cls(default_user=config.console_user)

    def parse_line(self, line: str) -> Incoming | None:
        line = line.rstrip("\r\n")
        if not line.strip():
            return None
        match = _SPEAKER.match(line)
        user, text = (match.group(1), match.group(2)) if match else (self._default_user, line)
        return Incoming(user=UserRef(f"console:{user}", user, username=user), chat=ROOM, text=text.strip())

    async def start(self, on_message: MessageHandler) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def read() -> None:
            # A daemon thread: a blocking read must never keep the process alive at exit.
            try:
                for line in _lines(self._stdin):
                    loop.call_soon_threadsafe(queue.put_nowait, line)
            except Exception:
                log.exception("reading the console's input failed; treating it as the end of input")
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=read, name="console-stdin", daemon=True).start()

        async def pump() -> None:
            while (line := await queue.get()) is not None:
                incoming = self.parse_line(line)
                if incoming is None:
                    continue
                try:
                    await on_message(incoming)
                except Exception:
                    log.exception("console line not handled: %r", line[:200])
            self._finished.set()

        self._task = asyncio.create_task(pump(), name="console")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._stdout.flush()

    @property
    def connected(self) -> bool:
        """Reading the terminal: started, and input has not ended."""
        return self._task is not None and not self._task.done()

    async def wait_finished(self) -> None:
        await self._finished.wait()

    async def send(self, message: Outgoing) -> Delivered:
        text = message.text
        if message.attachment is not None:
            text += f"\n(attachment: {message.attachment.filename}, {len(message.attachment.content)} bytes)"
        if message.user is not None:
            text = f"[to {message.user.display}] {text}"
        self._stdout.write(text + "\n")
        self._stdout.flush()
        self._counter += 1
        return Delivered(message_id=str(self._counter))


def _lines(stdin: TextIO) -> Iterator[str]:
    """The lines of ``stdin``, each decoded on its own with bad bytes replaced; a stream
    without bytes underneath (a test's ``StringIO``) is read as it is."""
    raw = getattr(stdin, "buffer", None)
    if raw is None:
        yield from stdin
        return
    for line in raw:
        yield line.decode(stdin.encoding or "utf-8", errors="replace")
