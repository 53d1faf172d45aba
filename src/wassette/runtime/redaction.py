"""Redaction of injected values in everything a component sends back.

A component is given secrets so it can *use* them, not so it can show them to the model: every
injected value of :data:`MIN_LENGTH` or more characters is replaced by ``[REDACTED:<KEY>]`` in
tool results (text and structured), captured stdout/stderr, error messages, hints and logs
before they leave the server. A policy opts a key out with ``redact: false`` (for non-secret
settings whose value may legitimately appear in output). Shorter values are left alone:
redacting every ``debug`` or ``true`` would shred ordinary text while protecting nothing.

Not only the value itself is caught, but the shapes a careless component (or a guest runtime's
error printer) turns it into. Each character of the value may appear as itself or as any of its
escapes, mixed freely within one occurrence (ASCII letters and digits only as themselves: no
common encoder escapes them):

* string-literal escapes, nested to any depth up to 16 backslashes: JSON (``\\"``, ``\\\\``,
  ``\\/``, ``\\n``, ``\\u00e9``, surrogate pairs; both ``ensure_ascii`` settings), Python
  ``repr`` (``\\'``, ``\\xe9``, ``\\U0001f600``), Python ``bytes`` repr (``\\xc3\\xa9``), Rust and
  JavaScript ``Debug`` (``\\u{e9}``);
* percent-encoding of its UTF-8 bytes (``%C3%A9`` or ``%c3%a9``, a space as ``%20`` or ``+``);
* HTML character references (``&#233;``, ``&#xe9;``, ``&amp;``, ``&quot;`` ...);
* any letter case, for values of :data:`CASELESS_LENGTH` or more characters.

The value's UTF-8 bytes are also caught as a byte list or hex dump: decimal (``[115, 107, ...]``,
``115 107``), hex with or without ``0x`` and separators (``[0x73, 0x6b]``, ``736b...``,
``73:6b``), and its standard and URL-safe base64 at each of the three byte alignments (so a
value inside a base64 blob such as HTTP Basic credentials is caught too; the one or two base64
characters at either end, which mix the value's bits with its neighbours', are left).

Overlapping occurrences (of one value, or of two values that share text) are merged into one
placeholder, so no fragment of either survives; the placeholder names the key of the longest.
:meth:`Redactor.tail` redacts *before* cutting: a value that straddles the cut is replaced
whole, never left as a prefix or suffix fragment.

What this cannot catch: a component that transforms a secret on purpose (encrypts, reverses,
splits or re-encodes it in a way not listed above); the policy's allow-list is the real
boundary. The full list of covered and uncovered forms is in docs/redaction.md.

Speed: the patterns of a (key, value) set are compiled once (:func:`redactor_for` caches them)
into one alternation; the common case, output holding no secret, costs one ``search`` over
the text. Only text with a hit pays for the exact, overlap-aware pass.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable
from typing import Any, TypeVar

_S = TypeVar("_S", str, bytes)

__all__ = ["CASELESS_LENGTH", "MIN_LENGTH", "Redactor", "redactor_for"]

MIN_LENGTH = 6
"""Values shorter than this are never redacted."""

CASELESS_LENGTH = 8
"""Values at least this long are also caught in any letter case."""

_MAX_BACKSLASHES = 16
_BS = rf"\\{{1,{_MAX_BACKSLASHES}}}"  # the backslashes of an escape, nested literals included
_CONTROL = {"\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f", "\v": "v", "\a": "a", "\0": "0"}
_HTML_NAMED = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "(?:apos|#39)"}
# Upper bound of the text one character of a value can become in any covered form (the UTF-8
# bytes repr: 4 x (16 backslashes + "x" + 2 digits)), used to size the margin kept before a cut.
_MAX_FORM_PER_CHAR = 4 * (_MAX_BACKSLASHES + 3)


def _hex(n: int, width: int) -> str:
    """``n`` as ``width`` hex digits, matching either letter case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{n:0{width}x}")


def _hex_any(n: int) -> str:
    """``n`` in hex with optional leading zeros (the ``\\u{...}`` and ``&#x...;`` forms)."""
    return "0*" + _hex(n, 1)


def _char_forms(ch: str) -> str:
    """A regex for one character of a value in any of its covered textual forms.

    ASCII letters and digits stand for themselves only: no encoder in common use escapes
    them (JSON, repr, Debug, percent-encoding and HTML all keep them), which is what lets a
    plain substring test rule a value out before any regex runs.
    """
    if ch.isascii() and ch.isalnum():
        return ch
    cp = ord(ch)
    utf8 = ch.encode("utf-8", "surrogatepass")
    forms: list[str] = [_BS] if ch == "\\" else [re.escape(ch)]
    if ch in "\"'/`":
        forms.append(_BS + re.escape(ch))
    if ch in _CONTROL:
        forms.append(_BS + _CONTROL[ch])
    if cp < 0x100:
        forms.append(_BS + "x" + _hex(cp, 2))
    if cp < 0x10000:
        forms.append(_BS + "u" + _hex(cp, 4))
    else:
        hi, lo = 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)
        forms.append(_BS + "u" + _hex(hi, 4) + _BS + "u" + _hex(lo, 4))
        forms.append(_BS + "U" + _hex(cp, 8))
    forms.append(_BS + r"u\{" + _hex_any(cp) + r"\}")
    if len(utf8) > 1:
        forms.append("".join(_BS + "x" + _hex(b, 2) for b in utf8))
    forms.append("".join("%" + _hex(b, 2) for b in utf8))
    if ch == " ":
        forms.append(r"\+")
    forms.append(f"&#0*{cp};")
    forms.append(f"&#[xX]{_hex_any(cp)};")
    if ch in _HTML_NAMED:
        forms.append(f"&{_HTML_NAMED[ch]};")
    return "(?:" + "|".join(forms) + ")"


def _base64_forms(raw: bytes) -> list[str]:
    """The base64 text fully determined by ``raw`` at each of the three byte alignments."""
    out: list[str] = []
    n = len(raw)
    for k in range(3):
        full = base64.b64encode(b"\0" * k + raw + b"\0\0").decode("ascii")
        start, end = -(-8 * k // 6), (8 * k + 8 * n) // 6
        piece = full[start:end]
        if len(piece) >= MIN_LENGTH:
            out.append(piece)
            url = piece.translate(str.maketrans("+/", "-_"))
            if url != piece:
                out.append(url)
    return out


_HEX_DIGITS = b"0123456789abcdef"
# bytes.translate tables: the hex view keeps hex digits (lowercased), the decimal view digits.
_TO_LOWER = bytes(range(256)).translate(bytes.maketrans(b"ABCDEF", b"abcdef"))
_NOT_HEX = bytes(c for c in range(256) if c not in _HEX_DIGITS + b"ABCDEF")
_NOT_DEC = bytes(c for c in range(256) if not 0x30 <= c <= 0x39)
_SHORT_TEXT = 2048  # characters: below this, the fast path uses compiled alternations
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")


class _Value:
    """One value: cheap necessary conditions, and the exact patterns compiled on demand."""

    def __init__(self, key: str, value: str, caseless: bool) -> None:
        self.key = key
        self.value = value
        self.caseless = caseless
        raw = value.encode("utf-8", "surrogatepass")
        runs = _ALNUM_RUN.findall(value)
        longest = max(runs, key=len, default="")
        # Every textual form keeps the value's letters and digits as they are (case aside).
        self.literal = longest.lower() if len(longest) >= 3 else None
        self.hex = raw.hex().encode()
        self.hex0 = b"".join(b"0" + self.hex[i : i + 2] for i in range(0, len(self.hex), 2))
        self.dec = "".join(str(b) for b in raw).encode()
        self.base64 = _base64_forms(raw)
        self._text: re.Pattern[str] | None = None

    def text_pattern(self) -> re.Pattern[str]:
        if self._text is None:
            body = "".join(_char_forms(ch) for ch in self.value)
            if self.caseless:
                body = f"(?i:{body})"
            self._text = re.compile(f"(?=({body}))")
        return self._text


class _Views:
    """Normalised views of one text, computed once and only when a value needs them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lower = text.lower()
        self._utf8: bytes | None = None
        self._hex: tuple[bytes, list[int]] | None = None
        self._dec: tuple[bytes, list[int]] | None = None

    def utf8(self) -> bytes:
        if self._utf8 is None:
            self._utf8 = self.text.encode("utf-8", "surrogatepass")
        return self._utf8

    def _positions(self, keep: str) -> list[int]:
        """Character index in ``text`` of each kept character of a view (ASCII digits and
        letters only, so one character per kept byte)."""
        allowed = set(keep)
        return [i for i, c in enumerate(self.text) if c in allowed]

    def hex_spans(self, needle: bytes, key: str) -> list[tuple[int, int, str]]:
        """Spans of ``needle`` in the text's hex digits (separators and ``0x`` ignored)."""
        if self._hex is None:
            self._hex = (self.utf8().translate(_TO_LOWER, _NOT_HEX), [])
        view, pos = self._hex
        hits = _finds(view, needle)
        if hits and not pos:
            pos.extend(self._positions("0123456789abcdefABCDEF"))
        return [(pos[h], pos[h + len(needle) - 1] + 1, key) for h in hits]

    def dec_spans(self, needle: bytes, key: str) -> list[tuple[int, int, str]]:
        """Spans of ``needle`` in the text's decimal digits (separators ignored)."""
        if self._dec is None:
            self._dec = (self.utf8().translate(None, _NOT_DEC), [])
        view, pos = self._dec
        hits = _finds(view, needle)
        if hits and not pos:
            pos.extend(self._positions("0123456789"))
        return [(pos[h], pos[h + len(needle) - 1] + 1, key) for h in hits]


def _finds(haystack: _S, needle: _S) -> list[int]:
    found: list[int] = []
    at = haystack.find(needle)
    while at >= 0:
        found.append(at)
        at = haystack.find(needle, at + 1)
    return found


def _merge(found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping spans joined into one, named after the key of the longest among them."""
    found.sort(key=lambda s: (s[0], -s[1]))
    merged: list[tuple[int, int, str]] = []
    longest: list[int] = []
    for start, end, key in found:
        if merged and start < merged[-1][1]:
            m_start, m_end, m_key = merged[-1]
            if end - start > longest[-1]:
                m_key, longest[-1] = key, end - start
            merged[-1] = (m_start, max(m_end, end), m_key)
        else:
            merged.append((start, end, key))
            longest.append(end - start)
    return merged


class Redactor:
    """Replaces known values (in every covered form) with ``[REDACTED:<KEY>]``."""

    def __init__(
        self,
        pairs: Iterable[tuple[str, str]],
        min_length: int = MIN_LENGTH,
        caseless_length: int = CASELESS_LENGTH,
    ) -> None:
        by_value: dict[str, str] = {}
        for key, value in pairs:
            if len(value) >= min_length:
                by_value.setdefault(value, key)
        self._pairs = tuple((k, v) for v, k in by_value.items())
        self._min_length = min_length
        self._values = [
            _Value(by_value[v], v, len(v) >= caseless_length)
            for v in sorted(by_value, key=len, reverse=True)
        ]
        literals = [v.literal for v in self._values]
        self._quick = (
            None
            if None in literals
            else re.compile("|".join(re.escape(x) for x in literals if x is not None)),
            re.compile("|".join(re.escape(p) for v in self._values for p in v.base64) or "(?!)"),
            re.compile(b"|".join(n for v in self._values for n in (v.hex, v.hex0)) or b"(?!)"),
            re.compile(b"|".join(v.dec for v in self._values) or b"(?!)"),
        )
        self.max_match = max((len(v) for v in by_value), default=0) * _MAX_FORM_PER_CHAR
        """An upper bound of the length of text one occurrence can span, in characters."""
        self._caseless: Redactor | None = None

    def __bool__(self) -> bool:
        return bool(self._values)

    def _maybe(self, text: str) -> bool:
        """False when no value can occur in ``text`` (substring tests only: the fast path).

        Short texts (most results) take one search per needle kind, each over one compiled
        alternation; long ones a substring test per needle (C's fast search beats a regex
        alternation there)."""
        lower = text.lower()
        raw = text.encode("utf-8", "surrogatepass")
        hex_view = raw.translate(_TO_LOWER, _NOT_HEX)
        dec_view = raw.translate(None, _NOT_DEC)
        if len(text) <= _SHORT_TEXT:
            quick = self._quick
            return bool(
                quick[0] is None
                or quick[0].search(lower)
                or quick[1].search(text)
                or quick[2].search(hex_view)
                or quick[3].search(dec_view)
            )
        for v in self._values:
            if v.literal is None or v.literal in lower:
                return True
            if v.hex in hex_view or v.hex0 in hex_view or v.dec in dec_view:
                return True
            for piece in v.base64:
                if piece in text:
                    return True
        return False

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        """Merged (start, end, key) spans of every occurrence, overlaps joined."""
        views = _Views(text)
        found: list[tuple[int, int, str]] = []
        for v in self._values:
            if v.literal is None or v.literal in views.lower:
                found.extend(
                    (m.start(), m.start() + len(m.group(1)), v.key)
                    for m in v.text_pattern().finditer(text)
                )
            for piece in v.base64:
                found.extend((at, at + len(piece), v.key) for at in _finds(text, piece))
            for needle in (v.hex, v.hex0):
                found.extend(views.hex_spans(needle, v.key))
            found.extend(views.dec_spans(v.dec, v.key))
        return _merge(found)

    def tail(self, text: str, start: int) -> str:
        """``text[start:]`` with every known value replaced, redacting *before* cutting: an
        occurrence that straddles ``start`` becomes a whole placeholder, never a fragment."""
        if not self._values or not text or not self._maybe(text):
            return text[start:]
        spans = self._spans(text)
        if not spans:
            return text[start:]
        out: list[str] = []
        pos = start
        for s, e, key in spans:
            if e <= pos:
                continue
            if s > pos:
                out.append(text[pos:s])
            out.append(f"[REDACTED:{key}]")
            pos = e
        out.append(text[pos:])
        return "".join(out)

    def text(self, text: str) -> str:
        """``text`` with every known value replaced."""
        if not text:
            return text
        return self.tail(text, 0)

    __call__ = text

    def host(self, text: str) -> str:
        """A host name or URL with every known value replaced in any letter case (host names
        are lowercased before they are judged, whatever the value's length)."""
        if not self._values:
            return text
        if self._caseless is None:
            self._caseless = Redactor(self._pairs, self._min_length, caseless_length=0)
        return self._caseless.text(text)

    def json(self, value: Any) -> Any:
        """A JSON-like value with every string (and mapping key) redacted, and every list of
        byte-sized integers that holds a value's bytes rewritten as the placeholder's bytes."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            if value and all(type(v) is int and 0 <= v < 256 for v in value):
                return self._byte_list(value)
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {
                self.text(k) if isinstance(k, str) else k: self.json(v) for k, v in value.items()
            }
        return value

    def _byte_list(self, value: list[int]) -> list[int]:
        # A list<u8> result is JSON-encoded as numbers: look for the values in its bytes (read
        # as UTF-8, any undecodable byte kept as is) and put the placeholder's bytes instead.
        decoded = bytes(value).decode("utf-8", "surrogateescape")
        redacted = self.text(decoded)
        if redacted == decoded:
            return value
        return list(redacted.encode("utf-8", "surrogateescape"))


@functools.lru_cache(maxsize=256)
def redactor_for(pairs: tuple[tuple[str, str], ...]) -> Redactor:
    """A (cached) redactor for these (key, value) pairs: building one compiles its patterns,
    and a server calls the same component with the same environment over and over."""
    return Redactor(pairs)
