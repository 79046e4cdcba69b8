"""Fetching sources: files, http(s) and webcal, against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.errors import FeedError
from bot.feeds import FeedFetcher, display_source, is_secret_source, normalise_source
from bot.netguard import AddressPolicy, ip_literal, is_public
from tests.fake_feed_server import FakeFeedServer, gzip_bytes

FEED = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n"


@pytest.fixture
async def server() -> AsyncIterator[FakeFeedServer]:
    async with FakeFeedServer.start(FEED) as running:
        yield running


@pytest.fixture
async def fetcher() -> AsyncIterator[FeedFetcher]:
    # The fake server is on 127.0.0.1: reading it needs the same opt-in an intranet feed does.
    async with FeedFetcher(max_bytes=1_000_000, timeout=5, allow_private=FakeFeedServer.ALLOW) as running:
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
    ("/status/404", "(HTTP 404)"),
    ("/status/500", "(HTTP 500)"),
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
    async with FeedFetcher(timeout=0.2, allow_private=FakeFeedServer.ALLOW) as impatient:
        with pytest.raises(FeedError) as caught:
            await impatient.fetch(server.url(path))
    assert "did not answer within 0.2 seconds" in one_line(caught)


async def test_connection_refused(fetcher: FeedFetcher) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FeedError) as caught:
        await fetcher.fetch(f"http://127.0.0.1:{port}/feed.ics")
    assert one_line(caught) == "Could not fetch the feed from 127.0.0.1 (could not connect)."


async def test_webcal_url_goes_over_https(server: FakeFeedServer) -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        # Connected to the checked address; the name still goes in Host and in the TLS SNI.
        assert request.headers["Host"] == "calendar.example.org"
        assert request.extensions["sni_hostname"] == "calendar.example.org"
        return httpx.Response(200, stream=httpx.ByteStream(FEED))

    async def public(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    async with FeedFetcher(transport=httpx.MockTransport(handler), resolver=public) as fetcher:
        result = await fetcher.fetch("webcal://calendar.example.org/sww.ics")
    assert result.data == FEED and seen == ["https://93.184.216.34/sww.ics"]


async def test_unknown_scheme(fetcher: FeedFetcher) -> None:
    with pytest.raises(FeedError) as caught:
        await fetcher.fetch("ftp://example.org/cal.ics")
    assert "not a source I can read" in one_line(caught)


def test_loopback_guard_refuses_the_internet() -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("93.184.216.34", 80))


# --------------------------------------------------------------------------- addresses

LOOPBACK_FORMS = ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "localhost", "[::1]",
                  "[::ffff:127.0.0.1]"]
INSIDE_FORMS = [*LOOPBACK_FORMS, "10.1.2.3", "169.254.169.254", "0.0.0.0", "192.168.0.1", "[fe80::1]",
                "224.0.0.1", "100.64.0.1", "[2002:7f00:1::]", "[::127.0.0.1]"]


class FakeDns:
    """A resolver with a fixed answer per name (no test uses real DNS); counts lookups."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        answer = self.answers[host]
        return answer.pop(0) if answer and isinstance(answer[0], list) else answer  # type: ignore[return-value]


@pytest.mark.parametrize("host", INSIDE_FORMS)
async def test_inside_addresses_are_refused_without_a_connection(server: FakeFeedServer, host: str) -> None:
    async with FeedFetcher(resolver=FakeDns({})) as fetcher:
        with pytest.raises(FeedError) as caught:
            await fetcher.fetch(f"http://{host}:{server.port}/feed.ics")
    assert one_line(caught).endswith("(refused: private address).")
    assert server.hits == []


@pytest.mark.parametrize("host", INSIDE_FORMS)
async def test_a_redirect_to_the_inside_is_refused(server: FakeFeedServer, host: str) -> None:
    # The first hop is a public-looking name that is allowed (it resolves to the fake server);
    # where it redirects to is checked again.
    dns = FakeDns({"feeds.example.org": ["127.0.0.1"]})
    target = f"http://{host}:{server.port}/feed.ics"
    async with FeedFetcher(resolver=dns, allow_private=["feeds.example.org"]) as fetcher:
        with pytest.raises(FeedError) as caught:
            await fetcher.fetch(server.url("/redirect", host="feeds.example.org") + "?to=" + target)
    assert "(refused: private address)" in one_line(caught)
    assert server.hits == [f"/redirect?to={target}"]


async def test_a_name_that_resolves_inside_is_refused(server: FakeFeedServer) -> None:
    for answer in (["127.0.0.1"], ["93.184.216.34", "10.0.0.7"], ["2606:4700::1", "::1"]):
        async with FeedFetcher(resolver=FakeDns({"cal.example.org": answer})) as fetcher:
            with pytest.raises(FeedError) as caught:
                await fetcher.fetch(server.url(host="cal.example.org"))
        assert "(refused: private address)" in one_line(caught)
    assert server.hits == []


async def test_allowed_host_connects_to_the_address_it_was_checked_at(server: FakeFeedServer) -> None:
    dns = FakeDns({"intranet.example.org": ["127.0.0.1"]})
    async with FeedFetcher(resolver=dns, allow_private=["Intranet.Example.org"]) as fetcher:
        result = await fetcher.fetch(server.url(host="intranet.example.org"))
    assert result.data == FEED
    assert server.requests[-1]["Host"] == f"intranet.example.org:{server.port}"
    assert dns.lookups == ["intranet.example.org"]


async def test_dns_rebinding_changes_nothing(server: FakeFeedServer) -> None:
    # The first answer is public, any later one is loopback: the connection goes to the
    # address that was checked (which the test network refuses), never to a second lookup.
    dns = FakeDns({"rebind.example.org": [["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"]]})
    async with FeedFetcher(resolver=dns) as fetcher:
        with pytest.raises(FeedError) as caught:
            await fetcher.fetch(server.url(host="rebind.example.org"))
    assert one_line(caught) == "Could not fetch the feed from rebind.example.org (could not connect)."
    assert dns.lookups == ["rebind.example.org"] and server.hits == []


async def test_allowing_one_name_does_not_allow_other_spellings(server: FakeFeedServer) -> None:
    async with FeedFetcher(allow_private=["127.0.0.1"]) as fetcher:
        assert (await fetcher.fetch(server.url())).data == FEED
        for host in ("127.1", "localhost", "2130706433"):
            with pytest.raises(FeedError, match=r"refused: private address"):
                await fetcher.fetch(server.url(host=host))
        with pytest.raises(FeedError, match=r"refused: private address"):
            await fetcher.fetch(server.url("/redirect") + "?to=http://127.1:" + str(server.port) + "/feed.ics")


async def test_closed_and_open_ports_read_the_same() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]

    async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")  # an open port that speaks something else
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(not_http, "127.0.0.1", 0)
    open_port = listening.sockets[0].getsockname()[1]
    answers = []
    async with listening, FeedFetcher(allow_private=["127.0.0.1"], timeout=5) as fetcher:
        for port in (closed, open_port):
            with pytest.raises(FeedError) as caught:
                await fetcher.fetch(f"http://127.0.0.1:{port}/feed.ics")
            answers.append(one_line(caught))
    assert answers[0] == answers[1] == "Could not fetch the feed from 127.0.0.1 (could not connect)."


async def test_error_replies_never_carry_the_servers_words(server: FakeFeedServer, fetcher: FeedFetcher) -> None:
    for code in (404, 418, 500, 503):
        with pytest.raises(FeedError) as caught:
            await fetcher.fetch(server.url(f"/status/{code}"))
        assert one_line(caught) == f"Could not fetch the feed from 127.0.0.1 (HTTP {code})."


def test_every_spelling_of_an_address_is_read_as_the_c_library_reads_it() -> None:
    loopback = ipaddress.IPv4Address("127.0.0.1")
    for form in ("127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1"):
        assert ip_literal(form) == loopback, form
    assert ip_literal("[::1]") == ipaddress.IPv6Address("::1")
    assert ip_literal("example.org") is None and ip_literal("1.2.3.4.5") is None and ip_literal("256.1.1.1") is None
    assert is_public(ipaddress.ip_address("93.184.216.34"))
    assert not any(is_public(ipaddress.ip_address(a)) for a in (
        "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "ff02::1", "fc00::1"))
    assert not AddressPolicy().refuses_literal("calendar.example.org")


# --------------------------------------------------------------------------- compression

async def test_gzip_feed_is_read(server: FakeFeedServer, fetcher: FeedFetcher) -> None:
    assert (await fetcher.fetch(server.url("/gzip.ics"))).data == FEED
    assert gzip_bytes(FEED) != FEED


async def test_a_gzip_bomb_stops_at_the_decompressed_limit(server: FakeFeedServer, fetcher: FeedFetcher) -> None:
    server.bomb_size = 50_000_000  # about 50 kB on the wire
    with pytest.raises(FeedError) as caught:
        await fetcher.fetch(server.url("/bomb.ics"))
    assert one_line(caught) == "The feed is too large: more than the 1 MB allowed."


# --------------------------------------------------------------------------- secret addresses

GOOGLE_SECRET = ("https://calendar.google.com/calendar/ical/abc%40group.calendar.google.com/"
                 "private-0123456789abcdef0123456789abcdef/basic.ics")


def test_secret_addresses_are_shown_as_host_only() -> None:
    assert is_secret_source(GOOGLE_SECRET)
    assert display_source(GOOGLE_SECRET) == "https://calendar.google.com/…"
    assert display_source(GOOGLE_SECRET, reveal=True) == GOOGLE_SECRET
    assert display_source("webcal://p42-caldav.icloud.com/published/2/MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0") \
        == "https://p42-caldav.icloud.com/…"
    assert display_source("https://example.org/feed.ics?key=1") == "https://example.org/…"
    public = "https://calendar.google.com/calendar/ical/abc%40group.calendar.google.com/public/basic.ics"
    for plain in (public, "https://example.org/feeds/sww-2025.ics", "/srv/feeds/cpd.ics"):
        assert display_source(plain) == plain
