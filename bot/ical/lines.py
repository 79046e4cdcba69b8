"""Content lines: unfolding, splitting a line into name, parameters and value, and
splitting a feed into its top-level components (one VEVENT, VTODO or VTIMEZONE each)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.errors import FeedError
from bot.i18n import N_


@dataclass(slots=True)
class Line:
    number: int
    text: str
    name: str = ""
    _parts: tuple[str, list[tuple[str, str]], str] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            self.name = property_name(self.text)

    @property
    def parts(self) -> tuple[str, list[tuple[str, str]], str]:
        """Name, parameters and value, split once."""
        if self._parts is None:
            self._parts = split_line(self.text)
        return self._parts


@dataclass(slots=True)
class Component:
    kind: str
    lines: list[Line]
    calendar_props: dict[str, str]
    index: dict[str, list[Line]] | None = None

    @property
    def number(self) -> int:
        return self.lines[0].number

    def top_level(self) -> Iterable[Line]:
        """Lines of this component itself, not of nested ones (VALARM)."""
        depth = 0
        for line in self.lines[1:-1]:
            name = line.name
            if name == "BEGIN":
                depth += 1
            elif name == "END":
                depth -= 1
            elif depth == 0:
                yield line

    def values(self, prop: str) -> list[str]:
        return [line.parts[2] for line in self.lines_named(prop)]

    def lines_named(self, prop: str) -> list[Line]:
        if self.index is None:
            self.index = {}
            for line in self.top_level():
                self.index.setdefault(line.name, []).append(line)
        return self.index.get(prop, [])

    def text(self) -> str:
        return "\r\n".join(line.text for line in self.lines)


_NAME_END = re.compile(r"[;:]")


def property_name(text: str) -> str:
    colon, semi = text.find(":"), text.find(";")
    end = colon if semi < 0 else semi if colon < 0 else min(colon, semi)
    return (text if end < 0 else text[:end]).strip().upper()


def split_line(text: str) -> tuple[str, list[tuple[str, str]], str]:
    """Split a content line into name, parameters and value, honouring quoted parameters."""
    if '"' not in text:
        head, colon, value = text.partition(":")
        if not colon:
            return property_name(text), [], ""
        name, *raw_params = head.split(";")
        plain: list[tuple[str, str]] = []
        for raw in raw_params:
            key, sep, param = raw.partition("=")
            if not sep:
                break
            plain.append((key.strip().upper(), param))
        return name.strip().upper(), plain, value
    match = _NAME_END.search(text)
    if match is None:
        return text.strip().upper(), [], ""
    name = text[: match.start()].strip().upper()
    params: list[tuple[str, str]] = []
    i = match.start()
    while i < len(text) and text[i] == ";":
        j = i + 1
        eq = text.find("=", j)
        if eq < 0:
            break
        key = text[j:eq].strip().upper()
        k = eq + 1
        value_chars: list[str] = []
        while k < len(text) and text[k] not in ";:":
            if text[k] == '"':
                close = text.find('"', k + 1)
                close = len(text) if close < 0 else close
                value_chars.append(text[k + 1: close])
                k = close + 1
            else:
                value_chars.append(text[k])
                k += 1
        params.append((key, "".join(value_chars)))
        i = k
    value = text[i + 1:] if i < len(text) and text[i] == ":" else ""
    return name, params, value


@dataclass(slots=True)
class SplitFeed:
    calendars: list[dict[str, str]]
    components: list[Component]


def _unfold(text: str) -> list[Line]:
    lines: list[Line] = []
    for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1].text += raw[1:]
        elif raw.strip():
            lines.append(Line(number, raw))
    return lines


def split_components(text: str) -> SplitFeed:
    lines = _unfold(text)
    if not lines:
        raise FeedError(N_("The feed is empty."))
    first = lines[0].text.strip().upper()
    if first.startswith("<"):
        raise FeedError(N_("This is a web page, not an iCalendar feed (perhaps a login page)."))
    if first != "BEGIN:VCALENDAR":
        raise FeedError(N_("This is not an iCalendar feed: it does not start with BEGIN:VCALENDAR."))

    calendars: list[dict[str, str]] = []
    components: list[Component] = []
    props: dict[str, str] | None = None
    stack: list[str] = []
    current: list[Line] = []
    for line in lines:
        name = line.name
        value = line.text.partition(":")[2].strip().upper()
        if props is None:
            if name == "BEGIN" and value == "VCALENDAR":
                props = {}
                calendars.append(props)
            continue  # text between calendars is ignored, like blank lines
        if name == "BEGIN":
            stack.append(value)
            current.append(line)
        elif name == "END":
            if not stack:
                if value != "VCALENDAR":
                    raise FeedError(N_("The feed is damaged: END:{kind} at line {line} closes nothing."),
                                    kind=value, line=line.number)
                props = None
                continue
            if stack[-1] != value:
                raise FeedError(N_("The feed is damaged: END:{kind} at line {line} does not match BEGIN:{open}."),
                                kind=value, line=line.number, open=stack[-1])
            stack.pop()
            current.append(line)
            if not stack:
                components.append(Component(current[0].text.partition(":")[2].strip().upper(), current, props))
                current = []
        elif stack:
            current.append(line)
        else:
            props.setdefault(name, line.text.partition(":")[2].strip())
    if props is not None or stack:
        raise FeedError(N_("The feed is cut off: END:VCALENDAR is missing (it may not have downloaded fully)."))
    return SplitFeed(calendars, components)


def unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)
