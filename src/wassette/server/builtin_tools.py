"""The twelve built-in tools (reference §5): names, input schemas, and what they do.

Pure synchronous functions over a :class:`~wassette.manager.ComponentManager`; the server runs
them in a worker thread. They return JSON-ready dicts and raise :class:`WassetteError` for
anything the caller can fix (the server turns that into an ``isError`` result). No result
ever carries a secret value: policies go through ``policy_to_dict`` (values hidden).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wassette.approval import ApprovalRequest, Approver, refuse_all
from wassette.errors import (
    ApprovalRefusedError,
    ComponentSourceError,
    InvalidArgumentsError,
    SourceUnreachableError,
    UsageError,
    WassetteError,
)
from wassette.manager import ComponentManager
from wassette.policy.model import Policy
from wassette.policy.view import policy_to_dict

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


def error_summary(exc: WassetteError) -> str:
    """what: why of an error, for the operator's log."""
    return exc.message


def loads_busy(limit: int) -> WassetteError:
    """The error for a load refused because too many are already queued."""
    return SourceUnreachableError(
        "the server is busy loading other components",
        why=f"{limit} loads are already waiting for a free load slot",
        fix="retry when the current loads have finished (or failed at their deadline)",
    )


def mcp_tools() -> list[dict[str, Any]]:
    """The built-in tools as MCP ``Tool`` objects (camelCase keys)."""
    return [
        {"name": name, "description": desc, "inputSchema": schema}
        for name, (desc, schema) in SCHEMAS.items()
    ]


# ----------------------------------------------------------------------------- arguments


def _bad(tool: str, path: str, problem: str) -> InvalidArgumentsError:
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


def _string(tool: str, args: Mapping[str, Any], key: str, where: str = "") -> str:
    value = args.get(key)
    path = f"{where}{key}"
    if value is None:
        raise _bad(tool, path, "is required")
    if not isinstance(value, str):
        raise _bad(tool, path, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise _bad(tool, path, "must not be empty")
    return value


def _details_of(tool: str, args: Mapping[str, Any]) -> Mapping[str, Any]:
    details = args.get("details")
    if details is None:
        raise _bad(tool, "details", "is required")
    if not isinstance(details, dict):
        raise _bad(tool, "details", f"must be an object, not {type(details).__name__}")
    allowed = SCHEMAS[tool][1]["properties"]["details"]["properties"]
    extra = sorted(str(k) for k in details if k not in allowed)
    if extra:
        shown = ", ".join(ascii(k[:40]) for k in extra[:5])
        raise _bad(tool, "details", f"has unknown field(s) {shown}; allowed: {', '.join(allowed)}")
    return details


def _access(tool: str, details: Mapping[str, Any]) -> list[str]:
    access = details.get("access")
    if access is None:
        raise _bad(tool, "details.access", "is required")
    if isinstance(access, str):
        raise _bad(tool, "details.access", 'must be an array, e.g. ["read"] or ["read", "write"]')
    if not isinstance(access, list) or not access:
        raise _bad(tool, "details.access", 'must be a non-empty list of "read" and "write"')
    bad = [a for a in access if a not in ("read", "write")]
    if bad:
        raise _bad(tool, "details.access", 'may contain only "read" and "write"')
    return list(dict.fromkeys(access))


# ------------------------------------------------------------------------------- running


#: Why the default approver refuses: nobody behind the MCP client can be asked yet.
NO_APPROVER = (
    "nobody can approve this over MCP on this server; the operator can do it at the command line"
)


@dataclass
class BuiltinContext:
    """What the built-ins need besides the manager."""

    manager: ComponentManager
    #: Builds the fetch options for a load (registry credentials, CA file, ...) for a URI.
    fetch_options: Callable[[str], Any]
    #: Answers the approval requests of this call (the server binds one per call, from the
    #: ``mcp_grants`` setting and the client's session); the default asks nobody and refuses.
    approver: Approver = field(default_factory=lambda: refuse_all("unavailable", NO_APPROVER))
    #: What search-components searches (catalogue entries); None: the shipped catalogue.
    catalogue: list[Any] | None = None


def require_approval(ctx: BuiltinContext, request: ApprovalRequest, instead: str) -> None:
    """Ask ``ctx.approver``; a refusal raises ApprovalRefusedError (nothing has changed yet).

    ``instead`` is the CLI command the operator can run to make the change themselves.
    """
    decision = ctx.approver(request)
    if not decision.approved:
        raise ApprovalRefusedError(
            f"not approved: {request.summary}",
            why=decision.reason or decision.how,
            fix=f"nothing was changed; the operator can make this change with: {instead}",
        )


def _policy_view(policy: Policy | None) -> dict[str, Any] | None:
    return None if policy is None else policy_to_dict(policy)


def _granted(
    verb: str, cid: str, kind: str, details: dict[str, Any], new: Policy
) -> dict[str, Any]:
    # Wassette's wording: grants and the storage revoke say "... successfully", the network
    # and environment revokes say "permission revoked".
    status = (
        "permission revoked"
        if verb == "revoked" and kind != "storage"
        else f"permission {verb} successfully"
    )
    out: dict[str, Any] = {
        "status": status,
        "component_id": cid,
        "permission_type": kind,
        "details": details,
    }
    if verb == "revoked" and kind == "storage":
        out["uri"] = details["uri"]
        out["message"] = "All access (read and write) to the specified URI has been revoked"
    out["policy"] = _policy_view(new)
    return out


log = logging.getLogger(__name__)

#: Longest ``path`` argument load-component accepts (PATH_MAX on Linux).
MAX_LOAD_URI = 4096


def _load(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    uri = _string(name, args, "path")
    shown = ascii(uri[:120]) + ("..." if len(uri) > 120 else "")
    if len(uri) > MAX_LOAD_URI:
        raise UsageError(
            f"cannot load {shown}",
            why=f"the path is longer than {MAX_LOAD_URI} characters",
            fix="give a shorter path or URI",
        )
    local = "://" not in uri or uri[:7].lower() == "file://"
    if "://" not in uri:
        if not Path(uri).is_absolute():
            # The server's working directory is nothing the client knows or should probe.
            raise UsageError(
                f"cannot load {shown}",
                why="relative paths are not accepted over MCP",
                fix="give an absolute path, a file:// URI, or an oci:// or https:// URI",
            )
        uri = Path(uri).as_uri()  # a bare absolute path: what the caller meant
    try:
        outcome, tools = ctx.manager.load(uri, ctx.fetch_options(uri), approver=ctx.approver)
    except ApprovalRefusedError:
        raise  # says what was refused and why; reveals nothing about the server's files
    except WassetteError as exc:
        if not local:
            raise
        # Which server files exist or are readable is not the client's business: the
        # operator gets the detail in the log, the client one answer for every failure.
        log.warning("load-component %s failed: %s", shown, error_summary(exc))
        raise ComponentSourceError(
            f"cannot load {shown}",
            why="the file is missing, unreadable or not a valid component (the server log "
            "has the detail)",
            fix="ask the operator to check the server log, or load the component with "
            "`wassette component load` on the server",
        ) from None
    result: dict[str, Any] = outcome.to_json([t.name for t in tools])
    if outcome.id_note:
        result["note"] = outcome.id_note
    return result


def _unload(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    m = ctx.manager
    cid = _string(name, args, "id")
    m.require(cid)
    require_approval(
        ctx,
        ApprovalRequest(
            "unload",
            cid,
            f"Unload component '{cid}' (its wasm, policy and metadata are deleted; its "
            "secrets are kept)",
        ),
        f"wassette component unload {cid}",
    )
    removed = m.unload(cid)
    return {
        "status": "component unloaded successfully",
        "id": cid,
        "removed": [p.name for p in removed],
        "secrets_kept": m.secrets.list_keys(cid),
    }


def _list(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    rows = _component_rows(ctx.manager)
    return {"components": rows, "total": len(rows)}


def _search_tool(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    query = args.get("query")
    if query is not None and not isinstance(query, str):
        raise _bad(name, "query", f"must be a string, not {type(query).__name__}")
    return _search(ctx.manager, query or "", ctx.catalogue)


def _component(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> str:
    cid = _string(name, args, "component_id")
    ctx.manager.require(cid)
    return cid


def _get_policy(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    cid = _component(ctx, name, args)
    policy = ctx.manager.policy(cid)
    out: dict[str, Any] = {
        "status": "policy found" if policy is not None else "no policy found",
        "component_id": cid,
    }
    if policy is not None:
        out["policy_info"] = _policy_info(ctx.manager, cid)
    out["policy"] = _policy_view(policy)
    if policy is None:
        out["message"] = (
            "no policy file: the component is denied everything (grant permissions to allow "
            "storage, network or environment variables)"
        )
    return out


def _policy_info(m: ComponentManager, cid: str) -> dict[str, Any]:
    """Wassette's description of where a policy lives."""
    path = m.policies.path_for(cid)
    try:
        created = int(path.stat().st_mtime)
    except OSError:
        created = None
    return {
        "policy_id": f"{cid}-policy",
        "source_uri": path.resolve().as_uri(),
        "local_path": str(path),
        "created_at": created,
    }


def _reset(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    cid = _component(ctx, name, args)
    ctx.manager.policies.reset(cid)
    return {
        "status": "permissions reset successfully",
        "component_id": cid,
        "message": "policy removed; the component is denied everything",
    }


def _permission(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    cid = _component(ctx, name, args)
    details = _details_of(name, args)
    store = ctx.manager.policies
    verb = "granted" if name.startswith("grant-") else "revoked"
    kind = name.split("-", 1)[1].removesuffix("-permission")
    shown: dict[str, Any]

    def approve(what: str, instead: str) -> None:
        request = ApprovalRequest(
            "grant", cid, f"Grant component '{cid}' {what}", (f"component: {cid}", what)
        )
        require_approval(ctx, request, instead)

    if kind == "storage":
        uri = _string(name, details, "uri", "details.")
        if verb == "granted":
            access = _access(name, details)
            # A malformed or protected grant is refused before the person is asked.
            store.check_storage_grant(cid, uri, access)
            approve(
                f"{' and '.join(access)} access to the host directory {uri}",
                f"wassette permission grant storage {cid} {uri} --access {','.join(access)}",
            )
            new = store.grant_storage(cid, uri, access)
            shown = {"uri": uri, "access": access}
        else:
            new = store.revoke_storage(cid, uri)
            shown = {"uri": uri}
    elif kind == "network":
        host = _string(name, details, "host", "details.")
        if verb == "granted":
            approve(f"network access to {host}", f"wassette permission grant network {cid} {host}")
        grant = store.grant_network if verb == "granted" else store.revoke_network
        new = grant(cid, host)
        shown = {"host": host}
    else:
        key = _string(name, details, "key", "details.")
        if verb == "granted":
            approve(
                f"the environment variable {key} (its value from the operator, the "
                "component's own secrets, or the server's environment)",
                f"wassette permission grant environment-variable {cid} {key}",
            )
            new = store.grant_environment_variable(cid, key)
        else:
            new = store.revoke_environment_variable(cid, key)
        shown = {"key": key}
        kind = "environment variable"
    return _granted(verb, cid, kind, shown, new)


_RUNNERS: dict[str, Callable[[BuiltinContext, str, Mapping[str, Any]], dict[str, Any]]] = {
    "load-component": _load,
    "unload-component": _unload,
    "list-components": _list,
    "get-policy": _get_policy,
    "grant-storage-permission": _permission,
    "grant-network-permission": _permission,
    "grant-environment-variable-permission": _permission,
    "revoke-storage-permission": _permission,
    "revoke-network-permission": _permission,
    "revoke-environment-variable-permission": _permission,
    "reset-permission": _reset,
    "search-components": _search_tool,
}


def run_builtin(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Run built-in tool ``name`` with JSON ``args``; a WassetteError says what to fix."""
    if not isinstance(args, Mapping):
        raise _bad(name, "arguments", "must be a JSON object")
    return _RUNNERS[name](ctx, name, args)


def _component_rows(m: ComponentManager) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for cid in m.component_ids():
        source = m.source(cid)
        row: dict[str, Any] = {
            "id": cid,
            "policy": m.policies.exists(cid),
            "source": source["uri"],
            "digest": source["digest"],
        }
        try:
            specs = m.cached_tools(cid)
        except WassetteError:
            specs = None
        if specs is None:
            row["status"] = "compiling"
            row["tools"] = []
            row["tools_count"] = 0
            row["schema"] = {"tools": []}
        else:
            row["status"] = "ready"
            row["tools"] = [{"name": s.name, "description": s.description} for s in specs]
            # Wassette's fields: the count, and the full MCP Tool objects.
            row["tools_count"] = len(specs)
            row["schema"] = {"tools": [s.as_mcp_tool() for s in specs]}
        rows.append(row)
    return rows


def _search(m: ComponentManager, query: str, entries: list[Any] | None = None) -> dict[str, Any]:
    from wassette.catalogue import search, shipped
    from wassette.components.sources import derive_component_id

    installed = set(m.component_ids())
    found = []
    for entry in search(shipped() if entries is None else entries, query):
        item: dict[str, Any] = entry.as_dict()
        try:
            cid = derive_component_id(entry.uri)
        except WassetteError:
            cid = None
        item["component_id"] = cid
        item["loaded"] = cid in installed
        found.append(item)
    return {
        "status": "Component list found",
        "components": found,
        "query": query,
        "total": len(found),
    }
