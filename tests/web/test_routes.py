"""The operator's routes and the links' plumbing, over HTTP without a browser: /healthz,
/metrics, /verify, the join link, the settings, ``eventbot admin-link`` and the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.cli import main
from bot.clock import FakeClock
from bot.config import load_config
from bot.errors import ConfigError, DeliveryFailed, RateLimited, StoreUnavailable
from bot.live.certificate import display_code, issue_certificate
from bot.models import Checkin, Outgoing, UserRef
from bot.web import links
from tests.harness import START, Harness
from tests.web.conftest import links_in

SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")  # the tests on the ``web`` fixture


@SESSION_LOOP
async def test_healthz_is_200_when_the_store_answers_and_every_adapter_is_connected(
        web: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"{web.app.web.url}/healthz"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as r:
            assert (r.status, await r.text()) == (200, "ok\n")
        web.adapter.offline = True
        async with session.get(url) as r:
            assert (r.status, await r.text()) == (503, "unhealthy: fake: not connected\n")
        web.adapter.offline = False

        async def gone() -> None:
            raise StoreUnavailable("the database server closed the connection")

        monkeypatch.setattr(web.app.store, "ping", gone)
        async with session.get(url) as r:
            assert (r.status, await r.text()) == (503, "unhealthy: store: StoreUnavailable\n")


@SESSION_LOOP
async def test_metrics_serves_this_apps_counters(web: Harness) -> None:
    await web.say("fac", '/poll "Tea?" Yes No')
    await web.say("alice", "/vote 1")
    async with aiohttp.ClientSession() as session, session.get(f"{web.app.web.url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert await r.read() == web.app.services.metrics.render()
        assert b"eventbot_votes_total" in await r.read()


@SESSION_LOOP
async def test_verify_confirms_a_certificate_the_bot_issued_and_nothing_else(web: Harness) -> None:
    session_ = await web.app.store.calendars.get_occurrence("ev1")
    assert session_ is not None
    record = await issue_certificate(web.app.store, session_, Checkin("ev1", "fake:alice", "Alys Jones", START),
                                     name="Alys Jones", now=START)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{web.app.web.url}/verify/{display_code(record.code).lower()}") as r:
            page = await r.text()
            assert r.status == 200 and "Alys Jones" in page and session_.title in page
        async with session.get(f"{web.app.web.url}/verify/ABCD-EFGH-JKMN") as r:
            assert r.status == 404 and "Alys Jones" not in await r.text()


async def test_no_join_link_without_a_chat_to_join(tmp_path: Path) -> None:
    async with (Harness.open(tmp_path, web_port=0) as h, aiohttp.ClientSession() as session,
                session.get(f"{h.app.web.url}/j/ev1", allow_redirects=False) as r):
        assert r.status == 404


async def test_links_are_refused_when_the_pages_are_off(harness: Harness) -> None:
    from tests.live.conftest import go_live

    await go_live(harness)
    replies = await harness.say("fac", "/projector")
    assert replies == ["The web pages are switched off on this bot (an operator sets web_port)."]
    assert harness.app.web is None


async def test_the_messenger_counts_429s_for_an_hour_and_keeps_the_last_error(harness: Harness) -> None:
    harness.adapter.failures += [RateLimited(5), RateLimited(5), DeliveryFailed("gateway timeout")]
    messenger = harness.app.services.messenger
    for _ in range(3):
        with pytest.raises(DeliveryFailed):
            await messenger.send(Outgoing("hello", user=UserRef("fake:ann")))
    health = harness.app.services.messenger.health()[0]
    assert (health.name, health.connected, health.rate_limited_last_hour) == ("fake", True, 2)
    assert health.last_error == "gateway timeout"
    harness.clock.advance(timedelta(minutes=61))
    assert harness.app.services.messenger.health()[0].rate_limited_last_hour == 0


def test_tokens_name_their_page_subject_and_expiry() -> None:
    key = b"k" * 32
    grant = links.Grant("live", "ev1", links.VIEWER, "fake:fac", START + timedelta(hours=1))
    token = links.sign(key, grant)
    assert links.verify(key, token, page="live", subject="ev1", now=START) == grant
    for kwargs in ({"page": "admin", "subject": ""}, {"page": "live", "subject": "ev2"}):
        with pytest.raises(links.InvalidLink):
            links.verify(key, token, now=START, **kwargs)
    with pytest.raises(links.InvalidLink, match="expired"):
        links.verify(key, token, page="live", subject="ev1", now=START + timedelta(hours=1))
    with pytest.raises(links.InvalidLink, match="bad signature"):
        links.verify(b"x" * 32, token, page="live", subject="ev1", now=START)
    for junk in ("", ".", "a.b", "%%%.%%%", token.replace(".", "")):
        with pytest.raises(links.InvalidLink):
            links.verify(key, junk, page="live", subject="ev1", now=START)


async def test_the_signing_key_stays_in_the_store_across_restarts(harness: Harness) -> None:
    services = harness.app.services
    first = await links.link_key(services.config, services.store)
    await harness.restart()
    services = harness.app.services
    assert await links.link_key(services.config, services.store) == first
    configured = replace(services.config, web_secret=load_config(env={"EVENTBOT_WEB_SECRET": "s3cret-key"}).web_secret)
    assert await links.link_key(configured, services.store) == b"s3cret-key"
    assert "s3cret-key" not in repr(configured)


def test_web_settings_come_from_the_environment() -> None:
    config = load_config(env={"EVENTBOT_WEB_PORT": "8088", "EVENTBOT_WEB_BASE_URL": "https://bot.example.org/",
                              "EVENTBOT_WEB_HOST": "0.0.0.0"})
    assert (config.web_port, config.web_host) == (8088, "0.0.0.0")
    assert links.base_url(config) == "https://bot.example.org"
    assert links.base_url(replace(config, web_base_url="")) == "http://127.0.0.1:8088"
    for bad in ("x", "70000", "-1"):
        with pytest.raises(ConfigError, match="web_port"):
            load_config(env={"EVENTBOT_WEB_PORT": bad})
    with pytest.raises(ConfigError, match="web pages are off"):
        links.base_url(load_config(env={}))


def test_admin_link_prints_a_working_link_and_refuses_when_the_pages_are_off(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "bot.db")
    monkeypatch.delenv("EVENTBOT_WEB_PORT", raising=False)
    assert main(["admin-link", "--db", db]) == 1
    assert "web pages are off" in capsys.readouterr().err
    monkeypatch.setenv("EVENTBOT_WEB_BASE_URL", "https://bot.example.org")
    assert main(["admin-link", "--db", db, "--hours", "2"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("https://bot.example.org/admin?t=")
    assert main(["admin-link", "--db", db, "--hours", "0"]) == 1
    assert "--hours" in capsys.readouterr().err


async def test_an_admin_link_from_the_terminal_opens_the_page(tmp_path: Path) -> None:
    async with Harness.open(tmp_path, web_port=0) as h:
        services = h.app.services
        url = await links.admin_link(services.config, services.store, FakeClock(START).now(), links.OPERATOR)
        async with aiohttp.ClientSession() as session, session.get(url) as r:
            assert r.status == 200
            assert "<h1>Status</h1>" in await r.text()


@pytest.mark.slow
def test_the_demo_serves_the_pages_and_prints_where(tmp_path: Path) -> None:
    env = {**os.environ, "EVENTBOT_WEB_PORT": "0", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "bot", "demo"], input="", capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("Web pages: ")]
    assert links_in([line])[0].startswith("http://127.0.0.1:")
