"""Where a test's database lives: a SQLite file under the test's tmp_path, or a fresh database on a
throwaway PostgreSQL server started once per test session.

``EVENTBOT_TEST_DB=postgresql`` runs every test on PostgreSQL; otherwise SQLite, with the store
contract tests (``backend`` fixture) on both. The server is the machine's own PostgreSQL binaries
(``initdb`` + ``pg_ctl``), listening on a unix socket in a temporary folder only: no TCP port at all.
PostgreSQL refuses to run as root, so under root it runs as the ``postgres`` user that Debian's
package creates.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

MODE_VARIABLE = "EVENTBOT_TEST_DB"
SERVER_VARIABLE = "EVENTBOT_TEST_PG_SOCKET"  # set while the session's server runs, for subprocesses too
BACKENDS = ("sqlite", "postgresql")
_NAMES = itertools.count(1)


def mode() -> str:
    value = os.environ.get(MODE_VARIABLE, "sqlite").lower() or "sqlite"
    if value not in BACKENDS:
        raise RuntimeError(f"{MODE_VARIABLE} must be one of {', '.join(BACKENDS)}, not {value!r}")
    return value


def postgres_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


class PostgresServer:
    """One throwaway server; ``database()`` hands out a new empty database each call."""

    def __init__(self, socket_dir: Path) -> None:
        self.socket_dir = socket_dir

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def database(self, name: str | None = None) -> str:
        """A new empty database; or, given a name, that database, created the first time."""
        if name is None:
            name = f"t{os.getpid()}_{next(_NAMES)}"
        elif self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip():
            return self.url(name)
        self._psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _psql(self, sql: str) -> str:
        done = subprocess.run(["psql", "-h", str(self.socket_dir), "-U", "postgres", "-d", "postgres",
                               "-v", "ON_ERROR_STOP=1", "-qtAc", sql], check=True, capture_output=True, text=True)
        return done.stdout


def database_for(tmp_path: Path, name: str = "bot") -> Path | str:
    """The database a test uses: ``tmp_path/NAME.db``, or a new PostgreSQL database when the session
    runs on PostgreSQL (the session's server is found through ``EVENTBOT_TEST_PG_SOCKET``)."""
    if mode() == "sqlite":
        return tmp_path / f"{name}.db"
    socket_dir = os.environ.get(SERVER_VARIABLE)
    if not socket_dir:
        raise RuntimeError("EVENTBOT_TEST_DB=postgresql but no server was started for the session")
    # The same folder names the same database, as a file would: a test that opens the bot twice
    # (a restart) finds what it left.
    digest = hashlib.sha1(f"{tmp_path}/{name}".encode()).hexdigest()[:20]
    return PostgresServer(Path(socket_dir)).database(f"f{digest}")


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server for the session (or reuse the one a parent process started) and stop it after."""
    if os.environ.get(SERVER_VARIABLE):
        yield PostgresServer(Path(os.environ[SERVER_VARIABLE]))
        return
    binaries = postgres_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed: .ci/run installs it (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="eventbot-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "--no-sync", "-E", "UTF8", "--locale=C"], check=True, capture_output=True)
    options = (f"-c listen_addresses='' -c unix_socket_directories={sockets} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
    subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-s",
                    "-l", str(root / "server.log"), "start"], check=True, capture_output=True)
    os.environ[SERVER_VARIABLE] = str(sockets)
    try:
        yield PostgresServer(sockets)
    finally:
        os.environ.pop(SERVER_VARIABLE, None)
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-s",
                        "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
