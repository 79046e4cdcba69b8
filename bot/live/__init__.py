"""Live sessions: polls and quizzes, Q&A, attendance for CPD, and exports afterwards.

One command group per module: ``binding`` (/live and automatic binding), ``polls``,
``questions``, ``attendance``; ``export`` adds the CLI subcommands. This package is the
feature registered in ``bot.app.FEATURES``.
"""

from __future__ import annotations

import argparse
from contextlib import AsyncExitStack
from typing import Any

from bot.commands.router import Router
from bot.live import attendance, binding, export, polls, questions
from bot.services import Services


def register(router: Router) -> None:
    binding.register(router)
    polls.register(router)
    questions.register(router)
    attendance.register(router)


async def setup(services: Services, stack: AsyncExitStack) -> None:
    await polls.setup(services)
    await questions.setup(services)
    await binding.setup(services, stack)


async def started(services: Services) -> None:
    await polls.started(services)


def add_cli(subparsers: argparse._SubParsersAction[Any]) -> None:
    export.add_cli(subparsers)
