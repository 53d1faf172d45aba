"""Tool discovery: a component's exported functions as MCP tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import wasmtime
import wasmtime.component as wc

from wassette.schema.docs import ComponentDocs, read_component_docs
from wassette.schema.json_schema import (
    JSONSchema,
    UnsupportedTypeError,
    input_schema,
    output_schema,
)
from wassette.schema.naming import tool_name
from wassette.schema.wit import WitType, from_valtype
from wassette.schema.wit import from_json as wit_from_json
from wassette.schema.wit import to_json as wit_to_json

#: componentize-py's internal export instance, which is not a tool (Wassette exposes it as
#: ``exports_init``: a bug we do not copy).
_COMPONENTIZE_PY_INSTANCE = "exports"


@dataclass(frozen=True)
class ToolSpec:
    """One exported function, as an MCP tool.

    ``export_path`` is how to find the function on an instance: ``("get-weather",)`` for a
    world-level export, ``("example:weather/api", "get-weather")`` for a function inside an
    exported interface (look up the instance's export index first, then the function in it).
    """

    name: str
    description: str
    input_schema: JSONSchema
    output_schema: JSONSchema | None
    export_path: tuple[str, ...]
    params: tuple[tuple[str, WitType], ...]
    result: WitType | None

    def as_mcp_tool(self) -> dict[str, Any]:
        """The MCP ``Tool`` object (name, description, inputSchema, optional outputSchema)."""
        tool: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        }
        if self.output_schema is not None:
            tool["outputSchema"] = self.output_schema
        return tool

    def to_json(self) -> dict[str, Any]:
        """A JSON form for metadata files (tools can be listed without compiling the wasm)."""
        return {
            "name": self.name,
            "description": self.description,
            "export_path": list(self.export_path),
            "params": [[n, wit_to_json(t)] for n, t in self.params],
            "result": None if self.result is None else wit_to_json(self.result),
        }

    @classmethod
    def from_json(cls, data: Any) -> ToolSpec:
        """Rebuild a spec from :meth:`to_json` output (schemas are regenerated from the types).

        Raises ``ValueError`` on anything malformed: the caller should then re-enumerate the
        component instead of trusting the file.
        """
        if not isinstance(data, dict) or "result" not in data:
            raise ValueError("not a tool spec")
        path, params, description = (
            data.get("export_path"),
            data.get("params"),
            data.get("description"),
        )
        if (
            not isinstance(path, list)
            or not 1 <= len(path) <= 2
            or not all(isinstance(p, str) and p for p in path)
            or not isinstance(params, list)
            or not isinstance(description, str)
        ):
            raise ValueError("not a tool spec")
        typed: list[tuple[str, WitType]] = []
        for entry in params:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                raise ValueError("not a tool spec")
            typed.append((entry[0], wit_from_json(entry[1])))
        raw_result = data.get("result")
        result = None if raw_result is None else wit_from_json(raw_result)
        export_path = tuple(path)
        if data.get("name") != tool_name(export_path):
            raise ValueError("tool name does not match its export path")
        try:
            schemas = (input_schema(tuple(typed)), output_schema(result))
        except UnsupportedTypeError as err:
            raise ValueError(str(err)) from None
        return cls(
            name=tool_name(export_path),
            description=description,
            input_schema=schemas[0],
            output_schema=schemas[1],
            export_path=export_path,
            params=tuple(typed),
            result=result,
        )


@dataclass(frozen=True)
class SkippedExport:
    """An exported function that is not offered as a tool, and why."""

    export_path: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class ToolDiscovery:
    """The tools of a component, plus the exports left out (for ``inspect`` and debug logs)."""

    tools: tuple[ToolSpec, ...]
    skipped: tuple[SkippedExport, ...] = field(default=())


def default_description(export_path: tuple[str, ...]) -> str:
    """The description used when the component carries no doc comment for the function."""
    if len(export_path) == 1:
        return f"Call the function `{export_path[0]}` exported by the component."
    return f"Call the function `{export_path[-1]}` of the exported interface `{export_path[0]}`."


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
