"""Rendering command results: JSON (default, 2-space indent), YAML, or an aligned table.

No click here: the short commands (``secret list``) run without importing it.

Machine formats are stable: JSON keys keep the order the command built them in; YAML is emitted
with standard typing so every value that is a string reads back as that same string in any
YAML parser (``"yes"``, ``"0123"`` and ``"null"`` are quoted).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

FORMATS = ("json", "yaml", "table")


def to_json(data: Any) -> str:
    """Pretty JSON, 2-space indent, UTF-8 text kept readable."""
    return json.dumps(data, indent=2, ensure_ascii=False)


# Keys safe to leave unquoted for YAML 1.1 *and* 1.2 readers: identifiers that are not one of
# YAML 1.1's boolean or null words (PyYAML reads a bare `ON:` or `n:` as a boolean key).
_SAFE_KEY = r"[A-Za-z_][A-Za-z0-9_-]*"  # compiled (and cached) by re on first use
_YAML11_WORDS = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null"])


def _quoted(data: Any) -> Any:
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(data, dict):
        out = CommentedMap()
        for key, value in data.items():
            plain = re.fullmatch(_SAFE_KEY, key) and key.lower() not in _YAML11_WORDS
            out[key if plain else DoubleQuotedScalarString(key)] = _quoted(value)
        return out
    if isinstance(data, list):
        return [_quoted(v) for v in data]
    if isinstance(data, str):
        return DoubleQuotedScalarString(data)
    return data


def to_yaml(data: Any) -> str:
    """Block-style YAML in which every string is double-quoted.

    Quoting every string makes the output read back identically in YAML 1.1 readers (PyYAML:
    ``yes`` is a boolean there) and YAML 1.2 readers alike, so ``-o yaml`` is a safe backup.
    """
    import io

    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.default_flow_style = False
    y.allow_unicode = True
    y.width = 2**30
    buf = io.StringIO()
    y.dump(_quoted(data), buf)
    return buf.getvalue()


_UNPRINTABLE = r"[\x00-\x1f\x7f-\x9f\u2028\u2029]"


def cell(text: str) -> str:
    """A table cell on one line: control characters shown as escapes, not interpreted."""
    return re.sub(_UNPRINTABLE, lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def to_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An aligned plain-text table with a header row."""
    cells = [[cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines += ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def render(data: Any, fmt: str) -> str:
    """``data`` as JSON or YAML; ``table`` shows a mapping's scalar fields as KEY/VALUE rows
    and lists of mappings as a table of their fields."""
    fmt = fmt.lower()
    if fmt == "yaml":
        return to_yaml(data)
    if fmt == "table":
        return _auto_table(data)
    return to_json(data)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _auto_table(data: Any) -> str:
    if isinstance(data, dict):
        lists = [
            (k, v)
            for k, v in data.items()
            if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)
        ]
        if len(lists) == 1:
            rows = lists[0][1]
            headers = list(dict.fromkeys(k for row in rows for k in row))
            return to_table(
                [h.upper() for h in headers],
                [[_scalar(row.get(h, "")) for h in headers] for row in rows],
            )
        return to_table(["KEY", "VALUE"], [[k, _scalar(v)] for k, v in data.items()])
    if isinstance(data, list) and all(isinstance(i, dict) for i in data):
        headers = list(dict.fromkeys(k for row in data for k in row))
        return to_table(
            [h.upper() for h in headers],
            [[_scalar(row.get(h, "")) for h in headers] for row in data],
        )
    return _scalar(data)
