"""``--db`` and ``EVENTBOT_DB`` take a SQLite path or a database URL, as an operator moving to
PostgreSQL would type them; a driver that is not installed is one clear line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from tests.databases import PostgresServer

REPO = Path(__file__).resolve().parents[1]
FEED = REPO / "schedules" / "social-work-week-2025.ics"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_url_in_the_environment_stays_a_url() -> None:
    url = "postgresql+asyncpg://eventbot@db.internal:5432/eventbot"
    assert load_config(env={"EVENTBOT_DB": url}).db == url
    assert load_config(env={"EVENTBOT_DB": "data//bot.db"}).db == Path("data/bot.db")


def test_import_into_postgresql_and_events_match_sqlite_byte_for_byte(
        tmp_path: Path, postgres: PostgresServer, capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres.database()
    sqlite = str(tmp_path / "bot.db")
    outputs = []
    for db in (url, sqlite):
        code, out, err = run(capsys, "--db", db, "import", str(FEED), "--calendar", "sww")
        assert code == 0, err
        code, out, err = run(capsys, "--db", db, "events", "--from", "2025-03-01", "--to", "2025-03-31",
                             "--json")
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1] and len(outputs[0]) > 1000
    assert not (tmp_path / "postgresql+asyncpg:").exists() and not Path("postgresql+asyncpg:").exists()


def test_a_driver_that_is_not_installed_is_one_line(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as on a machine without eventbot[postgres]
    code, out, err = run(capsys, "--db", "postgresql+asyncpg://eventbot@db.internal/eventbot", "events")
    assert code == 1 and out == ""
    assert err == "error: database unavailable: the asyncpg driver is not installed: install eventbot[postgres]\n"


@pytest.mark.parametrize(("url", "message"), [
    ("oracle+nosuch://u@h/db", "error: database unavailable: no database dialect 'oracle+nosuch'"),
    ("postgresql+psycopg2://u@h/db", "error: database unavailable: "),
    ("mysql+pymysql://u@h/db", "error: database unavailable: the pymysql driver is not installed"),
])
def test_other_unusable_urls_are_one_line(url: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "--db", url, "events")
    assert code == 1 and err.startswith(message) and err.count("\n") == 1, err


def test_urls_without_a_driver_get_the_asyncio_one(tmp_path: Path, postgres: PostgresServer,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    for url in (f"sqlite:///{tmp_path / 'plain.db'}", postgres.database().replace("+asyncpg", "")):
        code, _out, err = run(capsys, "--db", url, "import", str(FEED), "--calendar", "sww")
        assert code == 0, err
    assert (tmp_path / "plain.db").exists()


def test_the_password_in_a_url_never_reaches_the_log(postgres: PostgresServer, caplog: pytest.LogCaptureFixture,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres.database().replace("postgres@", "postgres:s3cret-pw@")  # trust auth ignores it
    with caplog.at_level(logging.DEBUG):
        code, _out, err = run(capsys, "-vv", "--db", url, "import", str(FEED), "--calendar", "sww")
    assert code == 0
    assert "s3cret-pw" not in caplog.text + err
