"""Tool names for exported functions (docs/spec.md section 5, Wassette-compatible)."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[:/.@]")


def tool_name(export_path: tuple[str, ...]) -> str:
    """The MCP tool name of an exported function.

    ``("get-weather",)`` (a world-level export) -> ``get-weather``;
    ``("example:weather/api", "get-weather")`` -> ``example_weather_api_get-weather``: the
    instance and function names joined by ``_``, lowercased, with ``:`` ``/`` ``.`` ``@``
    replaced by ``_``.
    """
    if not export_path:
        raise ValueError("an export path has at least one name")
    return _SEPARATORS.sub("_", "_".join(export_path)).lower()
