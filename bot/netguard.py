"""Which addresses a calendar feed may reach, and an HTTP transport that connects only to those.

A feed is fetched by the bot, from inside the network it runs in. Without a guard an organiser's
``/import http://127.0.0.1:8080/…`` (or ``127.1``, ``2130706433``, a name that resolves to
loopback, or a public address that redirects to any of those) reads services that only the
bot's machine can see. So every hop of every fetch is checked here:

- the host is resolved once, every address it resolves to must be public, and the connection
  goes to that checked address (the Host header and the TLS server name still carry the
  name), so a DNS answer that changes between check and connect (rebinding) changes nothing;
- redirects are followed by the client, and each one comes back through this transport;
- hosts named in ``allow_private_feeds`` may resolve to private addresses (intranet calendars).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``resolve(host, port)``: the addresses a host name stands for, as strings."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


class AddressRefused(Exception):
    """A feed's host is, or resolves to, an address feeds may not reach."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} is a private address")
        self.host = host


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def ip_literal(host: str) -> IPAddress | None:
    """The address a host written as a number stands for, in every form the C library
    accepts (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``[::1]``), else None."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMBER.fullmatch(p) for p in parts):
        return None
    numbers = [int(p[2:] or "0", 16) if p[:2].lower() == "0x" else int(p, 8) if p.startswith("0")
               else int(p) for p in parts]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    return ipaddress.IPv4Address(value << 8 * (4 - len(head)) | last)


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet: not loopback, private, link-local,
    multicast, reserved or unspecified, nor an IPv6 form that carries such an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and (address in _NAT64 or address in _IPV4_COMPATIBLE):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified)


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


class AddressPolicy:
    """Decides which addresses a host may be reached at.

    Args:
        allow_private: Host names (as written in the feed address, any case) that may
            resolve to private addresses. Nothing else widens the policy.
        resolver: Looks host names up; tests inject one, so no test needs real DNS.
    """

    def __init__(self, allow_private: Iterable[str] = (), resolver: Resolver | None = None) -> None:
        self.allow_private = frozenset(_host_key(h) for h in allow_private if h.strip())
        self.resolver = resolver or system_resolver

    def allows_private(self, host: str) -> bool:
        return _host_key(host) in self.allow_private

    def refuses_literal(self, host: str) -> bool:
        """True when ``host`` is a name or number that is private without any lookup, so a
        refusal needs no network at all."""
        if self.allows_private(host):
            return False
        key = _host_key(host)
        if key == "localhost" or key.endswith(".localhost"):
            return True
        literal = ip_literal(key)
        return literal is not None and not is_public(literal)

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` once and return the addresses to connect to.

        Raises:
            AddressRefused: The host, or any address it resolves to, is not public (and the
                host is not allowed to be private).
        """
        key = _host_key(host)
        allowed = self.allows_private(host)
        if self.refuses_literal(host):
            raise AddressRefused(host)
        literal = ip_literal(key)
        if literal is not None:
            return [literal]
        found: list[IPAddress] = []
        for text in await self.resolver(key, port):
            address = ipaddress.ip_address(text)
            if not allowed and not is_public(address):
                raise AddressRefused(host)
            found.append(address)
        if not found:
            raise httpx.ConnectError(f"{host} has no address")
        return found


class GuardedTransport(httpx.AsyncBaseTransport):
    """Sends each request (each redirect hop too) to an address the policy checked, and to
    nothing else. Connections are not kept alive: a pooled connection must never be reused
    for a name it was not checked and verified for."""

    def __init__(self, policy: AddressPolicy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=0), trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await self.policy.addresses(url.host, port)
        failure: httpx.ConnectError | None = None
        for address in addresses:
            extensions = dict(request.extensions)
            if url.scheme == "https":
                # Certificate checked against the name, connection made to the number.
                extensions.setdefault("sni_hostname", url.host)
            pinned = httpx.Request(request.method, url.copy_with(host=str(address)), headers=request.headers,
                                   stream=request.stream, extensions=extensions)
            try:
                return await self._inner.handle_async_request(pinned)
            except httpx.ConnectError as error:
                failure = error
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        await self._inner.aclose()
