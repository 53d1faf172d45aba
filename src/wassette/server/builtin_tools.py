"""The twelve built-in tools (docs/spec.md section 5): what they do (schemas and argument
checks: ``builtin_schemas``).

Pure synchronous functions over a :class:`~wassette.manager.ComponentManager`; the server runs
them in a worker thread. They return JSON-ready dicts and raise :class:`WassetteError` for
anything the caller can fix (the server turns that into an ``isError`` result). No result
ever carries a secret value: results shared with the CLI are built by ``wassette.results``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wassette import results
from wassette.approval import ApprovalRequest, Approver, refuse_all
from wassette.errors import (
    ApprovalRefusedError,
    ComponentSourceError,
    SourceUnreachableError,
    UsageError,
    WassetteError,
)
from wassette.manager import ComponentManager
from wassette.server.builtin_schemas import (
    CHANGES_TOOLS,
    FETCH_TOOLS,
    NAMES,
    SCHEMAS,
    access_list,
    bad_argument,
    details_of,
    mcp_tools,
    string_argument,
)

__all__ = [
    "CHANGES_TOOLS",
    "FETCH_TOOLS",
    "NAMES",
    "NO_APPROVER",
    "SCHEMAS",
    "BuiltinContext",
    "error_summary",
    "loads_busy",
    "mcp_tools",
    "require_approval",
    "run_builtin",
]


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


log = logging.getLogger(__name__)

#: Longest ``path`` argument load-component accepts (PATH_MAX on Linux).
MAX_LOAD_URI = 4096


def _load(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    uri = string_argument(name, args, "path")
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
    cid = string_argument(name, args, "id")
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
    return results.unloaded(cid, removed, m.secrets.list_keys(cid))


def _list(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    rows = _component_rows(ctx.manager)
    return {"components": rows, "total": len(rows)}


def _search_tool(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    query = args.get("query")
    if query is not None and not isinstance(query, str):
        raise bad_argument(name, "query", f"must be a string, not {type(query).__name__}")
    return _search(ctx.manager, query or "", ctx.catalogue)


def _component(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> str:
    cid = string_argument(name, args, "component_id")
    ctx.manager.require(cid)
    return cid


def _get_policy(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    cid = _component(ctx, name, args)
    m = ctx.manager
    return results.policy_result(cid, m.policy(cid), m.policies.path_for(cid))


def _reset(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    cid = _component(ctx, name, args)
    ctx.manager.policies.reset(cid)
    return results.permissions_reset(cid)


def _permission(ctx: BuiltinContext, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    cid = _component(ctx, name, args)
    details = details_of(name, args)
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
        uri = string_argument(name, details, "uri", "details.")
        if verb == "granted":
            access = access_list(name, details)
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
        host = string_argument(name, details, "host", "details.")
        if verb == "granted":
            approve(f"network access to {host}", f"wassette permission grant network {cid} {host}")
        grant = store.grant_network if verb == "granted" else store.revoke_network
        new = grant(cid, host)
        shown = {"host": host}
    else:
        key = string_argument(name, details, "key", "details.")
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
        kind = results.ENVIRONMENT_KIND
    return results.permission_changed(verb, cid, kind, shown, new)


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
        raise bad_argument(name, "arguments", "must be a JSON object")
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
