"""Reading a policy file in the plain form we write, without a YAML library.

Every policy this project writes (:func:`wassette.policy.sync.dump_policy`, a grant, a
revoke) is block mappings and block sequences indented by spaces, with known field names as
keys and double-quoted strings, ``true``/``false``, whole numbers and ``["a", "b"]`` lists of
double-quoted strings as values. Importing ruamel costs a one-shot ``tool invoke`` ~15 ms and
parsing with it a few more, so :func:`read_plain_document` reads exactly that form into plain
``dict``/``list``/``str``/``bool``/``int`` values and returns None for anything else: then
ruamel reads the file (and words any error, with its line and column).

A policy file can come from an untrusted publisher, so the rule is: decline when in doubt, and
never read a text differently from ruamel. Declined: tabs, carriage returns, a byte-order
mark, characters some YAML reader treats specially, comments after a value, an unknown key, a
duplicate key, a plain (unquoted) string, a float, null spelled out, an escape other than
``\\\\ \\" \\n \\t \\r \\xHH \\uHHHH \\UHHHHHHHH``, a sequence at its key's indentation,
anything that is not a mapping at the top, more than :data:`MAX_DEPTH` levels, and every YAML
feature beyond these (anchors, tags, flow mappings, multi-line scalars, documents markers,
directives). tests/policy/test_plainform.py checks, against ruamel itself, that whatever this
reads is read the same way.
"""

from __future__ import annotations

import re
from typing import Any

from wassette.plainyaml import NOT_PLAIN_ASCII, QUOTED_BODY, literal_char_ok, unescape

#: The field names of the policy format: any other key is declined (the validator's error
#: for it, with line and column, comes from the full parser).
KEYS = frozenset(
    {
        "version",
        "description",
        "permissions",
        "storage",
        "network",
        "environment",
        "resources",
        "allow",
        "deny",
        "uri",
        "access",
        "host",
        "cidr",
        "key",
        "value",
        "required",
        "redact",
        "limits",
        "memory",
        "timeout",
        "cpu",
        "max_invocations",
    }
)

#: Nesting levels taken (a policy has five at most).
MAX_DEPTH = 8

_MAX_CHARS = 1 << 20  # the full parser refuses larger files (and words the error)

_QUOTED = r'"(' + QUOTED_BODY + r')"'
_MAX_DIGITS = 18

_patterns: Any = None  # (quoted scalar, non-ASCII check), compiled on first use


def _compiled() -> Any:
    global _patterns  # noqa: PLW0603 - compiled on first use, not at import
    if _patterns is None:
        _patterns = (re.compile(_QUOTED), re.compile(NOT_PLAIN_ASCII))
    return _patterns


class _Decline(Exception):
    """Not the plain form: the YAML parser reads the text."""


def _string(match: re.Match[str] | None) -> str:
    value = None if match is None else unescape(match.group(1))
    if value is None:
        raise _Decline
    return value


def _flow_list(text: str) -> list[str]:
    """``[]`` or ``["a", "b"]``: double-quoted strings, ``", "`` between them."""
    quoted = _compiled()[0]
    if text == "[]":
        return []
    items: list[str] = []
    pos = 1
    while True:
        match = quoted.match(text, pos)
        if match is None:
            raise _Decline
        items.append(_string(match))
        pos = match.end()
        if text[pos:] == "]":
            return items
        if not text.startswith(", ", pos):
            raise _Decline
        pos += 2


def _scalar(text: str) -> Any:
    """A value on the key's own line: a double-quoted string, ``true``/``false``, a whole
    number written plainly (no sign, no leading zero, no ``_``), or a flow list of strings."""
    if text.startswith('"'):
        return _string(_compiled()[0].fullmatch(text))
    if text in ("true", "false"):
        return text == "true"
    if (
        text.isascii()
        and text.isdigit()
        and len(text) <= _MAX_DIGITS
        and (text == "0" or not text.startswith("0"))
    ):
        return int(text)
    if text.startswith("[") and text.endswith("]"):
        return _flow_list(text)
    raise _Decline


def _key_line(content: str) -> tuple[str, str | None]:
    """``key:`` -> (key, None); ``key: value`` -> (key, value). A known key, else declined."""
    key, colon, rest = content.partition(":")
    if not colon or key not in KEYS:
        raise _Decline
    if not rest:
        return key, None
    if rest.startswith(" ") and len(rest) > 1:
        return key, rest[1:]
    raise _Decline


class _Reader:
    def __init__(self, lines: list[tuple[int, str]]) -> None:
        self.lines = lines  # (indentation, content) of each line that is not blank or comment
        self.i = 0

    def _at(self, indent: int) -> bool:
        return self.i < len(self.lines) and self.lines[self.i][0] == indent

    def _done_with(self, indent: int) -> None:
        # A block ends at a line indented less; the same or more here is not our form
        # (e.g. a sequence at its key's indentation, or a scalar's continuation line).
        if self.i < len(self.lines) and self.lines[self.i][0] >= indent:
            raise _Decline

    def mapping(self, indent: int, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise _Decline
        out: dict[str, Any] = {}
        while self._at(indent) and not self.lines[self.i][1].startswith("-"):
            key, value = _key_line(self.lines[self.i][1])
            if key in out:
                raise _Decline
            self.i += 1
            if value is not None:
                out[key] = _scalar(value)
                self._done_with(indent + 1)
            elif self.i < len(self.lines) and self.lines[self.i][0] > indent:
                out[key] = self.block(self.lines[self.i][0], depth + 1)
            else:
                out[key] = None
        self._done_with(indent)
        return out

    def sequence(self, indent: int, depth: int) -> list[Any]:
        if depth > MAX_DEPTH:
            raise _Decline
        out: list[Any] = []
        while self._at(indent) and self.lines[self.i][1].startswith("- "):
            rest = self.lines[self.i][1][2:]
            if rest.startswith((" ", "-")):
                raise _Decline
            # `- key: ...`: a mapping whose first key sits two columns right of the dash.
            self.lines[self.i] = (indent + 2, rest)
            out.append(self.mapping(indent + 2, depth + 1))
        self._done_with(indent)
        return out

    def block(self, indent: int, depth: int) -> Any:
        if self.lines[self.i][1].startswith("- "):
            return self.sequence(indent, depth)
        return self.mapping(indent, depth)


def _literal_chars(text: str, lines: list[str]) -> bool:
    """No tab, carriage return, control character, byte-order mark or other character some
    YAML reader treats specially."""
    if text.isascii():
        # Printable ASCII needs no pattern: isprintable() is exactly 0x20-0x7e here.
        return all(line.isprintable() for line in lines)
    return all(literal_char_ok(m.group()) for m in _compiled()[1].finditer(text))


def read_plain_document(data: str | bytes) -> dict[str, Any] | None:
    """The document in ``data`` as plain Python values if it is in the plain form we write,
    else None (then the YAML parser reads it). Never raises for any input."""
    if len(data) > _MAX_CHARS:
        return None
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    else:
        text = data
    lines_text = text.split("\n")
    if not _literal_chars(text, lines_text):
        return None
    lines: list[tuple[int, str]] = []
    for line in lines_text:
        content = line.lstrip(" ")
        if content and not content.startswith("#"):
            lines.append((len(line) - len(content), content))
    if not lines or lines[0][0] != 0:
        return None
    reader = _Reader(lines)
    try:
        doc = reader.mapping(0, 0)
    except _Decline:
        return None
    return doc if reader.i == len(lines) else None
