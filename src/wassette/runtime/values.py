"""JSON <-> wasmtime-py component values, driven by the WIT type (never by the value).

wasmtime-py's own value mapping is unsafe to feed with untrusted JSON (platform notes):
out-of-range integers are silently truncated (u8 300 -> 44), a lone surrogate in a ``char``
aborts the whole process, bad enum/flag names kill the instance, and ``option``/``result``/
``variant`` values are bare payloads whenever the cases' Python classes do not overlap, so only
the type tells which case a value is. This module therefore:

- validates every argument against the type *before* anything reaches wasmtime, raising
  :class:`~wassette.errors.InvalidArgumentsError` whose message starts with the offending path
  (``args.config.retries: 300 is out of range for u8 (0..255)``);
- builds exactly the Python objects wasmtime-py 50 expects (``Record`` with kebab-case
  attributes, ``bytes`` for ``list<u8>``, ``set`` for flags, ``tuple`` for tuples,
  ``Variant(tag, payload)`` only when the SDK wants it, floats as ``float``);
- passes the few values wasmtime-py would lower as a *different* case (a ``bool`` case after
  an integer case, a case after one whose payload may be ``None``) as :class:`ForcedCase`,
  which a small, additive hook on wasmtime-py's variant lowering honours by tag (installed
  explicitly, see :func:`wassette.runtime._wasmtime_compat.install`); if it cannot be installed
  such values are refused with :class:`~wassette.errors.UnsupportedValueError` rather than
  silently changed;
- reads results back into JSON using the type to recover the case of bare payloads.

The JSON shapes are the ones of :mod:`wassette.schema.json_schema`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Final

import wasmtime.component as wc

from wassette.errors import ComponentError, InvalidArgumentsError, UnsupportedValueError
from wassette.runtime import _wasmtime_compat as compat
from wassette.runtime._wasmtime_compat import ForcedCase
from wassette.runtime.discovery import from_valtype
from wassette.schema.json_schema import F32_MAX, F64_MAX, nullable
from wassette.schema.tools import ToolSpec
from wassette.schema.wit import FLOAT_KINDS, INT_RANGES, WitType

_NONE_TYPE: Final = type(None)
_MAX_SHOWN: Final = 40


# ---------------------------------------------------------------------------------------------
# Public API


def args_from_json(spec: ToolSpec, arguments: Any) -> list[Any]:
    """Validate a tool call's JSON arguments and convert them to wasmtime-py values, in order.

    ``arguments`` is the JSON object of named parameters (``None`` is taken as ``{}``).
    """
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        got = _json_kind(arguments)
        raise _bad("args", f"expected a JSON object of named arguments, got {got}")
    names = [name for name, _ in spec.params]
    extra = sorted(str(k) for k in arguments if k not in names)
    if extra:
        expected = _choices(names) if names else "no arguments"
        raise _bad("args", f"unexpected argument {_show(extra[0])} (expected: {expected})")
    values = []
    for name, t in spec.params:
        path = f"args.{name}"
        if name not in arguments:
            raise _bad(path, f"missing required argument of type {t}")
        values.append(json_to_value(t, arguments[name], path))
    return values


def result_to_json(spec: ToolSpec, value: Any) -> dict[str, Any] | None:
    """A call's result as the tool's structured content: ``{"result": ...}``, or ``None``."""
    if spec.result is None:
        return None
    return {"result": value_to_json(spec.result, value)}


def json_to_value(t: WitType | wc.ValType, value: Any, path: str = "args") -> Any:
    """Validate one JSON value against a WIT type and build the wasmtime-py value for it.

    Raises :class:`InvalidArgumentsError` (naming ``path``) when the JSON does not fit the
    type, and :class:`UnsupportedValueError` when it fits but wasmtime-py would pass it as a
    different value.
    """
    wit = t if isinstance(t, WitType) else from_valtype(t)
    return _to_value(wit, value, path)


def value_to_json(t: WitType | wc.ValType, value: Any) -> Any:
    """Turn a wasmtime-py value returned by a component into JSON, using the type."""
    wit = t if isinstance(t, WitType) else from_valtype(t)
    return _to_json(wit, value)


# ---------------------------------------------------------------------------------------------
# JSON -> value


def _to_value(t: WitType, v: Any, path: str) -> Any:  # noqa: PLR0911, PLR0912
    k = t.kind
    if k == "bool":
        if type(v) is not bool:
            raise _expected(path, "a boolean", v)
        return v
    if k in INT_RANGES:
        return _integer(k, v, path)
    if k in FLOAT_KINDS:
        return _float(k, v, path)
    if k in ("char", "string"):
        return _text(k, v, path)
    if k == "list":
        assert t.element is not None
        if type(v) is not list:
            raise _expected(path, "an array", v)
        if t.element.kind in INT_RANGES:
            # Fast path for byte buffers and integer arrays: one pass, no per-item paths.
            # (set/map/min/max run in C; bools are excluded by the exact type check.)
            lo, hi = INT_RANGES[t.element.kind]
            if not v:
                return b"" if t.is_bytes else []
            if set(map(type, v)) == {int} and lo <= min(v) and max(v) <= hi:
                return bytes(v) if t.is_bytes else list(v)
        items = [_to_value(t.element, e, f"{path}[{i}]") for i, e in enumerate(v)]
        return bytes(items) if t.is_bytes else items
    if k == "record":
        return _record(t, v, path)
    if k == "tuple":
        n = len(t.elements)
        if type(v) is not list:
            raise _expected(path, f"an array of {n} items", v)
        if len(v) != n:
            raise _bad(path, f"expected an array of exactly {n} items, got {len(v)}")
        return tuple(
            _to_value(e, x, f"{path}[{i}]")
            for i, (e, x) in enumerate(zip(t.elements, v, strict=True))
        )
    if k == "enum":
        if type(v) is not str:
            raise _expected(path, "a string", v)
        if v not in t.names:
            raise _bad(path, f"expected one of {_choices(t.names)}")
        return v
    if k == "flags":
        return _flags(t, v, path)
    if k in ("variant", "option", "result"):
        return _variant_like(t, v, path)
    raise _bad(path, f"values of type {k} cannot be passed as JSON")


def _integer(kind: str, v: Any, path: str) -> int:
    if type(v) is float and math.isfinite(v) and v.is_integer():
        # JSON Schema counts 3.0 as an integer, and some clients send every number as float.
        v = int(v)
    if type(v) is not int:
        raise _expected(path, "an integer", v)
    lo, hi = INT_RANGES[kind]
    if not lo <= v <= hi:
        shown = str(v) if v.bit_length() <= 128 else "a huge integer"
        raise _bad(path, f"{shown} is out of range for {kind} ({lo}..{hi})")
    return v


def _float(kind: str, v: Any, path: str) -> float:
    if type(v) is not int and type(v) is not float:
        raise _expected(path, "a number", v)
    if type(v) is float and not math.isfinite(v):
        raise _bad(path, "expected a finite number")
    bound = F32_MAX if kind == "f32" else F64_MAX
    # Compare before converting: Python compares int and float exactly, and the schema's
    # minimum/maximum say the same, so no value is rounded into range.
    if not -bound <= v <= bound:
        shown = "a huge integer" if isinstance(v, int) and v.bit_length() > 128 else repr(v)
        raise _bad(path, f"{shown} is out of range for {kind} (|x| <= {bound!r})")
    return float(v)  # wasmtime-py rejects ints for float types


def _text(kind: str, v: Any, path: str) -> str:
    if type(v) is not str:
        raise _expected(path, "a string" if kind == "string" else "a one-character string", v)
    if kind == "char" and len(v) != 1:
        raise _bad(path, f"expected exactly one character (one Unicode code point), got {len(v)}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate is not a Unicode scalar value: as a `char` it aborts the process
        # inside wasmtime, as a `string` it cannot be encoded at all.
        raise _bad(path, "contains a lone surrogate, which is not valid Unicode text") from None
    return v


def _record(t: WitType, v: Any, path: str) -> wc.Record:
    if type(v) is not dict:
        raise _expected(path, "an object", v)
    names = [n for n, _ in t.fields]
    extra = sorted(str(key) for key in v if key not in names)
    if extra:
        raise _bad(path, f"unexpected field {_show(extra[0])} (fields: {_choices(names)})")
    record = wc.Record()
    for name, ft in t.fields:
        if name not in v:
            raise _bad(f"{path}.{name}", f"missing required field of type {ft}")
        setattr(record, name, _to_value(ft, v[name], f"{path}.{name}"))
    return record


def _flags(t: WitType, v: Any, path: str) -> set[str]:
    if type(v) is not list:
        raise _expected(path, "an array of flag names", v)
    out: set[str] = set()
    for i, name in enumerate(v):
        if type(name) is not str:
            raise _expected(f"{path}[{i}]", "a flag name", name)
        if name not in t.names:
            raise _bad(f"{path}[{i}]", f"expected one of {_choices(t.names)}")
        if name in out:
            raise _bad(f"{path}[{i}]", "this flag is given twice")
        out.add(name)
    return out


def _variant_like(t: WitType, v: Any, path: str) -> Any:
    index, payload_json, payload_path = _pick_case(t, v, path)
    payload_t = t.cases[index][1]
    payload = None if payload_t is None else _to_value(payload_t, payload_json, payload_path)
    tag = t.cases[index][0]
    if _sdk_tagged(t):
        return wc.Variant(tag, payload)
    chosen = _sdk_choice(t, payload)
    if chosen == index and not isinstance(payload, ForcedCase):
        return payload  # wasmtime-py's own bare-payload form picks the right case
    # Installed at the runtime's start-up; asked again here because a call's arguments are
    # checked before its component is loaded (in a fresh CLI process, before any engine).
    if compat.forced_cases_installed() or compat.install():
        return ForcedCase(tag, payload)
    raise UnsupportedValueError(
        f"{path}: the {t.kind} case `{tag}` cannot be passed to the component",
        why=(
            f"wasmtime-py chooses the case of a {t} value from the Python class of its "
            f"payload, and would pass this one as case "
            f"`{t.cases[chosen][0] if chosen is not None else '?'}`"
        ),
        fix="use a different value, or change the WIT type so its cases differ in kind",
    )


def _pick_case(t: WitType, v: Any, path: str) -> tuple[int, Any, str]:
    """Which case a JSON value selects, its payload JSON, and the payload's path."""
    tags = [name for name, _ in t.cases]
    if t.kind == "option":
        if v is None:
            return 0, None, path
        some = t.cases[1][1]
        assert some is not None
        if not nullable(some):
            return 1, v, path
        if type(v) is not dict or set(v) != {"some"}:
            raise _bad(path, 'expected null or {"some": <value>} (the payload may itself be null)')
        return 1, v["some"], f"{path}.some"
    if t.kind == "result":
        if type(v) is not dict or len(v) != 1 or next(iter(v)) not in ("ok", "err"):
            raise _bad(path, 'expected an object with exactly one key, "ok" or "err"')
        key = next(iter(v))
        index = tags.index(key)
        if t.cases[index][1] is None and v[key] is not None:
            raise _bad(f"{path}.{key}", "expected null (this result case has no payload)")
        return index, v[key], f"{path}.{key}"
    # variant: {"tag": name, "val": payload}
    if type(v) is not dict:
        raise _expected(path, 'an object {"tag": ..., "val": ...}', v)
    tag = v.get("tag")
    if type(tag) is not str or tag not in tags:
        raise _bad(f"{path}.tag", f"expected one of {_choices(tags)}")
    index = tags.index(tag)
    has_payload = t.cases[index][1] is not None
    allowed = {"tag", "val"} if has_payload else {"tag"}
    extra = sorted(str(key) for key in v if key not in allowed)
    if extra:
        raise _bad(path, f"unexpected field {_show(extra[0])} for case `{tag}`")
    if has_payload and "val" not in v:
        raise _bad(f"{path}.val", f"missing the payload of case `{tag}`")
    return index, v.get("val"), f"{path}.val"


# ---------------------------------------------------------------------------------------------
# value -> JSON


def _to_json(t: WitType, v: Any) -> Any:  # noqa: PLR0911, PLR0912
    k = t.kind
    if k == "bool":
        return bool(v)
    if k in INT_RANGES:
        return int(v)
    if k in FLOAT_KINDS:
        f = float(v)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return f
    if k in ("char", "string", "enum"):
        return str(v)
    if k == "list":
        assert t.element is not None
        if t.is_bytes:
            return list(v)
        return [_to_json(t.element, e) for e in v]
    if k == "record":
        return {name: _to_json(ft, getattr(v, name)) for name, ft in t.fields}
    if k == "tuple":
        return [_to_json(e, x) for e, x in zip(t.elements, v, strict=True)]
    if k == "flags":
        return [name for name in t.names if name in v]
    if k in ("variant", "option", "result"):
        index, payload = _lifted_case(t, v)
        tag, payload_t = t.cases[index]
        payload_json = None if payload_t is None else _to_json(payload_t, payload)
        if k == "option":
            if index == 0:
                return None
            assert payload_t is not None
            return {"some": payload_json} if nullable(payload_t) else payload_json
        if k == "result":
            return {tag: payload_json}
        return {"tag": tag} if payload_t is None else {"tag": tag, "val": payload_json}
    raise ComponentError(f"the component returned a value of type {k}, which has no JSON form")


def _lifted_case(t: WitType, v: Any) -> tuple[int, Any]:
    """The case index and payload of a lifted variant/option/result value."""
    tags = [name for name, _ in t.cases]
    if _sdk_tagged(t):
        if not isinstance(v, wc.Variant) or v.tag not in tags:
            raise _mismatch(t)
        return tags.index(v.tag), v.payload
    for i, (_, payload_t) in enumerate(t.cases):
        if payload_t is None:
            if v is None:
                return i, None
        elif type(v) in _classes(payload_t, exact=True):
            return i, v
    raise _mismatch(t)


def _mismatch(t: WitType) -> ComponentError:
    return ComponentError(
        f"the component returned a value that does not match its type {t}",
        why="wasmtime-py produced an unexpected Python value",
    )


# ---------------------------------------------------------------------------------------------
# A model of wasmtime-py 50's variant handling (wasmtime/component/_types.py, VariantLikeType)


@lru_cache(maxsize=4096)
def _classes(t: WitType, *, exact: bool = False) -> frozenset[type]:  # noqa: PLR0911
    """The Python classes wasmtime-py uses for values of ``t`` (its ``add_classes``).

    With ``exact=False`` this is the SDK's own set, where a payload-less case counts as
    ``object`` (so ``isinstance`` matches anything). With ``exact=True`` that ``object`` is
    ``NoneType``, the only value such a case really produces: used to read results back.
    """
    k = t.kind
    if k == "bool":
        return frozenset({bool})
    if k in INT_RANGES:
        return frozenset({int})
    if k in FLOAT_KINDS:
        return frozenset({float})
    if k in ("char", "string", "enum"):
        return frozenset({str})
    if k == "list":
        return frozenset({bytes if t.is_bytes else list})
    if k == "record":
        return frozenset({wc.Record})
    if k == "tuple":
        return frozenset({tuple})
    if k == "flags":
        return frozenset({set})
    if k in ("variant", "option", "result"):
        if _sdk_tagged(t):
            return frozenset({wc.Variant})
        out: set[type] = set()
        for _, payload in t.cases:
            out |= _case_classes(payload, exact)
        return frozenset(out)
    return frozenset({object})


def _case_classes(payload: WitType | None, exact: bool) -> frozenset[type]:
    if payload is None:
        return frozenset({_NONE_TYPE if exact else object})
    return _classes(payload, exact=exact)


@lru_cache(maxsize=4096)
def _sdk_tagged(t: WitType) -> bool:
    """Whether wasmtime-py represents values of ``t`` as ``Variant(tag, payload)``.

    Mirrors ``VariantLikeType._tagged``: tagged as soon as two cases' class sets intersect.
    """
    seen: set[type] = set()
    for _, payload in t.cases:
        case = _case_classes(payload, False)
        if case & seen:
            return True
        seen |= case
    return False


def _sdk_choice(t: WitType, payload: Any) -> int | None:
    """The case wasmtime-py would lower an untagged ``payload`` as (``VariantLikeType._lower``)."""
    for i, (_, payload_t) in enumerate(t.cases):
        if payload_t is None:
            if payload is None:
                return i
        elif isinstance(payload, tuple(_classes(payload_t))):
            return i
    return None


# ---------------------------------------------------------------------------------------------
# Messages


_FIX: Final = "make the arguments match the tool's inputSchema"


def _bad(path: str, problem: str) -> InvalidArgumentsError:
    return InvalidArgumentsError(path, problem, fix=_FIX)


def _expected(path: str, what: str, got: Any) -> InvalidArgumentsError:
    return InvalidArgumentsError(path, f"expected {what}, got {_json_kind(got)}", fix=_FIX)


def _json_kind(v: Any) -> str:  # noqa: PLR0911
    """The JSON type of a value, for messages (never the value itself: it may be private)."""
    if v is None:
        return "null"
    if type(v) is bool:
        return "a boolean"
    if type(v) in (int, float):
        return "a number"
    if type(v) is str:
        return "a string"
    if type(v) is list:
        return "an array"
    if type(v) is dict:
        return "an object"
    return f"a non-JSON value ({type(v).__name__})"


def _choices(names: list[str] | tuple[str, ...], limit: int = 20) -> str:
    """A bounded list of the valid names, for messages."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _show(s: str) -> str:
    """A short quoted rendering of a key the caller gave (keys only: values may be private)."""
    return repr(s if len(s) <= _MAX_SHOWN else s[:_MAX_SHOWN] + "...")
