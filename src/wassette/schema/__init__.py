"""Pure type layer: WIT types -> JSON Schema, tool naming and tool specs.

Does not import wasmtime: reading types and tools out of a compiled component is
:mod:`wassette.runtime.discovery`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wassette.schema.docs import ComponentDocs, read_component_docs
    from wassette.schema.json_schema import (
        JSONSchema,
        UnsupportedTypeError,
        input_schema,
        output_schema,
        type_schema,
    )
    from wassette.schema.naming import tool_name
    from wassette.schema.tools import (
        SkippedExport,
        ToolDiscovery,
        ToolSpec,
        default_description,
    )
    from wassette.schema.wit import WitType

# Where each name lives. Loaded on first use (PEP 562): a tool call needs ``tools`` and
# ``wit``, not the documentation reader, and importing a module of this package runs this file.
_HOMES = {
    "ComponentDocs": "docs",
    "read_component_docs": "docs",
    "JSONSchema": "json_schema",
    "UnsupportedTypeError": "json_schema",
    "input_schema": "json_schema",
    "output_schema": "json_schema",
    "type_schema": "json_schema",
    "tool_name": "naming",
    "SkippedExport": "tools",
    "ToolDiscovery": "tools",
    "ToolSpec": "tools",
    "default_description": "tools",
    "WitType": "wit",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"wassette.schema.{home}"), name)


__all__ = [
    "ComponentDocs",
    "JSONSchema",
    "SkippedExport",
    "ToolDiscovery",
    "ToolSpec",
    "UnsupportedTypeError",
    "WitType",
    "default_description",
    "input_schema",
    "output_schema",
    "read_component_docs",
    "tool_name",
    "type_schema",
]
