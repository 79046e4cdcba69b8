"""Fetching sources: files, http(s) and webcal, against a real server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.errors import FeedError
from bot.feeds import FeedFetcher, normalise_source
from tests.fake_feed_server import FakeFeedServer

FEED = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n"


@pytest.fixture
async def server() -> AsyncIterator[FakeFeedServer]:
    async with FakeFeedServer.start(FEED) as running:
        yield running


@pytest.fixture
async def fetcher() -> AsyncIterator[FeedFetcher]:
    async with FeedFetcher(max_bytes=1_000_000, timeout=5) as running:
        yield running


def one_line(error: pytest.ExceptionInfo[FeedError]) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


def test_webcal_is_fetched_as_https() -> None:
    assert normalise_source("webcal://example.org/cal.ics") == "https://example.org/cal.ics"
    assert normalise_source(" WEBCAL://example.org/a ") == "https://example.org/a"
    assert normalise_source("/srv/feeds/sww.ics") == "/srv/feeds/sww.ics"


async def test_reads_a_file(tmp_path: Path, fetcher: FeedFetcher) -> None:
    path = tmp_path / "cpd.ics"
    path.write_bytes(FEED)
    assert (await fetcher.fetch(str(path))).data == FEED
    assert (await fetcher.fetch(path.as_uri())).data == FEED


async def test_missing_file(tmp_path: Path, fetcher: FeedFetcher) -> None:
    with pytest.raises(FeedError) as caught:
        await fetcher.fetch(str(tmp_path / "nope.ics"))
    assert "There is no file" in one_line(caught)


async def test_file_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.ics"
    path.write_bytes(FEED + b"x" * 2000)
    async with FeedFetcher(max_bytes=1000) as small:
        with pytest.raises(FeedError) as caught:
            await small.fetch(str(path))
    assert "too large" in one_line(caught)


async def test_fetches_and_then_gets_not_modified(server: FakeFeedServer, fetcher: FeedFetcher) -> None:
    first = await fetcher.fetch(server.url())
    assert first.data == FEED and first.etag == server.etag
    assert first.last_modified == server.last_modified
    again = await fetcher.fetch(server.url(), etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.etag == first.etag
    assert server.requests[-1]["If-None-Match"] == first.etag
    assert server.requests[-1]["If-Modified-Since"] == first.last_modified
    server.feed = FEED.replace(b"-//t//EN", b"-//t//CY")
    changed = await fetcher.fetch(server.url(), etag=first.etag)
    assert changed.data == server.feed and changed.etag != first.etag


@pytest.mark.parametrize(("path", "words"), [
    ("/status/404", "answered 404"),
    ("/status/500", "answered 500"),
    ("/status/401", "asks for a login"),
    ("/login", "web page"),
    ("/redirect-to-login", "web page"),
    ("/text", "not an iCalendar feed"),
])
async def test_bad_answers_are_one_line_errors(server: FakeFeedServer, fetcher: FeedFetcher,
                                               path: str, words: str) -> None:
    with pytest.raises(FeedError) as caught:
        await fetcher.fetch(server.url(path))
    assert words in one_line(caught)


async def test_empty_body(server: FakeFeedServer, fetcher: FeedFetcher) -> None:
    server.feed = b""
    with pytest.raises(FeedError) as caught:
        await fetcher.fetch(server.url())
    assert "empty" in one_line(caught)


@pytest.mark.parametrize("path", ["/huge.ics", "/huge-declared.ics"])
async def test_huge_body_is_cut_off(server: FakeFeedServer, fetcher: FeedFetcher, path: str) -> None:
    server.huge_size = 3_000_000
    with pytest.raises(FeedError) as caught:
        await fetcher.fetch(server.url(path))
    assert "too large" in one_line(caught)


@pytest.mark.parametrize("path", ["/stalled.ics", "/drip.ics"])
async def test_timeout(server: FakeFeedServer, path: str) -> None:
    async with FeedFetcher(timeout=0.2) as impatient:
        with pytest.raises(FeedError) as caught:
            await impatient.fetch(server.url(path))
    assert "did not answer within 0.2 seconds" in one_line(caught)


async def test_connection_refused(fetcher: FeedFetcher) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FeedError) as caught:
        await fetcher.fetch(f"http://127.0.0.1:{port}/feed.ics")
    assert "Could not connect to 127.0.0.1" in one_line(caught)


async def test_webcal_url_goes_over_https(server: FakeFeedServer) -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=FEED)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        fetcher = FeedFetcher(client=client)
        result = await fetcher.fetch("webcal://calendar.example.org/sww.ics")
    assert result.data == FEED and seen == ["https://calendar.example.org/sww.ics"]


async def test_unknown_scheme(fetcher: FeedFetcher) -> None:
    with pytest.raises(FeedError) as caught:
        await fetcher.fetch("ftp://example.org/cal.ics")
    assert "not a source I can read" in one_line(caught)


def test_loopback_guard_refuses_the_internet() -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("93.184.216.34", 80))
