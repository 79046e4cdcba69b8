"""The command line as a newcomer meets it: clear one-line errors, non-zero exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.databases import database_for

REPO = Path(__file__).resolve().parents[1]


def eventbot(*args: str, stdin: str = "", cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTBOT_")}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd or REPO, env=full_env, timeout=timeout)


def test_wrong_option_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = eventbot("--db", str(database_for(tmp_path)), "events", "--bogus")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error:")


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    result = eventbot("--config", str(tmp_path / "missing.toml"), "events")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: config file not found: {tmp_path / 'missing.toml'}"


def test_unknown_adapter_is_one_line(tmp_path: Path) -> None:
    result = eventbot("--db", str(database_for(tmp_path)), "run", "--adapter", "irc")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: adapter 'irc' is unavailable: unknown adapter")
    assert "Traceback" not in result.stderr


def test_events_json_on_an_empty_database(tmp_path: Path) -> None:
    result = eventbot("--db", str(database_for(tmp_path)), "events", "--json", "--from", "2025-03-17")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_bad_date_and_zone_are_refused(tmp_path: Path) -> None:
    bad_zone = eventbot("--db", str(database_for(tmp_path)), "events", "--tz", "Mars/Olympus")
    assert bad_zone.returncode == 1 and bad_zone.stderr.startswith("error: “Mars/Olympus” is not a time zone")
    bad_date = eventbot("--db", str(database_for(tmp_path)), "events", "--from", "17/03/2025")
    assert bad_date.returncode == 1 and "is not a date" in bad_date.stderr


def test_console_run_answers_every_line_and_exits_on_eof(tmp_path: Path) -> None:
    lines = ("you: /events\nalice: /subscribe all\nalice: /mine\nalice: /remind 2h 10m\n"
             "alice: /timezone Mars/Olympus\n")
    result = eventbot("run", "--db", str(database_for(tmp_path)), stdin=lines)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # The shipped schedules were loaded into the empty database and are listed.
    assert "Session 4: Learning from Practice – Case Study 3" in out
    assert "You will be reminded of every session." in out
    assert "• every session" in out
    assert "You will be reminded 2h, 10m before each session you follow." in out
    assert out.rstrip().endswith(
        "“Mars/Olympus” is not a time zone I know. Use a name like Europe/London or America/New_York.")
    assert "Traceback" not in result.stderr


def test_console_private_replies_are_addressed(tmp_path: Path) -> None:
    result = eventbot("run", "--db", str(database_for(tmp_path)), stdin="bob: /subscribe all\nbob: /ics\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("[to bob] ")


@pytest.mark.slow
def test_console_survives_an_invalid_byte_under_a_strict_utf8_locale(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTBOT_", "LC_", "LANG"))}
    env.update(PYTHONPATH=str(REPO), PYTHONIOENCODING="utf-8:strict", LC_ALL="C.UTF-8", PYTHONUTF8="0")
    stdin = b"you: /help\nalice: /events caf\xe9 \xff\xfe\nalice: /remind 2h\n"
    result = subprocess.run([sys.executable, "-m", "bot", "run", "--db", str(database_for(tmp_path))],
                            input=stdin, capture_output=True, cwd=REPO, env=env, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    out = result.stdout.decode("utf-8")
    assert "Traceback" not in result.stderr.decode(errors="replace")
    # The bad line is read with its broken bytes replaced, and answered like any other search.
    assert "No sessions found. Try /events for what is coming up." in out
    # The reader thread lived on: the line after it was answered too.
    assert out.rstrip().endswith("You will be reminded 2h before each session you follow.")


def test_an_error_is_told_in_the_configured_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EVENTBOT_LANGUAGE", "cy")
    assert main(["--db", str(tmp_path / "bot.db"), "export-attendance", "--calendar", "nowhere"]) == 1
    assert capsys.readouterr().err.strip() == "gwall: Nid oes calendr o’r enw “nowhere”."
