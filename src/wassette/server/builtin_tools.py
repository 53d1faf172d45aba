"""The twelve built-in tools (reference §5): names, input schemas, and what they do.

Pure synchronous functions over a :class:`~wassette.manager.ComponentManager`; the server runs
them in a worker thread. They return JSON-ready dicts and raise :class:`WassetteError` for
anything the caller can fix (the server turns that into an ``isError`` result). No result
ever carries a secret value: policies go through ``policy_to_dict`` (values hidden).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wassette.approval import ApprovalRequest, Approver, refuse_all
from wassette.errors import ApprovalRefusedError, InvalidArgumentsError, WassetteError
from wassette.manager import ComponentManager
from wassette.policy.model import Policy
from wassette.policy.view import policy_to_dict

_ID = {"type": "string", "description": "The component id (see list-components)."}


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


def _details(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return _obj(
        {"component_id": _ID, "details": _obj(props, required)}, ["component_id", "details"]
    )


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
        "List the loaded components with their tools and whether they have a policy.",
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
        "Search the loaded components by id, tool name and tool description.",
        _obj({"query": {"type": "string", "description": "Words to look for (optional)."}}, []),
    ),
}

NAMES = frozenset(SCHEMAS)

#: Built-ins after which the tool list may have changed.
CHANGES_TOOLS = frozenset({"load-component", "unload-component"})


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
    return details


def _access(tool: str, details: Mapping[str, Any]) -> list[str]:
    access = details.get("access")
    if access is None:
        raise _bad(tool, "details.access", "is required")
    if isinstance(access, str):  # be lenient: "read" or "read,write"
        access = [a.strip() for a in access.split(",") if a.strip()]
    if not isinstance(access, list) or not access:
        raise _bad(tool, "details.access", 'must be a non-empty list of "read" and "write"')
    bad = [a for a in access if a not in ("read", "write")]
    if bad:
        raise _bad(tool, "details.access", 'may contain only "read" and "write"')
    return list(dict.fromkeys(access))


# ------------------------------------------------------------------------------- running


@dataclass
class BuiltinContext:
    """What the built-ins need besides the manager."""

    manager: ComponentManager
    #: Builds the fetch options for a load (registry credentials, CA file, ...) for a URI.
    fetch_options: Callable[[str], Any]
    #: Answers the approval requests of this call (the server binds one per call, from the
    #: ``mcp_grants`` setting and the client's session); the default asks nobody and refuses.
    approver: Approver = field(
        default_factory=lambda: refuse_all("unavailable", "nobody can be asked to approve it")
    )


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
    return {
        "status": f"permission {verb} successfully",
        "component_id": cid,
        "permission_type": kind,
        "details": details,
        "policy": _policy_view(new),
    }


def _load(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    uri = _string(name, args, "path")
    if "://" not in uri and Path(uri).is_absolute():
        uri = Path(uri).as_uri()  # a bare absolute path: what the caller meant
    outcome, tools = ctx.manager.load(uri, ctx.fetch_options(uri))
    result: dict[str, Any] = {
        "status": outcome.status,
        "id": outcome.component_id,
        "tools": [t.name for t in tools],
        "digest": outcome.digest,
        "policy_installed": outcome.policy_installed,
    }
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
    return _search(ctx.manager, query or "")


def _component(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> str:
    cid = _string(name, args, "component_id")
    ctx.manager.require(cid)
    return cid


def _get_policy(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    cid = _component(ctx, name, args)
    policy = ctx.manager.policy(cid)
    out: dict[str, Any] = {
        "status": "policy found" if policy is not None else "no policy",
        "component_id": cid,
        "policy": _policy_view(policy),
    }
    if policy is None:
        out["message"] = (
            "no policy file: the component is denied everything (grant permissions to allow "
            "storage, network or environment variables)"
        )
    return out


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
        kind = "environment"
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
        row: dict[str, Any] = {"id": cid, "policy": m.policies.exists(cid)}
        try:
            specs = m.cached_tools(cid)
        except WassetteError:
            specs = None
        if specs is None:
            row["status"] = "compiling"
            row["tools"] = []
        else:
            row["status"] = "ready"
            row["tools"] = [{"name": s.name, "description": s.description} for s in specs]
        rows.append(row)
    return rows


def _search(m: ComponentManager, query: str) -> dict[str, Any]:
    words = [w for w in query.lower().split() if w]
    hits = []
    for row in _component_rows(m):
        haystack = " ".join(
            [row["id"]] + [f"{t['name']} {t['description']}" for t in row["tools"]]
        ).lower()
        if all(w in haystack for w in words):
            hits.append(row)
    return {
        "query": query,
        "components": hits,
        "total": len(hits),
        "note": "searches the loaded components only (no registry is consulted)",
    }
