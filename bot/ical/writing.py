"""Writing the small, self-contained VCALENDAR that is stored for each series."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from bot.ical.lines import Component, property_name


def join_line(name: str, params: list[tuple[str, str]], value: str) -> str:
    parts = [name]
    for key, param in params:
        quoted = any(ch in param for ch in ';:,') or param != param.strip()
        parts.append(f'{key}="{param}"' if quoted else f"{key}={param}")
    return ";".join(parts) + ":" + value


def series_hash(zone: str, body: str) -> str:
    # Google stamps every download with a fresh DTSTAMP; it says nothing about the
    # sessions, so it must not make every series look changed on every refresh.
    meaningful = "\n".join(line for line in body.split("\r\n") if not line.startswith("DTSTAMP"))
    return hashlib.sha256(f"{zone}\n{meaningful}".encode()).hexdigest()


def block_order(block: list[str]) -> tuple[bool, str]:
    rid = next((text for text in block if property_name(text) == "RECURRENCE-ID"), "")
    return bool(rid), rid.partition(":")[2]


def assemble(x_wr_timezone: str | None, vtimezones: Mapping[str, Component],
             event_blocks: list[list[str]]) -> str:
    """One series' VCALENDAR: its zone hint, the custom zones it needs, its events."""
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//eventbot//series//EN"]
    if x_wr_timezone:
        out.append(f"X-WR-TIMEZONE:{x_wr_timezone}")
    for tzid, vtimezone in vtimezones.items():
        out.extend(f"TZID:{tzid}" if line.name == "TZID" else line.text for line in vtimezone.lines)
    for block in event_blocks:
        out.extend(block)
    out.append("END:VCALENDAR")
    return "\r\n".join(out) + "\r\n"
