"""Rendering core objects as text for one reader (their language and zone)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.i18n import Translator
from bot.models import EventStatus, Occurrence
from bot.timeutil import format_when, local


def occurrence_line(o: Occurrence, tz: ZoneInfo, _: Translator, now: datetime | None = None) -> str:
    """``[k3f9a2] Tue 18 Mar 2025, 10:00 GMT–11:30 · Title (now on)``"""
    when = format_when(o.start, tz, _, all_day=o.all_day, start_date=o.start_date)
    if not o.all_day:
        end_local = local(o.end, tz)
        if end_local.date() == local(o.start, tz).date():
            when += f"–{end_local:%H:%M}"
    line = f"[{o.id}] {when} · {o.title}"
    if o.status is EventStatus.CANCELLED:
        line += " " + _("(cancelled)")
    elif o.status is EventStatus.TENTATIVE:
        line += " " + _("(tentative)")
    if now is not None and o.start <= now < o.end:
        line += " " + _("(now on)")
    return line
