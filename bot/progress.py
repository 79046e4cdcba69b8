"""A progress bar on the terminal for long command-line work (a large import)."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.i18n import N_, Translator

STAGES = {"fetch": N_("Fetching"), "parse": N_("Reading"), "expand": N_("Expanding"), "store": N_("Saving")}
WIDTH = 30


class ProgressBar:
    """``bar(stage, done, total)`` redraws one line on a terminal; off a terminal (a pipe,
    a log file) it writes nothing, so scripted output stays clean."""

    def __init__(self, _: Translator, stream: TextIO | None = None, *, force: bool = False) -> None:
        self._ = _
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self._drawn = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        label = self._(STAGES.get(stage, stage))
        share = 1.0 if total <= 0 else min(1.0, done / total)
        filled = round(share * WIDTH)
        counts = f" {done}/{total}" if total > 1 else ""
        self.stream.write(f"\r{label:<10} [{'#' * filled}{'.' * (WIDTH - filled)}] {share:4.0%}{counts}\033[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
