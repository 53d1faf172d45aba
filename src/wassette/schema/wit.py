"""A plain, immutable model of WIT value types.

wasmtime-py's ``ValType`` objects are ctypes handles whose accessors (``.cases``, ``.fields``,
...) cross the FFI and allocate new objects on every call. The runtime reads a function's
signature once (:func:`wassette.runtime.discovery.from_valtype`) into :class:`WitType` trees:
pure data that is hashable, cheap to walk on every tool call, and usable by the schema
generator and the value converter without touching wasmtime again. This module does not
import wasmtime, so tool specs can be read from metadata without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

#: Integer kinds with their inclusive (min, max) range.
INT_RANGES: Final[dict[str, tuple[int, int]]] = {
    "u8": (0, 2**8 - 1),
    "u16": (0, 2**16 - 1),
    "u32": (0, 2**32 - 1),
    "u64": (0, 2**64 - 1),
    "s8": (-(2**7), 2**7 - 1),
    "s16": (-(2**15), 2**15 - 1),
    "s32": (-(2**31), 2**31 - 1),
    "s64": (-(2**63), 2**63 - 1),
}
FLOAT_KINDS: Final = frozenset({"f32", "f64"})
#: Kinds no JSON caller can produce or consume.
OPAQUE_KINDS: Final = frozenset({"own", "borrow", "future", "stream", "error-context"})


@dataclass(frozen=True)
class WitType:
    """One WIT value type.

    ``kind`` is the WIT spelling (``bool``, ``u8`` ... ``s64``, ``f32``, ``f64``, ``char``,
    ``string``, ``list``, ``record``, ``tuple``, ``variant``, ``enum``, ``option``, ``result``,
    ``flags``) or one of :data:`OPAQUE_KINDS`. Only the attributes of that kind are set:

    - ``list``/``future``/``stream``: ``element`` (``None`` for a payload-less future/stream);
    - ``record``: ``fields`` as (name, type) in declaration order;
    - ``tuple``: ``elements``;
    - ``variant``: ``cases`` as (name, payload type or ``None``);
      ``option`` is ``(("none", None), ("some", T))``, ``result`` is ``(("ok", O), ("err", E))``;
    - ``enum``/``flags``: ``names``.
    """

    kind: str
    element: WitType | None = None
    fields: tuple[tuple[str, WitType], ...] = ()
    elements: tuple[WitType, ...] = ()
    cases: tuple[tuple[str, WitType | None], ...] = ()
    names: tuple[str, ...] = ()

    def __hash__(self) -> int:
        # Types are hashed on every converted value (memoised lookups); hash the tree once.
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(
                (self.kind, self.element, self.fields, self.elements, self.cases, self.names)
            )
            object.__setattr__(self, "_hash", cached)
        return cached

    @property
    def is_bytes(self) -> bool:
        """``list<u8>``, which wasmtime-py maps to ``bytes``."""
        return self.kind == "list" and self.element is not None and self.element.kind == "u8"

    def contains_opaque(self) -> bool:
        """Whether a resource handle (or another non-JSON type) occurs anywhere inside."""
        if self.kind in OPAQUE_KINDS or self.kind.startswith("unknown:"):
            return True
        children: list[WitType | None] = [self.element]
        children += [t for _, t in self.fields]
        children += list(self.elements)
        children += [t for _, t in self.cases]
        return any(c is not None and c.contains_opaque() for c in children)

    def __str__(self) -> str:
        return wit_spelling(self)


def wit_spelling(t: WitType) -> str:  # noqa: PLR0911
    """A short WIT-like spelling of the type for messages (records and variants are anonymous)."""
    if t.kind == "list":
        return f"list<{t.element}>"
    if t.kind == "option":
        return f"option<{t.cases[1][1]}>"
    if t.kind == "result":
        ok, err = t.cases[0][1], t.cases[1][1]
        if ok is None and err is None:
            return "result"
        return f"result<{ok if ok is not None else '_'}, {err if err is not None else '_'}>"
    if t.kind == "tuple":
        return "tuple<" + ", ".join(str(e) for e in t.elements) + ">"
    if t.kind == "record":
        return "record { " + ", ".join(f"{n}: {ft}" for n, ft in t.fields) + " }"
    if t.kind == "variant":
        parts = [n if p is None else f"{n}({p})" for n, p in t.cases]
        return "variant { " + ", ".join(parts) + " }"
    if t.kind in ("enum", "flags"):
        return f"{t.kind} {{ " + ", ".join(t.names) + " }"
    return t.kind


_KINDS: Final = frozenset(
    {"bool", "char", "string", "list", "record", "tuple", "variant", "enum", "option"}
    | {"result", "flags"}
    | set(INT_RANGES)
    | FLOAT_KINDS
    | OPAQUE_KINDS
)
_MAX_DEPTH: Final = 200


def to_json(t: WitType) -> dict[str, Any]:
    """A JSON form of the type (for metadata files), read back by :func:`from_json`."""
    out: dict[str, Any] = {"kind": t.kind}
    if t.element is not None:
        out["element"] = to_json(t.element)
    if t.fields:
        out["fields"] = [[n, to_json(ft)] for n, ft in t.fields]
    if t.elements:
        out["elements"] = [to_json(e) for e in t.elements]
    if t.cases:
        out["cases"] = [[n, None if p is None else to_json(p)] for n, p in t.cases]
    if t.names:
        out["names"] = list(t.names)
    return out


def from_json(data: Any, _depth: int = 0) -> WitType:
    """Read :func:`to_json` output back, checking its shape; raises ``ValueError`` if bad."""
    if _depth > _MAX_DEPTH or not isinstance(data, dict):
        raise ValueError("not a WIT type")
    kind = data.get("kind")
    if (
        not isinstance(kind, str)
        or kind not in _KINDS
        or set(data)
        - {
            "kind",
            "element",
            "fields",
            "elements",
            "cases",
            "names",
        }
    ):
        raise ValueError("not a WIT type")

    def sub(x: Any) -> WitType:
        return from_json(x, _depth + 1)

    def pairs(x: Any) -> list[tuple[str, Any]]:
        if not isinstance(x, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in x
        ):
            raise ValueError("not a WIT type")
        return [(p[0], p[1]) for p in x]

    names = data.get("names", [])
    elements = data.get("elements", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("not a WIT type")
    if not isinstance(elements, list):
        raise ValueError("not a WIT type")
    t = WitType(
        kind,
        element=sub(data["element"]) if "element" in data else None,
        fields=tuple((n, sub(ft)) for n, ft in pairs(data.get("fields", []))),
        elements=tuple(sub(e) for e in elements),
        cases=tuple((n, None if p is None else sub(p)) for n, p in pairs(data.get("cases", []))),
        names=tuple(names),
    )
    if kind == "list" and t.element is None:
        raise ValueError("a list type needs an element type")
    if kind in ("option", "result") and len(t.cases) != 2:
        raise ValueError(f"an {kind} type has two cases")
    return t


# Shorthands, mostly for tests and hand-built signatures.
def list_of(element: WitType) -> WitType:
    """``list<element>``."""
    return WitType("list", element=element)


def option_of(payload: WitType) -> WitType:
    """``option<payload>``."""
    return WitType("option", cases=(("none", None), ("some", payload)))


def result_of(ok: WitType | None, err: WitType | None) -> WitType:
    """``result<ok, err>`` (either side may be absent)."""
    return WitType("result", cases=(("ok", ok), ("err", err)))
