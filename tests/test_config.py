from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import load_config
from bot.errors import ConfigError


def test_toml_then_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "eventbot.toml"
    path.write_text(
        'organisers = ["telegram:1001", "console:you"]\n'
        'timezone = "Europe/London"\n'
        'offsets = ["1d", "15m"]\n'
        '[[feeds]]\nname = "sww"\nurl = "https://example.org/sww.ics"\nrefresh_minutes = 30\n',
        encoding="utf-8")
    config = load_config(path, env={"EVENTBOT_ORGANISERS": "telegram:1001,discord:42",
                                    "EVENTBOT_TIMEZONE": "America/New_York", "HOME": "/root"})
    assert config.organisers == ("telegram:1001", "discord:42")
    assert config.timezone == "America/New_York"
    assert config.offsets == (timedelta(days=1), timedelta(minutes=15))
    assert config.feeds[0].name == "sww" and config.feeds[0].refresh_minutes == 30
    assert load_config(path, env={"EVENTBOT_RATE_SHARE": "0.5"}).rate_share == 0.5


@pytest.mark.parametrize(("text", "message"), [
    ('timezone = "Mars/Olympus"', "invalid value for timezone"),
    ('organisers = ["alice"]', "must be a namespaced id"),
    ('colour = "blue"', "unknown setting(s) in config: colour"),
    ("this is not toml", "is not valid TOML"),
    ("rate_share = 1.5", "invalid value for rate_share"),
    ("rate_share = 0", "invalid value for rate_share"),
])
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_tokens_never_show_in_repr() -> None:
    config = load_config(None, env={"EVENTBOT_TELEGRAM_TOKEN": "123:SECRET", "EVENTBOT_DISCORD_TOKEN": "abc.SECRET"})
    assert "SECRET" not in repr(config) and "SECRET" not in f"{config}"
    assert config.telegram_token is not None and config.telegram_token.reveal() == "123:SECRET"
