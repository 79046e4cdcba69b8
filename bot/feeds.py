"""Fetching calendar sources: a file path, an http(s) URL, or a webcal:// URL.

Every failure becomes a ``FeedError`` with one translatable line; nothing here touches the
store, so a refused source leaves the calendar as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

from bot.errors import FeedError
from bot.i18n import N_
from bot.netguard import AddressPolicy, AddressRefused, GuardedTransport, Resolver

DEFAULT_MAX_BYTES = 10_000_000
DEFAULT_TIMEOUT = 30.0
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "eventbot/0.1 (calendar sync)"


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a source gave.

    Attributes:
        data: The body, or None when the server said it has not changed (304).
        etag: The validator to send next time (``If-None-Match``).
        last_modified: The validator to send next time (``If-Modified-Since``).
    """

    data: bytes | None
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.data is None


def normalise_source(source: str) -> str:
    """``webcal://`` becomes ``https://``; other sources are returned stripped."""
    source = source.strip()
    scheme, sep, rest = source.partition("://")
    if sep and scheme.lower() in {"webcal", "webcals"}:
        return "https://" + rest
    return source


def is_url(source: str) -> bool:
    return urlsplit(normalise_source(source)).scheme.lower() in {"http", "https"}


def _sniff(data: bytes) -> None:
    """Refuse bodies that are plainly not iCalendar before anyone parses them."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n").lower()
    if not head:
        raise FeedError(N_("The feed is empty."))
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        head.startswith(b"<") and b"<form" in data[:65536].lower()
    ):
        raise FeedError(N_("The address returned a web page (perhaps a login page), not an iCalendar feed."))
    if not head.replace(b"\x00", b"").startswith(b"begin:vcalendar"):
        raise FeedError(N_("This is not an iCalendar feed: it does not start with BEGIN:VCALENDAR."))


class FeedFetcher:
    """Reads sources with one shared HTTP client; use as an async context manager.

    Addresses are checked by ``bot.netguard``: loopback, private, link-local, multicast and
    reserved addresses are refused, on every hop, unless the host is in ``allow_private``.
    ``transport`` (tests) replaces the network under the guard, never the guard itself.
    """

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        allow_private: Iterable[str] = (),
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.policy = AddressPolicy(allow_private, resolver)
        # The transport is used without an httpx client: the client would parse a redirect's
        # address before this module could look at it, and it rejects some numeric forms
        # (0177.0.0.1) that the C library would still connect to.
        self._transport = GuardedTransport(self.policy, transport)
        self._headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, */*;q=0.5",
                         # Only codings this module decodes itself, with a bound on the decoded size.
                         "Accept-Encoding": "gzip, deflate"}

    async def __aenter__(self) -> FeedFetcher:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def fetch(self, source: str, *, etag: str = "", last_modified: str = "") -> Fetched:
        """Read a source. With ``etag``/``last_modified`` from the previous read, an HTTP
        server may answer "not modified" and ``Fetched.data`` is None.

        Raises:
            FeedError: The source cannot be read, is too large, or is not iCalendar.
        """
        source = normalise_source(source)
        if not source:
            raise FeedError(N_("No calendar source was given."))
        if is_url(source):
            return await self._fetch_url(source, etag=etag, last_modified=last_modified)
        if urlsplit(source).scheme.lower() == "file":
            source = urlsplit(source).path
        elif "://" in source:
            raise FeedError(N_("“{source}” is not a source I can read: use a file, an http(s) or a webcal address."),
                            source=display_source(source))
        return await asyncio.to_thread(self._read_file, source)

    def _read_file(self, source: str) -> Fetched:
        path = Path(source).expanduser()
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise FeedError(N_("“{path}” is not a file."), path=str(path))
            if size > self.max_bytes:
                raise FeedError(N_("The feed is too large: {size} MB, more than the {limit} MB allowed."),
                                size=_mb(size), limit=_mb(self.max_bytes))
            data = path.read_bytes()
        except FileNotFoundError:
            raise FeedError(N_("There is no file at “{path}”."), path=str(path)) from None
        except PermissionError:
            raise FeedError(N_("The file “{path}” cannot be read (permission denied)."), path=str(path)) from None
        except IsADirectoryError:
            raise FeedError(N_("“{path}” is not a file."), path=str(path)) from None
        _sniff(data)
        return Fetched(data)

    async def _fetch_url(self, url: str, *, etag: str, last_modified: str) -> Fetched:
        host = urlsplit(url).hostname or "?"
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            # httpx's timeout bounds each read; the overall deadline also stops a server
            # that drips a byte at a time.
            async with asyncio.timeout(self.timeout):
                return await self._get(url, headers, etag=etag, last_modified=last_modified)
        except AddressRefused as refused:
            raise FeedError(N_("Could not fetch the feed from {host} (refused: private address)."),
                            host=refused.host) from None
        except (httpx.TimeoutException, TimeoutError):
            raise FeedError(N_("The server at {host} did not answer within {seconds} seconds."),
                            host=host, seconds=_seconds(self.timeout)) from None
        except httpx.TooManyRedirects:
            raise FeedError(N_("The address at {host} redirects too many times."), host=host) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            raise FeedError(N_("“{source}” is not a valid address."), source=display_source(url)) from None
        except (httpx.HTTPError, OSError):
            # A closed port, a refused connection and a server that speaks something other
            # than HTTP all read the same: the reply must not map someone's ports.
            raise FeedError(N_("Could not fetch the feed from {host} (could not connect)."), host=host) from None

    async def _get(self, url: str, headers: dict[str, str], *, etag: str, last_modified: str) -> Fetched:
        # Every hop's address is looked at before httpx parses it; the transport checks the
        # addresses it resolves to.
        timeout = httpx.Timeout(self.timeout).as_dict()
        for _hop in range(MAX_REDIRECTS + 1):
            host = urlsplit(url).hostname or "?"
            if self.policy.refuses_literal(host):
                raise AddressRefused(host)
            request = httpx.Request("GET", url, headers={**self._headers, **headers},
                                    extensions={"timeout": timeout})
            response = await self._transport.handle_async_request(request)
            response.request = request
            async with contextlib.aclosing(response):
                if response.status_code in _REDIRECTS and "Location" in response.headers:
                    url = urljoin(str(response.url), response.headers["Location"])
                    continue
                return await self._answer(response, host, etag=etag, last_modified=last_modified)
        raise httpx.TooManyRedirects("too many redirects")

    async def _answer(self, response: httpx.Response, host: str, *, etag: str, last_modified: str) -> Fetched:
        # Only the status number is shown, never the server's own words: a reply must not
        # carry what some other machine said.
        if response.status_code == 304:
            return Fetched(None, etag=response.headers.get("ETag", etag),
                           last_modified=response.headers.get("Last-Modified", last_modified))
        if response.status_code in (401, 403):
            raise FeedError(N_("Could not fetch the feed from {host} (HTTP {status}): it asks for a login; "
                               "use the calendar's public or secret iCal address."),
                            host=host, status=response.status_code)
        if response.status_code != 200:
            raise FeedError(N_("Could not fetch the feed from {host} (HTTP {status})."),
                            host=host, status=response.status_code)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FeedError(N_("The feed is too large: {size} MB, more than the {limit} MB allowed."),
                            size=_mb(int(declared)), limit=_mb(self.max_bytes))
        data = await self._read_body(response, host)
        content_type = response.headers.get("Content-Type", "").lower()
        if "html" in content_type and not data.lstrip().lower().startswith(b"begin:vcalendar"):
            raise FeedError(N_("The address returned a web page (perhaps a login page), not an iCalendar feed."))
        _sniff(data)
        return Fetched(data, etag=response.headers.get("ETag", ""),
                       last_modified=response.headers.get("Last-Modified", ""))

    async def _read_body(self, response: httpx.Response, host: str) -> bytes:
        """The body, decompressed here with a bound on the decompressed size: httpx would
        inflate a whole network chunk at once, and 64 kB of gzip can hold 64 MB."""
        coding = response.headers.get("Content-Encoding", "").strip().lower()
        decoder = _Decoder(coding, host)
        received = bytearray()

        def take(piece: bytes) -> None:
            if len(received) + len(piece) > self.max_bytes:
                raise FeedError(N_("The feed is too large: more than the {limit} MB allowed."),
                                limit=_mb(self.max_bytes))
            received.extend(piece)

        async for raw in response.aiter_raw():
            decoder.feed(raw, take)
        decoder.finish(take)
        return bytes(received)


class _Decoder:
    """Inflates gzip or deflate in pieces of at most ``PIECE`` bytes."""

    PIECE = 64 * 1024

    def __init__(self, coding: str, host: str) -> None:
        self.host = host
        self.coding = coding
        if coding in ("", "identity"):
            self._inflate = None
        elif coding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise FeedError(N_("Could not fetch the feed from {host} (unsupported compression)."), host=host)
        self._started = False

    def feed(self, raw: bytes, take: Callable[[bytes], None]) -> None:
        if self._inflate is None:
            take(raw)
            return
        try:
            if not self._started and self.coding == "deflate" and raw:
                self._started = True
                try:
                    zlib.decompressobj(zlib.MAX_WBITS).decompress(raw[:64], 1)
                except zlib.error:  # a raw deflate stream, without the zlib header
                    self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            pending = raw
            while pending and not self._inflate.eof:
                take(self._inflate.decompress(pending, self.PIECE))
                pending = self._inflate.unconsumed_tail
        except zlib.error:
            raise FeedError(N_("Could not fetch the feed from {host} (damaged compressed data)."),
                            host=self.host) from None

    def finish(self, take: Callable[[bytes], None]) -> None:
        if self._inflate is None:
            return
        if not self._inflate.eof:
            raise FeedError(N_("Could not fetch the feed from {host} (damaged compressed data)."), host=self.host)


def display_source(source: str, *, reveal: bool = False) -> str:
    """A feed address as it may be shown: secret addresses as host + "…".

    A calendar's "secret address" (Google's ``…/private-<key>/basic.ics``, Outlook's and
    iCloud's published links, any address with a key, a query or a password) is itself the
    credential, so it is never written whole into a chat or a log; ``reveal`` is for the
    operator's own ``eventbot calendars --show-urls``.
    """
    if reveal or not is_secret_source(source):
        return source
    parts = urlsplit(normalise_source(source))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/…"


def secret_parts(source: str) -> list[str]:
    """The pieces of a secret address that are the key: its password, its query, and each
    path segment that looks like a key; what a log must never show."""
    source = normalise_source(source)
    if "://" not in source:
        return []
    parts = urlsplit(source)
    found = [p for p in (parts.password or "", parts.query) if p]
    found += [segment for segment in parts.path.split("/") if _SECRET_SEGMENT.search(segment)]
    return found


def is_secret_source(source: str) -> bool:
    """True for an address that carries a key (see ``display_source``)."""
    source = normalise_source(source)
    if "://" not in source:
        return False
    parts = urlsplit(source)
    if parts.username or parts.password or parts.query:
        return True
    return any(_SECRET_SEGMENT.search(segment) for segment in parts.path.split("/"))


# A path segment that is a key: Google's "private-<hex>", or any long run of letters and
# digits mixed (an Outlook or iCloud token, a UUID), which no readable file name is.
_SECRET_SEGMENT = re.compile(r"^private-|^(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{20,}$")


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f}".rstrip("0").rstrip(".")


def _seconds(value: float) -> str:
    return f"{value:g}"

