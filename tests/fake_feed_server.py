"""A calendar server on 127.0.0.1 whose feed can change between requests.

    async with FakeFeedServer.start() as server:
        server.feed = b"BEGIN:VCALENDAR..."
        url = server.url("/feed.ics")

It honours ETag / If-None-Match and Last-Modified / If-Modified-Since like a real server,
and has routes for the ways real servers fail (login pages, errors, huge or stalled bodies).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

LOGIN_PAGE = b"""<!DOCTYPE html>
<html><head><title>Sign in</title></head>
<body><form action="/login" method="post"><input name="user"><input name="password" type="password"></form>
</body></html>"""


@dataclass
class FakeFeedServer:
    feed: bytes = b""
    last_modified: str = "Mon, 17 Mar 2025 08:00:00 GMT"
    requests: list[dict[str, str]] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)
    bomb_size: int = 0
    huge_size: int = 0
    _stalled: asyncio.Event = field(default_factory=asyncio.Event)
    _port: int = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, feed: bytes = b"") -> AsyncIterator[FakeFeedServer]:
        server = cls(feed=feed)
        @web.middleware
        async def record(request: web.Request, handler: object) -> web.StreamResponse:
            server.hits.append(request.path_qs)
            return await handler(request)  # type: ignore[operator, no-any-return]

        app = web.Application(middlewares=[record])
        app.router.add_get("/feed.ics", server._feed)
        app.router.add_get("/login", server._login)
        app.router.add_get("/redirect-to-login", server._redirect_to_login)
        app.router.add_get("/status/{code}", server._status)
        app.router.add_get("/huge.ics", server._huge)
        app.router.add_get("/huge-declared.ics", server._huge_declared)
        app.router.add_get("/stalled.ics", server._stalled_feed)
        app.router.add_get("/text", server._text)
        app.router.add_get("/drip.ics", server._drip)
        app.router.add_get("/redirect", server._redirect)
        app.router.add_get("/calendar/{tail:.*}", server._feed)  # Google-style secret addresses
        app.router.add_get("/gzip.ics", server._gzip)
        app.router.add_get("/bomb.ics", server._bomb)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server._port = runner.addresses[0][1]
        try:
            yield server
        finally:
            server._stalled.set()
            await runner.cleanup()

    ALLOW = ("127.0.0.1",)
    """What a test passes as ``allow_private_feeds`` to read from this server: it runs on a
    private (loopback) address, which feeds may reach only where the config allows it."""

    def url(self, path: str = "/feed.ics", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self._port}{path}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.feed).hexdigest()[:16] + '"'

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.headers))
        if request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304, headers={"ETag": self.etag})
        return web.Response(body=self.feed, content_type="text/calendar",
                            headers={"ETag": self.etag, "Last-Modified": self.last_modified})

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def _gzip(self, request: web.Request) -> web.Response:
        return web.Response(body=gzip_bytes(self.feed), content_type="text/calendar",
                            headers={"Content-Encoding": "gzip"})

    async def _bomb(self, request: web.Request) -> web.StreamResponse:
        # A small gzip body that inflates to ``bomb_size`` bytes: a feed with one long line.
        response = web.StreamResponse(headers={"Content-Type": "text/calendar", "Content-Encoding": "gzip"})
        await response.prepare(request)
        await response.write(bomb(self.bomb_size))
        await response.write_eof()
        return response

    async def _login(self, request: web.Request) -> web.Response:
        return web.Response(body=LOGIN_PAGE, content_type="text/html")

    async def _redirect_to_login(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/login")

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="nope")

    async def _text(self, request: web.Request) -> web.Response:
        return web.Response(text="Just some words.", content_type="text/plain")

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        # Chunked, with no Content-Length: only streaming can notice the size.
        response = web.StreamResponse(headers={"Content-Type": "text/calendar"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"BEGIN:VCALENDAR\r\n")
        chunk = b"X-FILLER:" + b"x" * 65_000 + b"\r\n"
        sent = 0
        while sent < self.huge_size:
            await response.write(chunk)
            sent += len(chunk)
        await response.write_eof()
        return response

    async def _huge_declared(self, request: web.Request) -> web.Response:
        return web.Response(body=b"BEGIN:VCALENDAR\r\n" + b"x" * self.huge_size, content_type="text/calendar")

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        # Sends the start of a feed, then waits for the test to release the rest: each
        # read is quick, but the whole never arrives.
        response = web.StreamResponse(headers={"Content-Type": "text/calendar"})
        await response.prepare(request)
        await response.write(b"BEGIN:VCALENDAR\r\n")
        await self._stalled.wait()
        return response

    async def _stalled_feed(self, request: web.Request) -> web.Response:
        await self._stalled.wait()  # never answers until the server stops
        return web.Response(body=self.feed)


def gzip_bytes(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def bomb(size: int) -> bytes:
    """gzip of a feed header followed by ``size`` bytes of filler, made a megabyte at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [packer.compress(b"BEGIN:VCALENDAR\r\nX-FILLER:")]
    block = b"x" * 1_000_000
    for _ in range(size // len(block)):
        out.append(packer.compress(block))
    out.append(packer.compress(b"x" * (size % len(block))))
    out.append(packer.flush())
    return b"".join(out)
