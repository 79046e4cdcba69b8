"""Fetching calendar sources: a file path, an http(s) URL, or a webcal:// URL.

Every failure becomes a ``FeedError`` with one translatable line; nothing here touches the
store, so a refused source leaves the calendar as it was.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from bot.errors import FeedError
from bot.i18n import N_

DEFAULT_MAX_BYTES = 10_000_000
DEFAULT_TIMEOUT = 30.0
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
    """Reads sources with one shared HTTP client; use as an async context manager."""

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            max_redirects=5,
            headers={"User-Agent": USER_AGENT, "Accept": "text/calendar, */*;q=0.5"},
        )

    async def __aenter__(self) -> FeedFetcher:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

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
                            source=source)
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
        host = urlsplit(url).hostname or url
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            # httpx's timeout bounds each read; the overall deadline also stops a server
            # that drips a byte at a time.
            async with asyncio.timeout(self.timeout), self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return Fetched(None, etag=response.headers.get("ETag", etag),
                                   last_modified=response.headers.get("Last-Modified", last_modified))
                if response.status_code in (401, 403):
                    raise FeedError(N_("The server at {host} asks for a login ({status}); use the calendar's "
                                       "public or secret iCal address."), host=host, status=response.status_code)
                if response.status_code != 200:
                    raise FeedError(N_("The server at {host} answered {status} {reason}, not the feed."),
                                    host=host, status=response.status_code, reason=response.reason_phrase)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise FeedError(N_("The feed is too large: {size} MB, more than the {limit} MB allowed."),
                                    size=_mb(int(declared)), limit=_mb(self.max_bytes))
                chunks: list[bytes] = []
                received = 0
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > self.max_bytes:
                        raise FeedError(N_("The feed is too large: more than the {limit} MB allowed."),
                                        limit=_mb(self.max_bytes))
                    chunks.append(chunk)
                data = b"".join(chunks)
                content_type = response.headers.get("Content-Type", "").lower()
                if "html" in content_type and not data.lstrip().lower().startswith(b"begin:vcalendar"):
                    raise FeedError(N_("The address returned a web page (perhaps a login page), "
                                       "not an iCalendar feed."))
                _sniff(data)
                return Fetched(data, etag=response.headers.get("ETag", ""),
                               last_modified=response.headers.get("Last-Modified", ""))
        except (httpx.TimeoutException, TimeoutError):
            raise FeedError(N_("The server at {host} did not answer within {seconds} seconds."),
                            host=host, seconds=_seconds(self.timeout)) from None
        except httpx.ConnectError:
            raise FeedError(N_("Could not connect to {host} (the connection was refused or the name is unknown)."),
                            host=host) from None
        except httpx.TooManyRedirects:
            raise FeedError(N_("The address at {host} redirects too many times."), host=host) from None
        except httpx.InvalidURL:
            raise FeedError(N_("“{source}” is not a valid address."), source=url) from None
        except httpx.HTTPError as error:
            raise FeedError(N_("Could not fetch the feed from {host}: {problem}."), host=host,
                            problem=type(error).__name__) from None


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f}".rstrip("0").rstrip(".")


def _seconds(value: float) -> str:
    return f"{value:g}"

