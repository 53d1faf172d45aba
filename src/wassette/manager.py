"""The component manager: the one place where components, policies, secrets and the runtime meet.

Both front ends use it: the ``tool``/``inspect`` commands and the MCP server. For a tool call it
finds the tool, validates the JSON arguments against the WIT signature, builds the call's
capabilities from the component's *current* policy and secrets (so a ``secret set`` or a grant
from another process is seen by the very next call), runs the call in a fresh sandbox and turns
the result back into JSON.

Tool listings come from ``<id>.tools.json`` when it matches the wasm (size and mtime), so a
server can answer ``tools/list`` without compiling anything; otherwise the component is compiled
(through the ``.compiled`` cache) and the metadata rewritten.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wassette import fsutil, layout
from wassette.call_environment import CallEnvironment
from wassette.components.registry import installed_ids, require_installed
from wassette.components.tools import (
    METADATA_FORMAT,
    Tool,
    ToolIndex,
    offered_names,
    qualified_name,
    wasm_stamp,
)
from wassette.errors import WassetteError
from wassette.lazylog import get_logger
from wassette.policy.protection import Protection
from wassette.policy.store import PolicyStore
from wassette.schema.tools import ToolSpec
from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.injections import InjectionAudit
from wassette.secretstore.references import ReferenceScope
from wassette.statcache import StatCache

if TYPE_CHECKING:  # the runtime (wasmtime) is imported lazily, on the first call
    from wassette.approval import Approver
    from wassette.runtime.cancel import CancelHandle

__all__ = [
    "METADATA_FORMAT",
    "CallResult",
    "ComponentManager",
    "InjectionAudit",
    "Tool",
    "offered_names",
    "qualified_name",
]

log = get_logger(__name__)


@dataclass(frozen=True)
class CallResult:
    """The JSON outcome of a successful tool call."""

    tool: str
    component_id: str
    structured: dict[str, Any] | None  # {"result": ...} or None for a function without result
    stdout: str
    stderr: str
    elapsed_seconds: float

    @property
    def text(self) -> str:
        """The result as compact JSON text (what MCP puts in the text content)."""
        if self.structured is None:
            return "null"
        value = self.structured["result"]
        if isinstance(value, str):
            return value  # a string result is the text itself (as Wassette sends it)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sha256(path: Path) -> str:
    return fsutil.sha256_file(path)


class ComponentManager(CallEnvironment):
    """Installed components in one directory, runnable as tools under their policies."""

    def __init__(
        self,
        component_dir: Path,
        secrets: SecretBackend,
        *,
        explicit_env: Mapping[str, str] | None = None,
        inherited_env: Mapping[str, str] | None = None,
        default_timeout: float = 60.0,
        policies: PolicyStore | None = None,
        audit: Any = None,
        protection: Protection | None = None,
        reference_scopes: Mapping[str, ReferenceScope] | None = None,
        instance_pool_size: int | None = None,
    ) -> None:
        self.component_dir = Path(component_dir)
        self.secrets = secrets
        # Protected paths and server credentials, checked at every call (policy/protection.py).
        # Without the full set from the composition root: /, /proc, /sys, /dev, the component
        # dir and, for the file store, the secrets dir; never nothing.
        if protection is None:
            protection = Protection.minimal()
            own = getattr(secrets, "secrets_dir", None)
            if isinstance(own, Path):
                protection = protection.with_secrets_dir(own)
        self.protection = protection.with_component_dir(self.component_dir)
        self.policies = policies or PolicyStore(self.component_dir, self.protection)
        self.explicit_env = dict(explicit_env or {})
        self.inherited_env = dict(inherited_env or {})
        self.default_timeout = default_timeout
        # Where each component's secret references may point beyond its own Vault path
        # (config [references.<id>]); absent = own path only, no env: references.
        self.reference_scopes = dict(reference_scopes or {})
        # The audit log (secretstore.audit.AuditLog) records injections; None disables it.
        self.injections = InjectionAudit(audit) if audit is not None else None
        self.audit = audit
        self._lock = threading.RLock()
        self._loaded: StatCache[str, Any] = StatCache()  # id -> LoadedComponent
        self.tool_index = ToolIndex(
            self.component_dir,
            component_ids=self.component_ids,
            require=self.require,
            discover=self.discover,
        )
        # Manifest ``value_from``: component id -> {key: server variable or reference}.
        self._value_sources: dict[str, dict[str, str]] = {}
        # Warm instances (runtime/pool.py), built on the first call; None size = the default.
        self.instance_pool_size = instance_pool_size
        self._pool: Any = None

    # --------------------------------------------------------------------------- paths

    def wasm_path(self, component_id: str) -> Path:
        return layout.path(self.component_dir, component_id, layout.WASM)

    def cache_path(self, component_id: str) -> Path:
        return layout.path(self.component_dir, component_id, layout.COMPILED)

    def metadata_path(self, component_id: str) -> Path:
        return self.tool_index.metadata_path(component_id)

    def component_ids(self) -> list[str]:
        return installed_ids(self.component_dir)

    def require(self, component_id: str) -> Path:
        """The wasm path of an installed component, or a ComponentNotFoundError that lists
        what is installed."""
        return require_installed(self.component_dir, component_id)

    # ------------------------------------------------------------------------- compiling

    def loaded(self, component_id: str) -> Any:
        """The compiled component (memory cache -> .compiled cache -> compile)."""
        from wassette.runtime.engine import load_component

        wasm = self.require(component_id)
        stamp = wasm_stamp(wasm)
        hit = self._loaded.get(component_id, stamp)
        if hit is not None:
            return hit
        loaded = load_component(wasm, self.cache_path(component_id), component_id=component_id)
        return self._loaded.put(component_id, stamp, loaded)

    def forget(self, component_id: str) -> None:
        """Drop in-memory state of a component (after unload or reload)."""
        self._loaded.forget(component_id)
        self.tool_index.forget(component_id)
        if self._pool is not None:
            self._pool.invalidate(component_id)

    # ------------------------------------------------------------------ warm instances

    @property
    def pool(self) -> Any:
        """The warm-instance pool (``runtime.pool.InstancePool``), created on first use."""
        if self._pool is None:
            from wassette.runtime.pool import DEFAULT_POOL_SIZE, InstancePool

            with self._lock:
                if self._pool is None:
                    size = self.instance_pool_size
                    self._pool = InstancePool(DEFAULT_POOL_SIZE if size is None else size)
        return self._pool

    def prewarm(self, component_id: str) -> None:
        """Start building warm instances of ``component_id`` for its current capabilities
        (a server calls this once a component is compiled). Best effort."""
        from wassette.runtime.invoke import DEFAULT_OUTPUT_LIMIT

        try:
            caps = self.capabilities(component_id)
            loaded = self.loaded(component_id)
        except WassetteError:
            return  # the first call builds fresh and reports what is wrong
        self.pool.prime(loaded, caps, DEFAULT_OUTPUT_LIMIT)

    def close(self) -> None:
        """Write the pending injection audit and free pooled instances now (before the
        interpreter exits)."""
        if self.injections is not None:
            self.injections.flush()
        if self._pool is not None:
            self._pool.close()

    # ------------------------------------------------------------------------- lifecycle

    def load(
        self, uri: str, options: Any = None, *, approver: Approver
    ) -> tuple[Any, tuple[ToolSpec, ...]]:
        """Fetch ``uri``, validate it (compile; parse a shipped policy), install it, and
        return ``(LoadOutcome, tools)``. A failure leaves any previous version in place.

        ``approver`` decides what only the operator may: replacing the component from another
        source, and granting what a shipped policy proposes (see ``components.load``).
        """
        from wassette.components.load import load_component as fetch_and_install
        from wassette.policy.parser import parse_policy
        from wassette.runtime.engine import adopt_compiled, compile_wasm

        def validate(path: Path) -> object:
            return compile_wasm(path, path.stem)

        def validate_policy(data: bytes) -> object:
            # Protected storage entries are dropped from the proposal (and reported) by
            # policy.proposal.sanitize; the store refuses them again if anything slips past.
            return parse_policy(data, source="the policy layer of " + uri)

        outcome = fetch_and_install(
            uri,
            self.component_dir,
            options,
            approver=approver,
            validate=validate,
            validate_policy=validate_policy,
            policies=self.policies,
            secret_keys=self.secrets.list_keys,
            default_timeout=self.default_timeout,
        )
        cid = outcome.component_id
        self.forget(cid)
        self.policies.forget(cid)
        # What `validate` returned: the compiled Component (typed loosely by the registry).
        self._audit_load(outcome)
        compiled: Any = outcome.installed.validation
        loaded = adopt_compiled(
            compiled,
            self.wasm_path(cid),
            self.cache_path(cid),
            component_id=cid,
        )
        self._loaded.put(cid, wasm_stamp(self.wasm_path(cid)), loaded)
        return outcome, self.tools_of(cid)

    def accept_policy(self, component_id: str) -> dict[str, Any]:
        """Grant exactly what the component's pending policy proposal showed."""
        from wassette.components.pending import accept_proposal

        self.require(component_id)
        result = accept_proposal(self.component_dir, component_id, self.policies)
        self.policies.forget(component_id)
        self._record("accept-policy", component_id, (), approved_by="operator")
        return result

    def _audit_load(self, outcome: Any) -> None:
        """Record what only the operator may approve: a replacement hands the id's secrets to
        another publisher's binary; an accepted proposal widens its policy."""
        cid = outcome.component_id
        if outcome.replaced is not None:
            keys = outcome.replaced["now_applies"]["secret_keys"]
            self._record(
                "replace",
                cid,
                keys if isinstance(keys, list) else (),
                previous_source=outcome.replaced["previous_source"],
                previous_digest=outcome.replaced["previous_digest"],
                source=outcome.source.uri if outcome.source is not None else None,
                digest=outcome.digest,
                approved_by=outcome.replaced["approved_by"],
            )
        if outcome.policy_installed:
            self._record("accept-policy", cid, (), approved_by=outcome.policy.how)

    def _record(self, event: str, cid: str, keys: Any, **detail: Any) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(event, cid, keys, **detail)
        except WassetteError as exc:  # the change is made; say loudly that it is unrecorded
            log.error("audit log: %s (%s of %s not recorded)", exc.message, event, cid)

    def source(self, component_id: str) -> dict[str, Any]:
        """Where the installed wasm came from (URI, digest), or the unknown-source note."""
        from wassette.components.provenance import UNKNOWN, read_record

        record = read_record(self.component_dir, component_id)
        return dict(UNKNOWN) if record is None else record.shown()

    def unload(self, component_id: str) -> list[Path]:
        """Remove a component's wasm, artifacts, metadata, policy, source record and pending
        proposal (never its secrets)."""
        from wassette.components.registry import uninstall

        removed = uninstall(self.component_dir, component_id)
        self.forget(component_id)
        self.policies.forget(component_id)
        return removed

    # ----------------------------------------------------------------------------- tools

    def tools_of(self, component_id: str) -> tuple[ToolSpec, ...]:
        """The tools of one component (from metadata when fresh; compiles otherwise)."""
        return self.tool_index.tools_of(component_id)

    def cached_tools(self, component_id: str) -> tuple[ToolSpec, ...] | None:
        """The tools of one component if known without compiling (memory or fresh metadata
        file), else None. Lets a server answer ``tools/list`` at once and compile later."""
        return self.tool_index.cached_tools(component_id)

    def discover(self, component_id: str) -> tuple[ToolSpec, ...]:
        """Compile and enumerate a component's tools, and refresh its metadata file."""
        from wassette.runtime.discovery import enumerate_tools
        from wassette.runtime.engine import get_engine

        wasm = self.require(component_id)
        stamp = wasm_stamp(wasm)
        loaded = self.loaded(component_id)
        discovery = enumerate_tools(loaded.component, get_engine(), wasm.read_bytes())
        for skipped in discovery.skipped:
            log.debug(
                "%s: %s is not a tool: %s",
                component_id,
                "#".join(skipped.export_path),
                skipped.reason,
            )
        self.tool_index.write_metadata(component_id, stamp, discovery.tools, loaded.wasm_sha256)
        return discovery.tools

    def all_tools(self) -> list[Tool]:
        """Every tool of every installed component, sorted by offered name. Same-named tools
        of two components are offered as ``<component-id>.<tool>`` (see :func:`offered_names`)."""
        return self.tool_index.all_tools()

    def find_tool(self, name: str) -> Tool:
        """The tool offered as ``name`` (or ``<component-id>.<tool>``, which always works), or
        a NotFoundError listing what exists."""
        return self.tool_index.find_tool(name)

    # ----------------------------------------------------------------------------- calls

    def call_tool(
        self,
        name: str,
        arguments: Any,
        *,
        cancel: CancelHandle | None = None,
        on_abandon: Callable[[WassetteError], None] | None = None,
    ) -> CallResult:
        """Validate ``arguments``, run the tool in a fresh sandbox, and return its JSON result.

        Cancelling ``cancel`` stops the guest and raises ``ComponentCancelledError``.
        ``on_abandon``: run the guest on this thread; a guest that outlives its limit is
        reported there and this call raises ``CallAbandoned`` (see ``runtime/invoke.py``).
        """
        from wassette.runtime.invoke import invoke, network_fix_hint
        from wassette.runtime.redaction import redactor_for
        from wassette.runtime.values import args_from_json, result_to_json

        tool = self.find_tool(name)
        args = args_from_json(tool.spec, arguments if arguments is not None else {})
        caps = self.capabilities(tool.component_id)
        loaded = self.loaded(tool.component_id)
        if self.injections is not None and caps.env_tiers:
            self.injections.record(tool.component_id, {k: str(t) for k, t in caps.env_tiers})
        result = invoke(
            loaded,
            tool.spec.export_path,
            args,
            caps,
            cancel=cancel,
            pool=self.pool,
            on_abandon=on_abandon,
        )
        # The result is the component's answer to the model: an injected secret it echoes
        # (on purpose or not) is replaced by [REDACTED:<KEY>] before it leaves the server.
        structured = redactor_for(caps.redaction_pairs()).json(
            result_to_json(tool.spec, result.value)
        )
        if result.denied_requests:
            log.info(
                "%s: %s", tool.name, network_fix_hint(tool.component_id, result.denied_requests)
            )
        return CallResult(
            tool=tool.name,
            component_id=tool.component_id,
            structured=structured,
            stdout=result.stdout,
            stderr=result.stderr,
            elapsed_seconds=result.elapsed_seconds,
        )

    def inspect(self, component_id: str) -> dict[str, Any]:
        """A description of an installed component: source, files, tools with schemas,
        policy, and any pending policy proposal."""
        from wassette.components.pending import pending_proposal_view
        from wassette.policy.view import policy_to_dict

        wasm = self.require(component_id)
        specs = self.tools_of(component_id)
        policy = self.policy(component_id)
        out: dict[str, Any] = {
            "component_id": component_id,
            "source": self.source(component_id),
            "wasm": {"path": str(wasm), "size": wasm.stat().st_size, "sha256": _sha256(wasm)},
            "policy": None if policy is None else policy_to_dict(policy),
            "policy_file": str(self.policies.path_for(component_id))
            if self.policies.exists(component_id)
            else None,
            "secret_keys": self.secrets.list_keys(component_id),
            "tools": [s.as_mcp_tool() for s in specs],
        }
        proposal = pending_proposal_view(self.component_dir, component_id)
        if proposal is not None:
            out["policy_proposal"] = proposal
        return out
