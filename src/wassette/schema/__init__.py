"""Pure type layer: WIT types -> JSON Schema, tool naming and tool specs.

Does not import wasmtime: reading types and tools out of a compiled component is
:mod:`wassette.runtime.discovery`.
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
)
from wassette.schema.wit import WitType

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
