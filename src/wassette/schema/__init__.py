"""Pure type layer: WIT types -> JSON Schema, tool naming and tool enumeration.

Reads wasmtime's type classes (never instantiates or calls anything).
"""

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
    describe_function,
    enumerate_tools,
)
from wassette.schema.wit import WitType, from_valtype

__all__ = [
    "ComponentDocs",
    "JSONSchema",
    "SkippedExport",
    "ToolDiscovery",
    "ToolSpec",
    "UnsupportedTypeError",
    "WitType",
    "default_description",
    "describe_function",
    "enumerate_tools",
    "from_valtype",
    "input_schema",
    "output_schema",
    "read_component_docs",
    "tool_name",
    "type_schema",
]
