"""The built-in tools' names, input schemas, and the checks their arguments go through.

The schemas are Wassette 0.8.0's (``details`` objects forbid extra fields: a typo such as
``acess`` must be refused, not dropped). Argument errors say which field is wrong and show the
shape the tool takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wassette.errors import InvalidArgumentsError

__all__ = [
    "CHANGES_TOOLS",
    "FETCH_TOOLS",
    "NAMES",
    "SCHEMAS",
    "access_list",
    "bad_argument",
    "details_of",
    "mcp_tools",
    "string_argument",
]

_ID = {"type": "string", "description": "The component id (see list-components)."}


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


def _details(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    # Wassette's details schemas forbid extra fields: a typo ("acess") must not be dropped.
    details = {**_obj(props, required), "additionalProperties": False}
    return _obj({"component_id": _ID, "details": details}, ["component_id", "details"])


_URI = {"type": "string", "description": "A host directory as fs:///absolute/path."}
_HOST = {"type": "string", "description": "A host: exact, *.domain, optional scheme and :port."}
_KEY = {"type": "string", "description": "An environment variable name, e.g. API_KEY."}

#: name -> (description, input schema), in the order Wassette lists them.
SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "load-component": (
        "Load a WebAssembly component from a file://, https:// or oci:// URI and offer its "
        "tools. Loading an id that exists replaces it.",
        _obj({"path": {"type": "string", "description": "The component's URI."}}, ["path"]),
    ),
    "unload-component": (
        "Unload a component: remove its wasm, compiled artifact, metadata and policy (its "
        "secrets are kept).",
        _obj({"id": _ID}, ["id"]),
    ),
    "list-components": (
        "List the loaded components with their tools, whether they have a policy, and the "
        "source and digest each was loaded from.",
        _obj({}, []),
    ),
    "get-policy": (
        "Show a component's policy (policy-defined values are hidden).",
        _obj({"component_id": _ID}, ["component_id"]),
    ),
    "grant-storage-permission": (
        "Allow a component to read and/or write a host directory.",
        _details(
            {
                "uri": _URI,
                "access": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["read", "write"]},
                    "minItems": 1,
                    "uniqueItems": True,
                },
            },
            ["uri", "access"],
        ),
    ),
    "grant-network-permission": (
        "Allow a component to make outgoing HTTP requests to a host.",
        _details({"host": _HOST}, ["host"]),
    ),
    "grant-environment-variable-permission": (
        "Allow a component to see an environment variable (its value comes from the "
        "component's secrets, the server's --env, or the server's environment).",
        _details({"key": _KEY}, ["key"]),
    ),
    "revoke-storage-permission": (
        "Remove every storage permission of a component for a host directory.",
        _details({"uri": _URI}, ["uri"]),
    ),
    "revoke-network-permission": (
        "Remove a component's network permission for a host.",
        _details({"host": _HOST}, ["host"]),
    ),
    "revoke-environment-variable-permission": (
        "Remove an environment variable from a component's allow list.",
        _details({"key": _KEY}, ["key"]),
    ),
    "reset-permission": (
        "Delete a component's policy: it is denied everything again.",
        _obj({"component_id": _ID}, ["component_id"]),
    ),
    "search-components": (
        "Search the catalogue of known components (name, description, URI); each entry says "
        "whether it is loaded. Load one with load-component and its uri.",
        _obj({"query": {"type": "string", "description": "Text to look for (optional)."}}, []),
    ),
}

NAMES = frozenset(SCHEMAS)

#: Built-ins after which the tool list may have changed.
CHANGES_TOOLS = frozenset({"load-component", "unload-component"})
#: Built-ins that fetch over the network: run on the server's separate, bounded load pool.
FETCH_TOOLS = frozenset({"load-component"})


def mcp_tools() -> list[dict[str, Any]]:
    """The built-in tools as MCP ``Tool`` objects (camelCase keys)."""
    return [
        {"name": name, "description": desc, "inputSchema": schema}
        for name, (desc, schema) in SCHEMAS.items()
    ]


# ----------------------------------------------------------------------------- arguments


def bad_argument(tool: str, path: str, problem: str) -> InvalidArgumentsError:
    return InvalidArgumentsError(
        path,
        problem,
        why=f"{tool} takes {_signature(tool)}",
        fix=f"call {tool} with arguments shaped like {_signature(tool)}",
    )


def _signature(tool: str) -> str:
    schema = SCHEMAS[tool][1]

    def shape(s: Mapping[str, Any]) -> str:
        props = s.get("properties", {})
        req = set(s.get("required", []))
        parts = []
        for k, v in props.items():
            inner = shape(v) if v.get("type") == "object" else v.get("type", "any")
            parts.append(f"{k}{'' if k in req else '?'}: {inner}")
        return "{" + ", ".join(parts) + "}"

    return shape(schema)


def string_argument(tool: str, args: Mapping[str, Any], key: str, where: str = "") -> str:
    value = args.get(key)
    path = f"{where}{key}"
    if value is None:
        raise bad_argument(tool, path, "is required")
    if not isinstance(value, str):
        raise bad_argument(tool, path, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise bad_argument(tool, path, "must not be empty")
    return value


def details_of(tool: str, args: Mapping[str, Any]) -> Mapping[str, Any]:
    details = args.get("details")
    if details is None:
        raise bad_argument(tool, "details", "is required")
    if not isinstance(details, dict):
        raise bad_argument(tool, "details", f"must be an object, not {type(details).__name__}")
    allowed = SCHEMAS[tool][1]["properties"]["details"]["properties"]
    extra = sorted(str(k) for k in details if k not in allowed)
    if extra:
        shown = ", ".join(ascii(k[:40]) for k in extra[:5])
        raise bad_argument(
            tool, "details", f"has unknown field(s) {shown}; allowed: {', '.join(allowed)}"
        )
    return details


def access_list(tool: str, details: Mapping[str, Any]) -> list[str]:
    access = details.get("access")
    if access is None:
        raise bad_argument(tool, "details.access", "is required")
    if isinstance(access, str):
        raise bad_argument(
            tool, "details.access", 'must be an array, e.g. ["read"] or ["read", "write"]'
        )
    if not isinstance(access, list) or not access:
        raise bad_argument(tool, "details.access", 'must be a non-empty list of "read" and "write"')
    bad = [a for a in access if a not in ("read", "write")]
    if bad:
        raise bad_argument(tool, "details.access", 'may contain only "read" and "write"')
    return list(dict.fromkeys(access))
