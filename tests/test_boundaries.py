"""The core knows nothing about platforms: nothing under bot/ imports an adapter or an SDK."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("adapters", "discord", "telegram", "aiohttp")
# The web server is the one module of bot/ that may use aiohttp (opened only with web_port set).
WEB_SERVER = ("bot/web/server.py", "aiohttp")


def test_no_module_under_bot_imports_an_adapter_or_platform_sdk() -> None:
    offenders = []
    for path in sorted((REPO / "bot").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(REPO)}:{node.lineno} imports {n}"
                          for n in names if n.split(".")[0] in FORBIDDEN
                          and (path.relative_to(REPO).as_posix(), n.split(".")[0]) != WEB_SERVER]
    assert offenders == []


def test_the_core_imports_with_adapter_packages_blocked() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {FORBIDDEN!r}: raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import pkgutil, importlib, bot\n"
        "for m in pkgutil.walk_packages(bot.__path__, 'bot.'):\n"
        "    if m.name not in ('bot.__main__', 'bot.web.server'): importlib.import_module(m.name)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
