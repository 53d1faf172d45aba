"""Import/export formats for ``wassette secret import`` / ``export``: yaml, json and env.

Every format round-trips any string value exactly (text without NUL, the store's rule).
Parsing is all-or-nothing and its errors name a line (and why), **never** the content: a
malformed line may well be a secret.

``yaml``: the secrets file format (a flat mapping, every scalar read as its literal text).

``json``: one object of string -> string. The output of ``secret list --show-values -o json``
(``{"status": ..., "secrets": {...}}``) is accepted too.

``env``: one ``KEY=VALUE`` per line, defined here:

- blank lines and lines starting with ``#`` are ignored; ``export KEY=...`` is accepted;
- ``KEY=text``: unquoted, the rest of the line with surrounding spaces and tabs removed, taken
  literally (``#`` included); it may not start with a quote;
- ``KEY='text'``: single-quoted, literal, one line, no ``'`` inside;
- ``KEY="text"``: double-quoted, on one line, with escapes ``\\\\ \\" \\$ \\` \\n \\r \\t``,
  ``\\xHH``, ``\\uHHHH`` and ``\\UHHHHHHHH``; nothing may follow the closing quote but spaces
  or a ``# comment``.

Export always writes ``KEY="..."`` with every backslash, quote, ``$``, backtick and
non-printable character escaped, so a POSIX shell that sources the file also sees the same
string for printable values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from wassette.errors import UsageError
from wassette.ids import ENV_KEY_PATTERN

FORMATS = ("yaml", "json", "env")
_KEY = re.compile(ENV_KEY_PATTERN[1:-1])
_FIX = "correct the file (values are never shown in messages); nothing was imported"


def _bad(source: str, what: str, line: int | None = None) -> UsageError:
    at = f" line {line}" if line is not None else ""
    return UsageError(f"cannot import {source}:{at} {what}", fix=_FIX)


def _check(items: dict[str, str], source: str, lines: Mapping[str, int] | None = None) -> None:
    for key, value in items.items():
        where = None if lines is None else lines.get(key)
        if not _KEY.fullmatch(key):
            raise _bad(
                source, f"a key is not a valid name (keys must match {ENV_KEY_PATTERN})", where
            )
        if "\x00" in value:
            raise _bad(source, f"the value of {key} contains a NUL character", where)


# ------------------------------------------------------------------------------------ env

_ESC = {"\\": "\\\\", '"': '\\"', "$": "\\$", "`": "\\`", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNESC = {"\\": "\\", '"': '"', "$": "$", "`": "`", "n": "\n", "r": "\r", "t": "\t"}
_HEX_LEN = {"x": 2, "u": 4, "U": 8}


def env_quote(value: str) -> str:
    """``value`` as a double-quoted env value that :func:`parse_env` reads back exactly."""
    out = []
    for ch in value:
        if ch in _ESC:
            out.append(_ESC[ch])
            continue
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029, 0xFEFF):
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _unquote_double(body: str, source: str, number: int) -> tuple[str, str]:
    """Decode a double-quoted value starting after the opening quote; return (value, rest)."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            return "".join(out), body[i + 1 :]
        if ch == "\\":
            if i + 1 >= len(body):
                break
            esc = body[i + 1]
            if esc in _UNESC:
                out.append(_UNESC[esc])
                i += 2
                continue
            if esc in _HEX_LEN:
                digits = body[i + 2 : i + 2 + _HEX_LEN[esc]]
                if len(digits) != _HEX_LEN[esc] or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                    raise _bad(source, "a \\x, \\u or \\U escape is incomplete", number)
                code = int(digits, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise _bad(source, "an escape names an invalid character", number)
                out.append(chr(code))
                i += 2 + _HEX_LEN[esc]
                continue
            raise _bad(source, "an unknown backslash escape in a double-quoted value", number)
        out.append(ch)
        i += 1
    raise _bad(source, "a double-quoted value has no closing quote on its line", number)


def parse_env(text: str, source: str) -> dict[str, str]:
    """Parse the env format (see the module docstring)."""
    items: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip(" \t\r")
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export ") or stripped.startswith("export\t"):
            stripped = stripped[7:].lstrip(" \t")
        key, sep, _rest = stripped.partition("=")
        if not sep:
            raise _bad(source, "the line is not KEY=VALUE (it has no '=')", number)
        key = key.rstrip(" \t")
        if not _KEY.fullmatch(key):
            raise _bad(
                source,
                f"the text before '=' is not a valid key (must match {ENV_KEY_PATTERN})",
                number,
            )
        # Only the raw line's own \r (CRLF files) is dropped; a value keeps everything else.
        raw = line[line.index("=") + 1 :].removesuffix("\r").lstrip(" \t")
        if raw.startswith('"'):
            value, tail = _unquote_double(raw[1:], source, number)
        elif raw.startswith("'"):
            end = raw.find("'", 1)
            if end < 0:
                raise _bad(source, "a single-quoted value has no closing quote on its line", number)
            value, tail = raw[1:end], raw[end + 1 :]
        else:
            value, tail = raw.rstrip(" \t"), ""
        tail = tail.strip(" \t")
        if tail and not tail.startswith("#"):
            raise _bad(source, "unexpected text after the closing quote", number)
        if key in items:
            raise _bad(source, f"duplicate key {key}", number)
        items[key] = value
        lines[key] = number
    _check(items, source, lines)
    return items


def render_env(items: Mapping[str, str]) -> str:
    """``KEY="escaped value"`` lines, sorted by key."""
    return "".join(f"{k}={env_quote(items[k])}\n" for k in sorted(items))


# ------------------------------------------------------------------------------ json/yaml


class _DuplicateKeyError(ValueError):
    """Internal: a JSON object names one key twice (``json`` would keep the last silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def parse_json(text: str, source: str) -> dict[str, str]:
    """A JSON object of strings (or the ``secret list --show-values -o json`` shape).

    A key given twice is refused (as in the yaml and env formats), not silently overwritten.
    """
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError as exc:
        shown = exc.key if _KEY.fullmatch(exc.key) else "a key"
        raise _bad(source, f"duplicate key {shown}") from None
    except json.JSONDecodeError as exc:
        # exc.msg never quotes the document; only its position is shown.
        raise _bad(source, f"invalid JSON ({exc.msg}, column {exc.colno})", exc.lineno) from None
    if isinstance(data, dict) and isinstance(data.get("secrets"), dict) and "status" in data:
        data = data["secrets"]
    if not isinstance(data, dict):
        raise _bad(source, 'the JSON document must be an object of KEY: "value" pairs')
    items: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise _bad(
                source, f"the value of {key if _KEY.fullmatch(key) else 'a key'} is not a string"
            )
        items[key] = value
    _check(items, source)
    return items


def parse_yaml(raw: bytes, source: str) -> dict[str, str]:
    """The secrets-file format; errors come from its parser, which never quotes content."""
    from wassette.errors import SecretsFileError
    from wassette.secretstore import yamlfile

    try:
        items = yamlfile.parse_bytes(raw, Path(source)).as_dict()
    except SecretsFileError as exc:
        # Same wording (line, column, what is wrong; never content), as a usage error.
        raise UsageError(f"cannot import {exc.what}", why=exc.why, fix=_FIX) from None
    _check(items, source)
    return items


def render_yaml(items: Mapping[str, str]) -> str:
    """The secrets-file format: ``KEY: "escaped value"`` lines, sorted by key."""
    from wassette.secretstore.yamlfile import quote

    return "".join(f"{k}: {quote(items[k])}\n" for k in sorted(items))


def render_json(items: Mapping[str, str]) -> str:
    """A JSON object, 2-space indent, sorted by key."""
    return json.dumps({k: items[k] for k in sorted(items)}, indent=2, ensure_ascii=False) + "\n"


def parse(raw: bytes, fmt: str, source: str) -> dict[str, str]:
    """Parse ``raw`` as ``fmt``; all-or-nothing, errors never show content."""
    if fmt == "yaml":
        return parse_yaml(raw, source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _bad(source, "it is not valid UTF-8", line) from None
    return parse_json(text, source) if fmt == "json" else parse_env(text, source)


def render(items: Mapping[str, str], fmt: str) -> str:
    """Render ``items`` as ``fmt``."""
    if fmt == "yaml":
        return render_yaml(items)
    if fmt == "json":
        return render_json(items)
    return render_env(items)


def guess_format(name: str) -> str:
    """The format implied by a file name (default yaml)."""
    lower = name.lower()
    if lower.endswith(".json"):
        return "json"
    if lower.endswith(".env") or lower.startswith(".env") or lower.endswith(".sh"):
        return "env"
    return "yaml"
