"""The YAML library, for the policy format and the manifest: one of the two modules that may
import it (the other is :mod:`wassette.secretstore.yamlfile`).

What it gives the rest of :mod:`wassette.policy`: :func:`load_document` (ruamel's round-trip
document, comments kept, with size and nesting guards and syntax errors that never quote the
file), :func:`dump_document`, the line and column of a node (:class:`Pos`, :func:`key_pos`,
...) for located validation errors, and the few node constructors the writer needs
(:func:`quoted`, :func:`flow_list`, :func:`new_map`, :func:`new_list`), so that no other module
names a ruamel type.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from wassette.errors import PolicyError

if TYPE_CHECKING:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

MAX_POLICY_BYTES = 1 << 20
"""Larger policy files are refused: no honest policy is this big, and YAML parsing is slow."""


def _yaml() -> YAML:
    # ruamel is imported on first use: a policy file in the plain form we write is read
    # without it (policy/plainform.py), and importing it costs ~15 ms of a one-shot command.
    from ruamel.yaml import YAML

    _silence_warnings()
    # A fresh instance per use: ruamel's YAML objects are not safe to share between threads.
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # never fold long strings (URIs, values) across lines
    return y


# A quoted part of ruamel's problem text: a Python repr (with backslash escapes) or a plain
# '...' / "..." quote. Whatever is quoted may be file content.
_QUOTED = r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\""
_CONTROL_CHARS = r"[\x00-\x1f\x7f]"


def _silence_warnings() -> None:
    """ruamel's warnings (a reused anchor, ...) print the offending source lines to stderr, and
    a source line may hold a secret value. Nothing in them is actionable for a policy or
    secrets file, so they are silenced for the whole process, on every use (the filters are
    process state that a ``warnings.catch_warnings`` block restores; a repeated filter
    replaces the old one)."""
    import warnings

    from ruamel.yaml.error import YAMLFutureWarning, YAMLWarning

    warnings.filterwarnings("ignore", category=YAMLWarning)
    warnings.filterwarnings("ignore", category=YAMLFutureWarning)


def _redact(exc: MarkedYAMLError) -> str:
    """ruamel's problem text with every quoted part (which may be file content) cut out."""
    from ruamel.yaml.constructor import DuplicateKeyError

    if isinstance(exc, DuplicateKeyError):
        # Its text quotes both values unescaped, so no pattern could find their ends.
        return "a key is repeated in the same mapping"
    text = re.sub(_QUOTED, "<...>", exc.problem or exc.context or "invalid YAML")
    # Anything left after a stray quote could be content: drop it.
    cut = min((i for i in (text.find(q) for q in "'\"`") if i != -1), default=len(text))
    text = re.sub(_CONTROL_CHARS, " ", text[:cut])
    return text.strip()[:160] or "invalid YAML"


def _decode(data: str | bytes, source: str) -> str:
    if isinstance(data, bytes):
        if len(data) > MAX_POLICY_BYTES:
            _too_large(source)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PolicyError(
                f"cannot read policy {source}",
                why=f"it is not valid UTF-8 (byte offset {exc.start})",
                fix="save the file as UTF-8",
            ) from None
    if len(data) > MAX_POLICY_BYTES:
        _too_large(source)
    return data.removeprefix("\ufeff")


def _too_large(source: str) -> NoReturn:
    raise PolicyError(
        f"cannot read policy {source}",
        why=f"it is larger than {MAX_POLICY_BYTES} bytes",
        fix="a policy lists a few permissions; check that this is the right file",
    )


MAX_FLOW_DEPTH = 100
"""Deeper ``[``/``{`` nesting is refused before parsing: ruamel's scanner takes seconds on a few
thousand unclosed brackets, and a policy may come from a registry (an untrusted author)."""

_TOKEN_START = frozenset(" \t\n:,[{-?")


def _flow_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting in ``text``, skipping quoted scalars and comments.

    A rough lexer, only good enough for a denial-of-service guard: it errs towards counting a
    bracket inside a plain scalar, which only matters at an absurd depth.
    """
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        at_token_start = i == 0 or text[i - 1] in _TOKEN_START
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(depth - 1, 0)
        elif c == "#" and at_token_start:
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        elif c == '"' and at_token_start:
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "'" and at_token_start:
            end = text.find("'", i + 1)
            while end != -1 and text[end + 1 : end + 2] == "'":
                end = text.find("'", end + 2)
            i = n if end == -1 else end
        i += 1
    return deepest


def load_document(data: str | bytes, *, source: str = "<policy>") -> Any:
    """Parse YAML text into ruamel's round-trip document (comments kept). Not validated.

    Raises :class:`PolicyError` (never another exception) on any syntax problem.
    """
    text = _decode(data, source)
    fix = "fix the YAML syntax at that position (or `wassette permission reset` the component)"
    if _flow_depth(text) > MAX_FLOW_DEPTH:
        raise PolicyError(
            f"policy {source} is not valid YAML",
            why=f"brackets are nested more than {MAX_FLOW_DEPTH} levels deep",
            fix="a policy needs a few levels at most; quote strings that contain brackets",
        )
    yaml = _yaml()
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    try:
        return yaml.load(text)
    except ReaderError as exc:
        raise PolicyError(
            f"cannot read policy {source}",
            why=f"it contains a character YAML does not allow (at character {exc.position})",
            fix=fix,
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = _redact(exc)
        raise PolicyError(
            f"policy {source} is not valid YAML", why=f"{problem}{where}", fix=fix
        ) from None
    except YAMLError:
        raise PolicyError(f"policy {source} is not valid YAML", fix=fix) from None
    except RecursionError:
        raise PolicyError(
            f"policy {source} is not valid YAML", why="it is nested too deeply", fix=fix
        ) from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError):
        # ruamel lets constructor errors of explicit tags (`!!int x`, `!!bool maybe`) escape as
        # plain Python exceptions whose text quotes the value: say only what kind of problem.
        raise PolicyError(
            f"policy {source} is not valid YAML",
            why="a value cannot be read as the type its explicit tag names",
            fix="remove the explicit !!tag, or fix the value",
        ) from None


def dump_document(doc: Any) -> str:
    """The YAML text of a round-trip document."""
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


# --- validation: document -> Policy --------------------------------------------------------


# --- positions, for located errors ---------------------------------------------------------


@dataclass(frozen=True)
class Pos:
    """A 1-based line and column in a loaded YAML document (for located errors; the
    manifest reader uses these helpers too)."""

    line: int
    column: int


def node_pos(getter: Callable[[], Any]) -> Pos | None:
    try:
        line, column = getter()
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None
    if isinstance(line, int) and isinstance(column, int):
        return Pos(line + 1, column + 1)
    return None


def key_pos(mapping: Any, key: Any) -> Pos | None:
    return node_pos(lambda: mapping.lc.key(key))


def value_pos(mapping: Any, key: Any) -> Pos | None:
    return node_pos(lambda: mapping.lc.value(key))


def item_pos(seq: Any, index: int) -> Pos | None:
    return node_pos(lambda: seq.lc.item(index))


def items_with_pos(seq: Any) -> Iterator[tuple[int, Any, Pos | None]]:
    """``(index, item, position)`` for each item of a loaded YAML sequence."""
    for index, item in enumerate(seq):
        yield index, item, item_pos(seq, index)


# --- nodes the writer creates --------------------------------------------------------------


def quoted(text: str) -> Any:
    """``text`` as a double-quoted scalar (how the writer spells every string it adds)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    return DoubleQuotedScalarString(text)


def flow_list(items: Iterable[str]) -> Any:
    """A ``["a", "b"]`` sequence of quoted strings."""
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(quoted(i) for i in items)
    seq.fa.set_flow_style()
    return seq


def new_map(pairs: Iterable[tuple[str, Any]] = ()) -> Any:
    """A fresh (block-style) mapping that keeps its keys in ``pairs`` order."""
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap(list(pairs))


def new_list() -> Any:
    """A fresh (block-style) sequence."""
    from ruamel.yaml.comments import CommentedSeq

    return CommentedSeq()
