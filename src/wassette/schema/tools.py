"""Tool specs: a component's exported functions as MCP tools, as plain data.

No wasmtime here: a :class:`ToolSpec` is read back from metadata files (``from_json``) by the
manager and the CLI without loading the runtime. Reading specs out of a compiled component is
:mod:`wassette.runtime.discovery`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wassette.schema.json_schema import (
    JSONSchema,
    UnsupportedTypeError,
    input_schema,
    output_schema,
)
from wassette.schema.naming import tool_name
from wassette.schema.wit import WitType
from wassette.schema.wit import from_json as wit_from_json
from wassette.schema.wit import to_json as wit_to_json


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
