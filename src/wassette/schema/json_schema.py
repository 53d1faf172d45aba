"""WIT types -> JSON Schema (draft 2020-12), the shapes MCP clients see and send.

The mapping follows Wassette's rules and is stricter where they are loose (docs/spec.md section 5):

=================  ==============================================================
bool               ``{"type": "boolean"}``
u8 ... s64         ``{"type": "integer", "minimum": lo, "maximum": hi}`` (exact range)
f32 / f64          ``{"type": "number"}`` within the finite range; on output also the
                   strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has no such numbers)
char               a string of exactly one code point
string             ``{"type": "string"}``
list<T>            ``{"type": "array", "items": T}`` (``list<u8>`` too: an array of bytes)
record             an object, every field required, no other properties
tuple<A, B>        an array with ``prefixItems`` and ``minItems == maxItems``
variant            ``oneOf`` of ``{"tag": <const>, "val": <payload>}`` (no ``val`` without payload)
enum               a string ``enum``
option<T>          ``anyOf [null, T]``; when T itself may be ``null`` (``option<option<U>>``)
                   the present case is wrapped as ``{"some": T}`` so that no value is ambiguous
result<O, E>       ``oneOf [{"ok": O}, {"err": E}]``; a missing payload is ``null``
flags              an array of unique flag names
=================  ==============================================================
"""

from __future__ import annotations

from typing import Any, Final

from wassette.schema.wit import FLOAT_KINDS, INT_RANGES, WitType

JSONSchema = dict[str, Any]

#: The largest finite f32; JSON numbers beyond it cannot be passed without becoming infinite.
F32_MAX: Final = 3.4028234663852886e38
#: The largest finite f64; bigger JSON numbers would become infinite.
F64_MAX: Final = 1.7976931348623157e308
#: How non-finite floats are spelled in JSON output.
NON_FINITE: Final = ("NaN", "Infinity", "-Infinity")


class UnsupportedTypeError(Exception):
    """The type has no JSON form (a resource handle, a future, a stream, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"`{kind}` values cannot be passed as JSON")


def nullable(t: WitType) -> bool:
    """Whether ``null`` is a valid JSON value of ``t`` (only options are)."""
    return t.kind == "option"


def type_schema(t: WitType, *, output: bool = False) -> JSONSchema:  # noqa: PLR0911, PLR0912
    """The JSON Schema of one WIT value type.

    ``output=True`` gives the schema of values coming *from* the component, which differs
    only for floats (non-finite values are spelled as strings).
    Raises :class:`UnsupportedTypeError` for resources and other non-JSON types.
    """
    k = t.kind
    if k == "bool":
        return {"type": "boolean"}
    if k in INT_RANGES:
        lo, hi = INT_RANGES[k]
        return {"type": "integer", "minimum": lo, "maximum": hi}
    if k in FLOAT_KINDS:
        bound = F32_MAX if k == "f32" else F64_MAX
        number: JSONSchema = {"type": "number", "minimum": -bound, "maximum": bound}
        if output:
            return {"anyOf": [number, {"type": "string", "enum": list(NON_FINITE)}]}
        return number
    if k == "char":
        return {"type": "string", "minLength": 1, "maxLength": 1}
    if k == "string":
        return {"type": "string"}
    if k == "list":
        assert t.element is not None
        return {"type": "array", "items": type_schema(t.element, output=output)}
    if k == "record":
        return _object({n: type_schema(ft, output=output) for n, ft in t.fields})
    if k == "tuple":
        n = len(t.elements)
        schema: JSONSchema = {"type": "array"}
        if n:
            schema["prefixItems"] = [type_schema(e, output=output) for e in t.elements]
        schema["minItems"] = n
        schema["maxItems"] = n
        return schema
    if k == "variant":
        alternatives = []
        for name, payload in t.cases:
            props: JSONSchema = {"tag": {"const": name}}
            if payload is not None:
                props["val"] = type_schema(payload, output=output)
            alternatives.append(_object(props))
        return {"oneOf": alternatives}
    if k == "enum":
        return {"type": "string", "enum": list(t.names)}
    if k == "option":
        some = t.cases[1][1]
        assert some is not None
        inner = type_schema(some, output=output)
        if nullable(some):
            inner = _object({"some": inner})
        return {"anyOf": [{"type": "null"}, inner]}
    if k == "result":
        return {
            "oneOf": [
                _object({name: _payload_schema(payload, output)}) for name, payload in t.cases
            ]
        }
    if k == "flags":
        return {
            "type": "array",
            "items": {"type": "string", "enum": list(t.names)},
            "uniqueItems": True,
        }
    raise UnsupportedTypeError(k)


def input_schema(params: tuple[tuple[str, WitType], ...]) -> JSONSchema:
    """The MCP ``inputSchema``: an object of the named parameters, all required."""
    return _object({name: type_schema(t) for name, t in params})


def output_schema(result: WitType | None) -> JSONSchema | None:
    """The MCP ``outputSchema``: ``None`` without a result, else ``{"result": T}``."""
    if result is None:
        return None
    return _object({"result": type_schema(result, output=True)})


def _payload_schema(payload: WitType | None, output: bool) -> JSONSchema:
    return {"type": "null"} if payload is None else type_schema(payload, output=output)


def _object(properties: JSONSchema) -> JSONSchema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
