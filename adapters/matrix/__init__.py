"""Matrix, through matrix-nio (the ``eventbot[matrix]`` extra).

matrix-nio is imported only inside this package. When it is missing, importing the package
still works and ``MatrixAdapter.from_config`` raises ``AdapterUnavailable`` at start-up.
"""

from __future__ import annotations

from typing import Any

from bot.errors import AdapterUnavailable

try:
    from adapters.matrix.adapter import MatrixAdapter
except ImportError as _exc:  # the SDK (or one of its own dependencies) is not installed
    if not (_exc.name or "").startswith(("nio", "aiohttp", "yarl", "jsonschema", "h11", "h2")):
        raise
    _missing = _exc

    class MatrixAdapter:  # type: ignore[no-redef]
        """Stands in for the real adapter when matrix-nio is not installed."""

        name = "matrix"

        @classmethod
        def from_config(cls, config: Any) -> Any:
            raise AdapterUnavailable("matrix", "install eventbot[matrix]") from _missing


__all__ = ["MatrixAdapter"]
