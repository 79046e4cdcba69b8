"""The HTTP server (aiohttp) and its pages (Jinja2, rendered on the server).

Routes:
    ``GET /live/<session>?t=``         the projector page
    ``GET /live/<session>/events?t=``  its server-sent events: the state, whenever it changes
    ``POST /live/<session>/action?t=`` a facilitator's key: ``action=next`` or ``answered``
    ``GET /j/<session>``               the short join link (redirects to the chat)
    ``GET /admin?t=``                  the organisers' status page
    ``GET /verify/<code>``             whether a certificate is genuine
    ``GET /healthz``, ``GET /metrics`` for the operator's monitoring

Every page is in the viewer's language (``?lang=en|cy``; the projector defaults to the
language of the session's room). Links carry their token in the query, so pages tell the
browser to send no referrer, and the access log is off: a token never reaches a log or
another site.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import segno
from aiohttp import web

from bot.context import facilitates
from bot.core import Bot
from bot.health import health
from bot.i18n import LANGUAGES, Translator, translator
from bot.live.session import format_hours
from bot.models import Occurrence, SubscriptionScope
from bot.ports import SupportsJoinLink
from bot.services import Services
from bot.timeutil import format_when, local, zone
from bot.web import links, projector, status

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KEEPALIVE_SECONDS = 15.0
EXPIRY_CHECK_SECONDS = 1.0
HEALTH_TIMEOUT = 5.0
_CODE = re.compile(r"[A-Za-z0-9-]{1,64}")
_SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")

SERVICES = web.AppKey("services", Services)

def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


class WebServer:
    """The running server. ``url`` is where it listens; links use ``web_base_url`` if set."""

    def __init__(self, services: Services, bot: Bot, *, refresh_seconds: float = projector.REFRESH_SECONDS) -> None:
        self.services = services
        self.bot = bot
        self.feeds = projector.Feeds(refresh_seconds)
        self.templates = _environment()
        self.app = web.Application(middlewares=[_headers])
        self.app[SERVICES] = services
        r = self.app.router
        r.add_get("/live/{session}", self.live_page)
        r.add_get("/live/{session}/events", self.live_events)
        r.add_post("/live/{session}/action", self.live_action)
        r.add_get("/j/{session}", self.join)
        r.add_get("/admin", self.admin_page)
        r.add_get("/verify/{code}", self.verify_page)
        r.add_get("/healthz", self.healthz)
        r.add_get("/metrics", self.metrics)
        r.add_static("/static", HERE / "static", append_version=False)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str, port: int, *, any_port_if_taken: bool = False) -> None:
        # No access log: every page's address carries its token.
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            try:
                await site.start()
            except OSError as exc:
                if not any_port_if_taken or exc.errno != errno.EADDRINUSE:
                    raise
                site = web.TCPSite(runner, host, 0)
                await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        shown = host if host not in {"0.0.0.0", "::", ""} else "127.0.0.1"
        self.url = f"http://{shown}:{self.port}"
        log.info("web pages on %s", self.url)

    async def stop(self) -> None:
        await self.feeds.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- helpers -------------------------------------------------------------------------------

    def _render(self, name: str, _: Translator, status: int = 200, **values: Any) -> web.Response:
        values.setdefault("token", None)
        html = self.templates.get_template(name).render(_=_, ngettext=_.plural, lang=_.language,
                                                        languages=LANGUAGES, **values)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def _refuse(self, request: web.Request, _: Translator, reason: str) -> web.Response:
        log.info("refused %s %s: %s", request.method, request.path, reason)  # the path, never the query
        return self._render("error.html", _, status=403, title=_("This link does not work"),
                            message=_("The link is wrong or has expired. Ask for a new one: "
                                      "/projector in the session's chat, or /admin for organisers."))

    def _not_found(self, _: Translator, message: str) -> web.Response:
        return self._render("error.html", _, status=404, title=_("Not found"), message=message)

    @staticmethod
    def _asked_language(request: web.Request) -> str | None:
        lang = request.query.get("lang", "")
        return lang if lang in LANGUAGES else None

    async def _room_language(self, occurrence_id: str) -> str | None:
        people = self.services.store.people
        for chat in await self.services.store.live.chats_bound_to(occurrence_id):
            language = await people.chat_language(chat)
            if language:
                return language
        return None

    async def _occurrence(self, request: web.Request) -> Occurrence | None:
        session = request.match_info["session"]
        if not _SESSION.fullmatch(session):
            return None
        return await self.services.store.calendars.get_occurrence(session)

    async def _grant(self, request: web.Request, page: str, subject: str) -> links.Grant:
        key = await links.link_key(self.services.config, self.services.store)
        return links.verify(key, request.query.get("t", ""), page=page, subject=subject,
                            now=self.services.clock.now())

    async def _may_facilitate(self, grant: links.Grant, occurrence: Occurrence) -> bool:
        """Whether the link's holder has facilitator rights over the session now (granted
        rights may have been taken away since the link was made)."""
        if grant.role != links.FACILITATOR:
            return False
        return await facilitates(self.services, await self.bot.role_of(grant.user), grant.user, occurrence)

    def _join_target(self, occurrence: Occurrence) -> str | None:
        config = self.services.config
        if config.web_join_url:
            return config.web_join_url
        for adapter in self.services.messenger.adapters:
            if isinstance(adapter, SupportsJoinLink):
                found = adapter.join_link(occurrence.id)
                if found:
                    return found
        return None

    # -- projector -----------------------------------------------------------------------------

    async def live_page(self, request: web.Request) -> web.StreamResponse:
        occurrence = await self._occurrence(request)
        asked = self._asked_language(request)
        if occurrence is None:
            return self._refuse(request, translator(asked or self.services.config.language), "no such session")
        _ = translator(asked or await self._room_language(occurrence.id) or self.services.config.language)
        try:
            grant = await self._grant(request, "live", occurrence.id)
        except links.InvalidLink as exc:
            return self._refuse(request, _, exc.reason)
        state = await projector.projector_state(self.services, occurrence)
        token = request.query["t"]
        join = self._join_target(occurrence)
        short = f"{links.base_url(self.services.config)}/j/{occurrence.id}" if join else None
        qr = (segno.make(short, error="m").svg_inline(scale=6, border=2, dark="#000000", light="#ffffff",
                                                      title=_("QR code: {link}", link=short))
              if short else None)
        facilitator = await self._may_facilitate(grant, occurrence)
        query = {"t": token, "lang": _.language}
        return self._render(
            "live.html", _, occurrence=occurrence, state=state, facilitator=facilitator, qr=qr, short=short,
            events_url=f"/live/{occurrence.id}/events?{urlencode(query)}",
            action_url=f"/live/{occurrence.id}/action?{urlencode(query)}",
            token=token, poll_key=_poll_key(state), qa_key=_qa_key(state),
            when=_when(occurrence, _))

    def _encode(self, state: projector.ProjectorState, language: str) -> bytes:
        _ = translator(language)
        poll = state.poll
        data: dict[str, Any] = {
            "poll_key": _poll_key(state), "qa_key": _qa_key(state),
            "poll_html": self.templates.get_template("_poll.html").render(
                _=_, ngettext=_.plural, state=state, lang=language),
            "qa_html": self.templates.get_template("_questions.html").render(
                _=_, ngettext=_.plural, state=state, lang=language),
            "poll": None,
        }
        if poll is not None:
            data["poll"] = {"shares": [poll.share(i) for i in range(len(poll.options))],
                            "counts": [_count(poll, i, _) for i in range(len(poll.options))],
                            "voters": _.plural("{n} person voted.", "{n} people voted.", poll.voters)}
            if not poll.open:
                data["announce"] = _("The poll has closed: final results.")
        return b"event: state\ndata: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"

    async def live_events(self, request: web.Request) -> web.StreamResponse:
        occurrence = await self._occurrence(request)
        language = self._asked_language(request) or self.services.config.language
        if occurrence is None:
            return self._refuse(request, translator(language), "no such session")
        try:
            grant = await self._grant(request, "live", occurrence.id)
        except links.InvalidLink as exc:
            return self._refuse(request, translator(language), exc.reason)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)

        async def load() -> projector.ProjectorState:
            return await projector.projector_state(self.services, occurrence)

        async with self.feeds.watch(occurrence.id, load) as (feed, viewer):
            await feed.ready()
            with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
                quiet = 0.0
                while True:
                    if self.services.clock.now() >= grant.expires:
                        await response.write(b"event: expired\ndata: {}\n\n")
                        break
                    if viewer.seen != feed.version:
                        viewer.seen = feed.version
                        viewer.wake.clear()
                        await response.write(feed.encoded(language, self._encode))
                        quiet = 0.0
                        continue
                    try:
                        # Woken by a change, or every second to see whether the link has expired.
                        await asyncio.wait_for(viewer.wake.wait(), EXPIRY_CHECK_SECONDS)
                    except TimeoutError:
                        quiet += EXPIRY_CHECK_SECONDS
                        if quiet >= KEEPALIVE_SECONDS:
                            await response.write(b": keep-alive\n\n")
                            quiet = 0.0
        return response

    async def live_action(self, request: web.Request) -> web.Response:
        occurrence = await self._occurrence(request)
        _ = translator(self._asked_language(request) or self.services.config.language)
        if occurrence is None:
            return web.json_response({"error": _("This link does not work")}, status=403)
        try:
            grant = await self._grant(request, "live", occurrence.id)
        except links.InvalidLink as exc:
            log.info("refused a projector action: %s", exc.reason)
            return web.json_response({"error": _("This link does not work")}, status=403)
        if not await self._may_facilitate(grant, occurrence):
            return web.json_response({"error": _("This link is read-only.")}, status=403)
        form = await request.post()
        action = form.get("action")
        if action == "next":
            number = await projector.next_question(self.services, occurrence)
            message = (_("Showing question {n}.", n=number) if number is not None
                       else _("There are no open questions."))
        elif action == "answered":
            number = await projector.answer_focused(self.services, occurrence)
            message = (_("✅ Question {n} is answered.", n=number) if number is not None
                       else _("There are no open questions."))
        else:
            return web.json_response({"error": _("Unknown action.")}, status=400)
        log.info("projector action %s on %s by %s", action, occurrence.id, grant.user)
        self.feeds.nudge(occurrence.id)
        return web.json_response({"ok": True, "question": number, "message": message})

    async def join(self, request: web.Request) -> web.StreamResponse:
        occurrence = await self._occurrence(request)
        target = self._join_target(occurrence) if occurrence is not None else None
        if occurrence is None or target is None:
            _ = translator(self._asked_language(request) or self.services.config.language)
            return self._not_found(_, _("There is no chat to join for this session."))
        raise web.HTTPFound(target)

    # -- organisers ----------------------------------------------------------------------------

    async def admin_page(self, request: web.Request) -> web.Response:
        _ = translator(self._asked_language(request) or self.services.config.language)
        try:
            grant = await self._grant(request, "admin", "")
        except links.InvalidLink as exc:
            return self._refuse(request, _, exc.reason)
        if grant.user != links.OPERATOR and grant.user not in self.bot.organisers:
            return self._refuse(request, _, "no longer an organiser")
        found = await status.gather_status(self.services)
        tz = zone(self.services.config.timezone)

        def at(when: Any) -> str:
            if when is None:
                return "—"
            shown = local(when, tz)
            return f"{shown:%Y-%m-%d %H:%M} {shown.tzname() or ''}".rstrip()

        return self._render("admin.html", _, report=found, at=at, token=request.query["t"],
                            scope=SubscriptionScope)

    # -- certificates, health, metrics ---------------------------------------------------------

    async def verify_page(self, request: web.Request) -> web.Response:
        _ = translator(self._asked_language(request) or self.services.config.language)
        code = request.match_info["code"]
        verify = self.services.verify_certificate
        if verify is None:
            return self._not_found(_, _("Certificates cannot be checked on this server."))
        found = await verify(code.upper()) if _CODE.fullmatch(code) else None
        if found is None:
            return self._render("verify.html", _, status=404, found=None, code=code[:64])
        tz = zone(found.timezone or self.services.config.timezone)
        return self._render("verify.html", _, found=found, code=found.code,
                            when=format_when(found.start, tz, _), hours=format_hours(found.cpd_hours))

    async def healthz(self, request: web.Request) -> web.Response:
        ok, reasons = await health(self.services, store_timeout=HEALTH_TIMEOUT)
        if not ok:
            return web.Response(text="unhealthy: " + "; ".join(reasons) + "\n", status=503)
        return web.Response(text="ok\n")

    async def metrics(self, request: web.Request) -> web.Response:
        source = self.services.metrics
        body = source.render() if source is not None else b""
        return web.Response(body=body, headers={"Content-Type": METRICS_TYPE})


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    headers = response.headers
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Content-Security-Policy",
                       "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                       "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    if request.path.startswith(("/live", "/admin")):
        headers.setdefault("Cache-Control", "no-store")
    return response


def _poll_key(state: projector.ProjectorState) -> str:
    poll = state.poll
    return "" if poll is None else f"{poll.id}:{'open' if poll.open else 'closed'}"


def _qa_key(state: projector.ProjectorState) -> str:
    text = repr((state.qa_open, state.questions))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _count(poll: projector.PollView, option: int, _: Translator) -> str:
    return _.plural("{n} vote · {share}%", "{n} votes · {share}%", poll.votes[option], share=poll.share(option))


def _when(occurrence: Occurrence, _: Translator) -> str:
    tz = zone(occurrence.timezone or "UTC")
    return format_when(occurrence.start, tz, _, all_day=occurrence.all_day, start_date=occurrence.start_date)


async def open_web(services: Services, bot: Bot, stack: contextlib.AsyncExitStack, *,
                   any_port_if_taken: bool = False) -> WebServer:
    """Start the server on ``web_host``:``web_port`` and stop it when ``stack`` closes.

    With port 0 (or ``any_port_if_taken`` and a port in use) the system picks one, and the
    settings are updated to it, so that links made afterwards point at it."""
    config = services.config
    assert config.web_port is not None
    server = WebServer(services, bot)
    await server.start(config.web_host, config.web_port, any_port_if_taken=any_port_if_taken)
    stack.push_async_callback(server.stop)
    if server.port != config.web_port:
        services.config = replace(config, web_port=server.port)
    return server


__all__ = ["WebServer", "open_web"]
