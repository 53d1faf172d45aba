"""Tool discovery: read a compiled component's exports into :class:`ToolSpec` values.

The wasmtime side of :mod:`wassette.schema`: wasmtime-py's type objects are walked once, here,
into the pure :class:`~wassette.schema.wit.WitType` model the rest of the code uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import wasmtime
import wasmtime.component as wc

from wassette.schema.json_schema import input_schema, output_schema
from wassette.schema.naming import tool_name
from wassette.schema.tools import SkippedExport, ToolDiscovery, ToolSpec, default_description
from wassette.schema.wit import WitType

if TYPE_CHECKING:
    from wassette.schema.docs import ComponentDocs

#: componentize-py's internal export instance, which is not a tool (Wassette exposes it as
#: ``exports_init``: a bug we do not copy).
_COMPONENTIZE_PY_INSTANCE = "exports"

_SCALARS: Final[dict[type, str]] = {
    wc.Bool: "bool",
    wc.U8: "u8",
    wc.U16: "u16",
    wc.U32: "u32",
    wc.U64: "u64",
    wc.S8: "s8",
    wc.S16: "s16",
    wc.S32: "s32",
    wc.S64: "s64",
    wc.F32: "f32",
    wc.F64: "f64",
    wc.Char: "char",
    wc.String: "string",
    wc.ErrorContext: "error-context",
}


def from_valtype(ty: wc.ValType) -> WitType:  # noqa: PLR0911, PLR0912
    """Read a wasmtime-py ``ValType`` into a :class:`WitType` (one FFI walk)."""
    scalar = _SCALARS.get(type(ty))
    if scalar is not None:
        return WitType(scalar)
    if isinstance(ty, wc.ListType):
        return WitType("list", element=from_valtype(ty.element))
    if isinstance(ty, wc.RecordType):
        return WitType("record", fields=tuple((n, from_valtype(t)) for n, t in ty.fields))
    if isinstance(ty, wc.TupleType):
        return WitType("tuple", elements=tuple(from_valtype(t) for t in ty.elements))
    if isinstance(ty, wc.VariantType):
        return WitType("variant", cases=tuple((n, _maybe(t)) for n, t in ty.cases))
    if isinstance(ty, wc.EnumType):
        return WitType("enum", names=tuple(ty.names))
    if isinstance(ty, wc.OptionType):
        return WitType("option", cases=(("none", None), ("some", from_valtype(ty.payload))))
    if isinstance(ty, wc.ResultType):
        return WitType("result", cases=(("ok", _maybe(ty.ok)), ("err", _maybe(ty.err))))
    if isinstance(ty, wc.FlagsType):
        return WitType("flags", names=tuple(ty.names))
    if isinstance(ty, wc.OwnType):
        return WitType("own")
    if isinstance(ty, wc.BorrowType):
        return WitType("borrow")
    if isinstance(ty, wc.FutureType):
        return WitType("future")
    if isinstance(ty, wc.StreamType):
        return WitType("stream")
    # A value type added by a later wasmtime: treat it as opaque so the function is skipped
    # (with a reason) instead of being exposed with a wrong schema.
    return WitType(f"unknown:{type(ty).__name__}")


def _maybe(ty: wc.ValType | None) -> WitType | None:
    return None if ty is None else from_valtype(ty)


def describe_function(
    export_path: tuple[str, ...], func: wc.FuncType, docs: ComponentDocs | None = None
) -> ToolSpec | SkippedExport:
    """Turn one exported function into a :class:`ToolSpec`, or say why it cannot be a tool."""
    params = tuple((name, from_valtype(t)) for name, t in func.params)
    raw_result = func.result
    result = None if raw_result is None else from_valtype(raw_result)
    for name, t in params:
        if t.contains_opaque():
            return SkippedExport(
                export_path,
                f"parameter `{name}` has type {t}, which holds a resource or another "
                "non-JSON value; JSON callers cannot provide it",
            )
    if result is not None and result.contains_opaque():
        return SkippedExport(
            export_path,
            f"the result type {result} holds a resource or another non-JSON value; "
            "it cannot be returned as JSON",
        )
    text = docs.for_export(export_path) if docs is not None else None
    return ToolSpec(
        name=tool_name(export_path),
        description=text or default_description(export_path),
        input_schema=input_schema(params),
        output_schema=output_schema(result),
        export_path=export_path,
        params=params,
        result=result,
    )


def enumerate_tools(
    component: wc.Component, engine: wasmtime.Engine, wasm: bytes | None = None
) -> ToolDiscovery:
    """List the tools of a compiled component.

    World-level exported functions and functions of exported interfaces become tools;
    componentize-py's internal ``exports`` instance and functions taking or returning
    resources are skipped (and listed in ``skipped``). Pass the component's ``wasm`` bytes to
    pick up WIT doc comments from its ``package-docs`` section.
    """
    # The documentation reader only when a component is read for its tools, not for a call.
    from wassette.schema.docs import read_component_docs

    docs = read_component_docs(wasm) if wasm is not None else None
    tools: list[ToolSpec] = []
    skipped: list[SkippedExport] = []
    for name, extern in component.type.exports(engine).items():
        item = extern.ty
        if isinstance(item, wc.FuncType):
            _add(describe_function((name,), item, docs), tools, skipped)
        elif isinstance(item, wc.ComponentInstanceType):
            members = item.exports(engine)
            funcs = {n: e.ty for n, e in members.items()}
            funcs = {n: f for n, f in funcs.items() if isinstance(f, wc.FuncType)}
            if name == _COMPONENTIZE_PY_INSTANCE and set(funcs) <= {"init"}:
                skipped.extend(
                    SkippedExport((name, f), "componentize-py's internal start-up function")
                    for f in funcs
                )
                continue
            for fname, ftype in funcs.items():
                assert isinstance(ftype, wc.FuncType)
                if fname.startswith("["):
                    # [constructor]r, [method]r.m, [static]r.m: resource functions.
                    skipped.append(SkippedExport((name, fname), "a resource constructor or method"))
                    continue
                _add(describe_function((name, fname), ftype, docs), tools, skipped)
        # Exported types, resources, core modules and nested components are not tools.
    names = [t.name for t in tools]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        # Two exports that normalise to one name (e.g. `a:b/c#d` and `a_b_c_d`): offering
        # either would make the other unreachable, so neither is offered.
        skipped.extend(
            SkippedExport(t.export_path, f"its tool name `{t.name}` is not unique")
            for t in tools
            if t.name in clashes
        )
        tools = [t for t in tools if t.name not in clashes]
    return ToolDiscovery(tuple(tools), tuple(skipped))


def _add(
    found: ToolSpec | SkippedExport, tools: list[ToolSpec], skipped: list[SkippedExport]
) -> None:
    if isinstance(found, ToolSpec):
        tools.append(found)
    else:
        skipped.append(found)
