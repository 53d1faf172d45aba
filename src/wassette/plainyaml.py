"""The plain YAML this project writes, read without a YAML library.

Two files are read on every short command: a component's secrets file and its policy file.
Importing a YAML library costs more than the rest of such a command, so each has a reader of
exactly the form we write (:mod:`wassette.secretstore.plainform`,
:mod:`wassette.policy.plainform`) that declines anything else, which the YAML parser then
reads. What both share is here: the double-quoted scalar (with the escapes our writers use)
and the characters every YAML reader takes literally. No YAML library is imported here.
"""

from __future__ import annotations

#: The inside of a double-quoted scalar with only the escapes our writers use
#: (``\\ \" \n \t \r \xHH \uHHHH \UHHHHHHHH``); anything else is the parser's to read.
QUOTED_BODY = r'(?:[^"\\]|\\(?:[\\"ntr]|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}))*'

#: Anything but the newline and printable ASCII; such characters are then checked one by one
#: with :func:`literal_char_ok` (a character class spanning the non-ASCII ranges costs ~15 ms
#: to compile).
NOT_PLAIN_ASCII = r"[^\n\x20-\x7e]"

_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_WIDTH = {"x": 2, "u": 4, "U": 8}


def literal_char_ok(ch: str) -> bool:
    """True for a non-ASCII character that every YAML reader takes as itself: printable, and
    never a line break in YAML 1.1 (NEL, LS, PS) nor a byte-order mark."""
    code = ord(ch)
    return (
        (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or 0x10000 <= code <= 0x10FFFF
    )


def unescape(body: str) -> str | None:
    """The value of a double-quoted scalar whose inside ``body`` matched :data:`QUOTED_BODY`;
    None for an escape naming a surrogate or no character (the parser decides what that
    means)."""
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
        width = _WIDTH[kind]
        code = int(body[j + 2 : j + 2 + width], 16)
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            return None
        out.append(chr(code))
        i = j + 2 + width
