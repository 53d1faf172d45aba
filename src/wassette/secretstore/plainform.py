"""Reading a secrets file in the plain form we write, without a YAML library.

Every file this project writes is ``KEY: "escaped value"`` lines (plus whatever comment and
blank lines a person adds). Importing PyYAML is most of a short command's start-up, so
:func:`read_plain` reads exactly that form and returns None for anything else, which
:mod:`wassette.secretstore.yamlfile` then hands to the YAML parser (and its error messages).
"""

from __future__ import annotations

import re
from typing import Any

from wassette.plainyaml import NOT_PLAIN_ASCII, QUOTED_BODY, literal_char_ok, unescape

# One `KEY: "value"` line with the escapes yamlfile.quote() writes.
_PLAIN_LINE = r'([A-Za-z_][A-Za-z0-9_]*): "(' + QUOTED_BODY + r')"'

_plain: Any = None  # (line pattern, bad-character pattern), compiled on first use


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
        _plain = (re.compile(_PLAIN_LINE), re.compile(NOT_PLAIN_ASCII))
    line_pattern, not_ascii = _plain
    if not all(literal_char_ok(m.group()) for m in not_ascii.finditer(text)):
        return None
    values: dict[str, str] = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        match = line_pattern.fullmatch(line)
        if match is None or match.group(1) in values:
            return None
        value = unescape(match.group(2))
        if value is None:
            return None
        values[match.group(1)] = value
    return values
