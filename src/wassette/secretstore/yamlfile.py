"""The on-disk format of a secrets file: a flat YAML mapping of string keys to string values.

What this module guarantees:

- **Everything is a string.** A plain scalar is read as its literal text: ``DEBUG_MODE: false``
  gives ``"false"``, ``PORT: 0123`` gives ``"0123"``, ``KEY:`` gives ``""``. No implicit typing
  is ever applied. Explicit non-string tags (``!!int 5``), nested values and duplicate keys
  are errors.
- **What a person wrote survives.** Writes edit the file's *text*: an updated value's span is
  replaced, a deleted entry's line is removed, a new entry is appended. Every other byte
  (comments, blank lines, order, the quoting of untouched values) stays as it was. Values we
  write are double-quoted with YAML escapes, so any text round-trips exactly and other YAML
  readers (1.1 or 1.2) see strings too. Layouts where a text edit is not safe (flow style,
  anchors, ``? key`` entries ...) fall back to ruamel.yaml's round-trip editor.
- **Every write is verified**: the new text is parsed again and must give exactly the intended
  mapping, or nothing is written.
- **Errors never echo content.** Parser messages often quote the offending line, which may hold
  a secret. We report the file, line, column and a description with every quoted part removed.
- **Writes are atomic and durable**: a temp file created 0600 in the same directory, fsync,
  rename over the target, fsync the directory. A crash at any point leaves either the old or the
  new file, both valid.

Parsing uses libyaml through PyYAML's ``CBaseLoader`` (C speed; its resolver makes every plain
scalar a string, exactly our semantics); we validate the composed node tree ourselves.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from wassette.errors import SecretsFileError
from wassette.secretstore.plainform import read_plain

#: Refuse to parse secrets files larger than this: a secrets file is a handful of keys, and an
#: unbounded read of a hostile file would be a denial of service.
MAX_FILE_BYTES = 4 * 1024 * 1024

FILE_MODE = 0o600

_STR_TAG = "tag:yaml.org,2002:str"

_FIX = 'correct the file by hand (it is plain YAML: KEY: "value" per line), or remove it'

# Quoted fragments in parser messages are pieces of the file: strip them.
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`"  # compiled on first use


def _redact(problem: str | None) -> str:
    text = re.sub(_QUOTED, "<...>", problem or "").strip()
    # Only the first line: later lines of parser messages can show source excerpts.
    return text.splitlines()[0] if text else "invalid YAML"


_VALID_KEY = r"[A-Za-z_][A-Za-z0-9_]{0,127}"


def _key_label(key: str) -> str:
    """A key for a message: shown only if it is a valid key name. Anything else in key position
    may be a value typed in the wrong place, so it is not echoed."""
    return repr(key) if re.fullmatch(_VALID_KEY, key) else "a key (not shown: not a valid key name)"


def _at(mark: Any) -> str:
    line, col = getattr(mark, "line", None), getattr(mark, "column", None)
    if not isinstance(line, int) or not isinstance(col, int):
        return ""
    return f" at line {line + 1}, column {col + 1}"


# ------------------------------------------------------------------------------ quoting

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_char(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    # YAML's printable set, minus characters some readers treat specially inside quotes:
    # NEL, LS and PS are line breaks in YAML 1.1 (they would be folded), and a BOM may be
    # stripped.
    if (
        0x20 <= code <= 0x7E
        or (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or 0x10000 <= code <= 0x10FFFF
    ):
        return ch
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote(value: str) -> str:
    """``value`` as a YAML double-quoted scalar that any YAML reader reads back exactly."""
    return '"' + "".join(_escape_char(ch) for ch in value) + '"'


# ------------------------------------------------------------------------------ parsing


class _Span(NamedTuple):
    """Where something sits in the text: character indexes and the starting column."""

    start: int
    end: int
    column: int
    flow_style: bool = False

    @classmethod
    def of(cls, start_event: Any, end_event: Any | None = None, flow: bool = False) -> _Span:
        end = (end_event or start_event).end_mark
        return cls(start_event.start_mark.index, end.index, start_event.start_mark.column, flow)


class _Entry(NamedTuple):
    key: _Span
    value: _Span


class _Parsed(NamedTuple):
    values: dict[str, str]
    entries: dict[str, _Entry]
    mapping: _Span | None  # None: an empty document
    has_aliases: bool  # anchors or aliases: text edits could change other keys


_STRING_TAGS = (None, "!", _STR_TAG)


def _decode(raw: bytes, path: Path, size: int | None = None) -> str:
    if len(raw) > MAX_FILE_BYTES:
        # ``size``: the file's real size (reads stop at the limit + 1 byte).
        real = max(len(raw), size or 0)
        raise SecretsFileError(
            f"secrets file {path} is too large ({real:,} bytes, limit {MAX_FILE_BYTES:,})",
            fix=_FIX,
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SecretsFileError(
            f"secrets file {path} is not valid UTF-8 (line {line})", fix=_FIX
        ) from None


def _fail(path: Path, what: str, event: Any, why: str) -> SecretsFileError:
    return SecretsFileError(
        f"secrets file {path}: {what}{_at(event.start_mark)}", why=why, fix=_FIX
    )


def _parse(text: str, path: Path) -> _Parsed:  # noqa: PLR0912, PLR0915 - one branch per event
    """Validate and read a secrets file from libyaml's event stream.

    Events, not a composed tree: libyaml's parser is a state machine with its own stack, while
    composing recurses once per nesting level (tens of thousands of ``[`` crash the process).
    A secrets file is flat, so the first nested collection ends the parse with an error.
    """
    values: dict[str, str] = {}
    entries: dict[str, _Entry] = {}
    anchors: dict[str, str] = {}
    has_aliases = False
    mapping_start: Any = None
    mapping: _Span | None = None
    documents = 0
    key_event: Any = None
    not_str = 'secrets are flat KEY: "value" pairs and every value is a string'
    import yaml  # ~10 ms: only files the plain-form reader below does not take

    loader: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _fail(
                        path,
                        "a second YAML document",
                        event,
                        "a secrets file holds exactly one mapping",
                    )
            elif isinstance(event, yaml.MappingStartEvent):
                if mapping_start is not None or mapping is not None:
                    where = (
                        "a key"
                        if key_event is None
                        else f"the value of {_key_label(key_event.value)}"
                    )
                    raise _fail(path, f"{where} is a nested mapping", event, not_str)
                if event.tag not in (None, "tag:yaml.org,2002:map"):
                    raise _fail(path, "the document has an explicit tag", event, not_str)
                mapping_start = event
            elif isinstance(event, yaml.SequenceStartEvent):
                if mapping_start is None:
                    raise SecretsFileError(
                        f'secrets file {path} must be a mapping of KEY: "value" pairs',
                        why="the document is a list",
                        fix=_FIX,
                    )
                where = (
                    "a key" if key_event is None else f"the value of {_key_label(key_event.value)}"
                )
                raise _fail(path, f"{where} is a list", event, not_str)
            elif isinstance(event, yaml.MappingEndEvent):
                mapping = _Span.of(mapping_start, event, bool(mapping_start.flow_style))
                mapping_start = None
            elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
                if mapping_start is None:
                    if (
                        isinstance(event, yaml.ScalarEvent)
                        and event.value == ""
                        and event.implicit[0]
                        and mapping is None
                    ):
                        continue  # a bare `---`: an empty document
                    raise SecretsFileError(
                        f'secrets file {path} must be a mapping of KEY: "value" pairs',
                        why="the document is a single value",
                        fix=_FIX,
                    )
                if isinstance(event, yaml.AliasEvent):
                    has_aliases = True
                    if event.anchor not in anchors:
                        raise _fail(
                            path,
                            "an alias refers to an unknown anchor",
                            event,
                            "define the anchor (&name) before its alias (*name)",
                        )
                    text_value = anchors[event.anchor]
                else:
                    if event.tag not in _STRING_TAGS:
                        what = (
                            "a key has an explicit tag"
                            if key_event is None
                            else f"the value of {_key_label(key_event.value)} is not a string "
                            "(it has an explicit YAML tag)"
                        )
                        raise _fail(path, what, event, not_str)
                    text_value = event.value
                    if event.anchor is not None:
                        has_aliases = True
                        anchors[event.anchor] = text_value
                if key_event is None:
                    if text_value in values:
                        raise _fail(
                            path,
                            f"duplicate key {_key_label(text_value)}",
                            event,
                            "each key may appear only once",
                        )
                    key_event = event
                    key_text = text_value
                else:
                    values[key_text] = text_value
                    entries[key_text] = _Entry(_Span.of(key_event), _Span.of(event))
                    key_event = None
    except SecretsFileError:
        raise
    except yaml.MarkedYAMLError as exc:
        raise SecretsFileError(
            f"secrets file {path} is not valid YAML{_at(exc.problem_mark)}",
            why=_redact(exc.problem),
            fix=_FIX,
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text[: max(exc.position, 0)].count("\n") + 1
        raise SecretsFileError(
            f"secrets file {path} is not valid YAML at line {line}",
            why=f"it contains the unprintable character #x{exc.character:04x}"
            if isinstance(exc.character, int)
            else "it contains an unprintable character",
            fix=_FIX,
        ) from None
    except (yaml.YAMLError, Exception) as exc:  # noqa: BLE001 - untrusted-input boundary
        # Whatever a hostile file makes the parser raise, the file is unusable; report that
        # without the exception text, which may quote content.
        raise SecretsFileError(
            f"secrets file {path} is not valid YAML",
            why=f"the YAML parser rejected its content ({type(exc).__name__})",
            fix=_FIX,
        ) from None
    return _Parsed(values, entries, mapping, has_aliases)


# ------------------------------------------------------------------------------ editing


class _Unsafe(Exception):
    """A text edit cannot be applied safely to this layout: use the round-trip editor."""


def _edit_set(text: str, parsed: _Parsed, key: str, value: str) -> str:
    entry = parsed.entries.get(key)
    if entry is None:
        return _append(text, parsed, key, value)
    start, end = entry.value.start, entry.value.end
    replacement = quote(value)
    if text[start:end].endswith("\n"):  # a block scalar's span owns its final line break
        replacement += "\n"
    if start > 0 and text[start - 1] == ":":  # `KEY:` with an empty value
        replacement = " " + replacement
    return text[:start] + replacement + text[end:]


def _tail_is_blank(text: str, start: int) -> bool:
    return all(
        not line.strip() or line.lstrip().startswith("#") for line in text[start:].splitlines()
    )


def _append(text: str, parsed: _Parsed, key: str, value: str) -> str:
    indent = 0
    if parsed.mapping is not None:
        if parsed.mapping.flow_style or not _tail_is_blank(text, parsed.mapping.end):
            raise _Unsafe
        indent = parsed.mapping.column
    elif not _tail_is_blank(text, 0):
        raise _Unsafe  # e.g. a document marker with no mapping
    if text and not text.endswith("\n"):
        text += "\n"
    return f"{text}{' ' * indent}{key}: {quote(value)}\n"


def _edit_delete(text: str, parsed: _Parsed, key: str) -> str:
    entry = parsed.entries[key]
    key_start = entry.key.start
    line_start = text.rfind("\n", 0, key_start) + 1
    if text[line_start:key_start].strip():
        raise _Unsafe  # something else shares the line (`? `, `--- `, flow style)
    end = entry.value.end
    if not text[entry.value.start : end].endswith("\n"):
        eol = text.find("\n", end)
        eol = len(text) if eol < 0 else eol + 1
        rest = text[end:eol].strip()
        if rest and not rest.startswith("#"):
            raise _Unsafe
        end = eol
    return text[:line_start] + text[end:]


_Op = tuple[str, str, str | None]  # ("set", key, value) | ("delete", key, None)


def _apply_text(text: str, path: Path, ops: list[_Op]) -> str:
    for op, key, value in ops:
        parsed = _parse(text, path)
        if parsed.mapping is not None and (parsed.mapping.flow_style or parsed.has_aliases):
            raise _Unsafe
        if op == "set":
            assert value is not None
            text = _edit_set(text, parsed, key, value)
        elif key in parsed.entries:
            text = _edit_delete(text, parsed, key)
    return text


def _apply_roundtrip(text: str, ops: list[_Op]) -> str:
    """The slow, general editor: ruamel.yaml's round-trip mode keeps comments and order."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    class AllStrings(VersionedResolver):
        """Every plain scalar stays its literal text, as in the fast path."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is ScalarNode and implicit[0]:
                return self.DEFAULT_SCALAR_TAG
            return super().resolve(kind, value, implicit)

    y = YAML(typ="rt")
    y.Resolver = AllStrings
    y.preserve_quotes = True
    y.width = 2**30
    y.allow_unicode = True
    data = y.load(text)
    if data is None:
        data = CommentedMap()
    data.fa.set_block_style()
    for _op, key, value in ops:
        if value is not None:
            data[key] = DoubleQuotedScalarString(value)
        elif key in data:
            del data[key]
    buf = io.StringIO()
    y.dump(data, buf)
    return buf.getvalue()


class SecretsDocument:
    """A secrets file's text and the string mapping it holds, with pending edits."""

    def __init__(self, path: Path, text: str = "") -> None:
        self.path = path
        self._text = text
        plain = read_plain(text)
        self._ops: list[_Op] = []
        self._values = plain if plain is not None else dict(_parse(text, path).values)

    def as_dict(self) -> dict[str, str]:
        """The secrets, with pending edits applied (a copy)."""
        return dict(self._values)

    def set(self, key: str, value: str) -> None:
        """Add or update ``key``; an existing key keeps its place and its comments."""
        self._ops.append(("set", key, value))
        self._values[key] = value

    def delete(self, key: str) -> bool:
        """Remove ``key`` if present; return whether it was."""
        if key not in self._values:
            return False
        self._ops.append(("delete", key, None))
        del self._values[key]
        return True

    def dump(self) -> bytes:
        """The new file content, verified to parse back to exactly the intended secrets."""
        editors: list[Callable[[str, list[_Op]], str]] = [
            lambda text, ops: _apply_text(text, self.path, ops),
            _apply_roundtrip,
        ]
        for editor in editors:
            try:
                new_text = editor(self._text, self._ops)
            except _Unsafe:
                continue
            if _parse(new_text, self.path).values == self._values:
                return new_text.encode("utf-8")
        raise SecretsFileError(
            f"refusing to write {self.path}",
            why="the edited file would not read back exactly as intended "
            "(anchors or aliases in the file?)",
            fix="edit the file by hand; it was left unchanged",
        )


def parse_bytes(raw: bytes, path: Path) -> SecretsDocument:
    """Parse a secrets file's bytes. Raises :class:`SecretsFileError` naming what is wrong."""
    return SecretsDocument(path, _decode(raw, path))


def read_document(path: Path) -> SecretsDocument | None:
    """Read and parse ``path``; None if it does not exist."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
            size = os.fstat(fh.fileno()).st_size if len(raw) > MAX_FILE_BYTES else None
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise SecretsFileError(
            f"secrets file {path} is a directory", fix="remove or rename it"
        ) from None
    except PermissionError:
        raise SecretsFileError(
            f"cannot read secrets file {path}",
            why="permission denied",
            fix=f"check its owner and mode (chmod 600 {path})",
        ) from None
    return SecretsDocument(path, _decode(raw, path, size))


# ------------------------------------------------------------------------------ writing
