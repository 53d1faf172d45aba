"""Reading a secrets file in the plain form we write, without a YAML library.

Every file this project writes is ``KEY: "escaped value"`` lines (plus whatever comment and
blank lines a person adds). Importing PyYAML is most of a short command's start-up, so
:func:`read_plain` reads exactly that form and returns None for anything else, which
:mod:`wassette.secretstore.yamlfile` then hands to the YAML parser (and its error messages).
"""

from __future__ import annotations

import re
from typing import Any

# One `KEY: "value"` line with the escapes yamlfile.quote() writes.
_PLAIN_LINE = (
    r'([A-Za-z_][A-Za-z0-9_]*): "('
    r'(?:[^"\\]|\\(?:[\\"ntr]|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}))*'
    r')"'
)
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
# Anything but the newline and printable ASCII; such characters are then checked one by one
# (a character class spanning the non-ASCII ranges costs ~15 ms to compile).
_PLAIN_NOT_ASCII = r"[^\n\x20-\x7e]"


def _plain_char_ok(ch: str) -> bool:
    # Printable for every YAML reader, and never a line break in YAML 1.1 (NEL, LS, PS) nor a
    # BOM: the characters yamlfile.quote() writes unescaped.
    code = ord(ch)
    return (
        (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or 0x10000 <= code <= 0x10FFFF
    )


_plain: Any = None  # (line pattern, bad-character pattern), compiled on first use


def _unescape(body: str) -> str | None:
    out: list[str] = []
    i = 0
    while True:
        j = body.find("\\", i)
        if j < 0:
            out.append(body[i:])
            return "".join(out)
        out.append(body[i:j])
        kind = body[j + 1]
        if kind in _UNESCAPE:
            out.append(_UNESCAPE[kind])
            i = j + 2
            continue
        width = {"x": 2, "u": 4, "U": 8}[kind]
        code = int(body[j + 2 : j + 2 + width], 16)
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            return None  # the parser decides what a surrogate or out-of-range escape means
        out.append(chr(code))
        i = j + 2 + width


def read_plain(text: str) -> dict[str, str] | None:
    """The secrets in ``text`` if it is in the plain form we write, else None.

    Only ``KEY: "value"`` lines (key at column 0, the escapes ``yamlfile.quote`` writes, nothing
    after the closing quote), ``#`` comment lines and empty lines are taken; any other line,
    a duplicate key, a tab, a carriage return or a character some YAML reader treats specially
    returns None and the YAML parser reads the file (and words any error). For text it takes,
    the result equals the parser's (tests/secretstore/test_yamlfile_plain.py checks that).
    """
    global _plain  # noqa: PLW0603 - compiled on first use, not at import
    if _plain is None:
        _plain = (re.compile(_PLAIN_LINE), re.compile(_PLAIN_NOT_ASCII))
    line_pattern, not_ascii = _plain
    if not all(_plain_char_ok(m.group()) for m in not_ascii.finditer(text)):
        return None
    values: dict[str, str] = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        match = line_pattern.fullmatch(line)
        if match is None or match.group(1) in values:
            return None
        value = _unescape(match.group(2))
        if value is None:
            return None
        values[match.group(1)] = value
    return values
