from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.databases import BACKENDS, PostgresServer, database_for, mode, postgres_server
from tests.harness import Harness

REPO = Path(__file__).resolve().parents[1]


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # unix sockets and the like stay on this machine
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection outside 127.0.0.0/8 and ::1: no test touches the internet."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
        return real_connect(self, address)

    def guarded_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)


@pytest.fixture(scope="session", autouse=mode() == "postgresql")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole session (started only when a test needs it)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def database(tmp_path: Path) -> Path | str:
    """The test's database: a SQLite file, or a fresh PostgreSQL database under EVENTBOT_TEST_DB=postgresql."""
    return database_for(tmp_path)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Run a store contract test on both stores, whatever EVENTBOT_TEST_DB says."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres").database()
    return tmp_path / "bot.db"


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness.open(tmp_path) as h:
        yield h
