"""The component manager: the one place where components, policies, secrets and the runtime meet.

Both front ends use it: the ``tool``/``inspect`` commands and the MCP server. For a tool call it
finds the tool, validates the JSON arguments against the WIT signature, builds the call's
capabilities from the component's *current* policy and secrets (so a ``secret set`` or a grant
from another process is seen by the very next call), runs the call in a fresh sandbox and turns
the result back into JSON.

Tool listings come from ``<id>.metadata.json`` when it matches the wasm (size and mtime), so a
server can answer ``tools/list`` without compiling anything; otherwise the component is compiled
(through the ``.cwasm`` cache) and the metadata rewritten.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wassette import fsutil, layout
from wassette.approval import Approver
from wassette.components.registry import installed_ids, require_installed
from wassette.errors import (
    NotFoundError,
    PolicyError,
    WassetteError,
)
from wassette.ids import validate_component_id
from wassette.policy.model import Policy
from wassette.policy.protection import Protection
from wassette.policy.store import PolicyStore
from wassette.runtime.capabilities import Capabilities
from wassette.runtime.environment import build_capabilities, missing_required_keys
from wassette.schema.tools import ToolSpec
from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.references import ReferenceScope, reference_kind, scope_for

if TYPE_CHECKING:  # the runtime (wasmtime) is imported lazily, on the first call
    from wassette.runtime.cancel import CancelHandle

log = logging.getLogger(__name__)

METADATA_FORMAT = 1


@dataclass(frozen=True)
class Tool:
    """A tool offered by an installed component, under the name it is offered as.

    ``offered_name`` is the spec's own name while no other component offers a tool of that
    name, and ``<component-id>.<tool>`` for every tool of a clashing name (see
    :func:`offered_names`).
    """

    component_id: str
    spec: ToolSpec
    offered_name: str | None = None

    @property
    def name(self) -> str:
        return self.offered_name or self.spec.name


def qualified_name(component_id: str, tool_name: str) -> str:
    """``<component-id>.<tool>``: how a tool is offered when its name clashes."""
    return f"{component_id}.{tool_name}"


def offered_names(
    entries: list[tuple[str, tuple[ToolSpec, ...]]], reserved: frozenset[str] = frozenset()
) -> list[tuple[str, str, ToolSpec]]:
    """``(offered name, component id, spec)`` for every tool of every component.

    A name stays bare while exactly one component offers it; when two or more do, each of
    them is offered as ``<component-id>.<tool>`` and the bare name is not offered at all (no
    component silently hides another). A tool named like a ``reserved`` (built-in) tool is
    always qualified.
    """
    counts: dict[str, int] = {}
    for _cid, specs in entries:
        for tool_name in {s.name for s in specs}:
            counts[tool_name] = counts.get(tool_name, 0) + 1
    out = []
    for cid, specs in entries:
        for spec in specs:
            clash = counts[spec.name] > 1 or spec.name in reserved
            out.append((qualified_name(cid, spec.name) if clash else spec.name, cid, spec))
    return out


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


@dataclass(frozen=True)
class _Stamp:
    size: int
    mtime_ns: int


def _stamp(path: Path) -> _Stamp:
    st = path.stat()
    return _Stamp(st.st_size, st.st_mtime_ns)


def _sha256(path: Path) -> str:
    return fsutil.sha256_file(path)


class InjectionAudit:
    """Records every injection of environment variables into a component in the audit log.

    Off the call path: calls enqueue (key -> tier, never values) and one background thread
    appends whatever has accumulated under one lock and one fsync, so a busy server pays about
    a millisecond per *batch*, not per call. :meth:`flush` waits until everything queued so far
    is on disk (one-shot commands call it before exiting).
    """

    def __init__(self, audit: Any) -> None:
        self._audit = audit
        self._queue: queue.Queue[tuple[str, dict[str, str]]] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(self, component_id: str, key_tiers: dict[str, str]) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wassette-audit", daemon=True
                )
                self._thread.start()
        with self._idle:
            self._pending += 1
        self._queue.put((component_id, key_tiers))

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]  # block for the first, then take what has piled up
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._audit.record_many([("inject", cid, keys, {}) for cid, keys in items])
            except WassetteError as exc:
                log.error("audit log: %s", exc.message)
            with self._idle:
                self._pending -= len(items)
                self._idle.notify_all()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every injection recorded so far has been written."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout)


class ComponentManager:
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
        self._clashes_logged: set[tuple[str, str, str]] = set()
        self._loaded: dict[str, tuple[_Stamp, Any]] = {}
        self._tools: dict[str, tuple[_Stamp, tuple[ToolSpec, ...]]] = {}
        # Manifest ``value_from``: component id -> {key: server variable or reference}.
        self._value_sources: dict[str, dict[str, str]] = {}
        # Warm instances (runtime/pool.py), built on the first call; None size = the default.
        self.instance_pool_size = instance_pool_size
        self._pool: Any = None
        # name -> (tool, wasm stamp), valid while the component dir's change stamp holds.
        self._index: dict[str, tuple[Tool, _Stamp]] | None = None
        self._index_stamp: tuple[int, int, int] | None = None

    # --------------------------------------------------------------------------- paths

    def wasm_path(self, component_id: str) -> Path:
        return layout.path(self.component_dir, component_id, layout.WASM)

    def cache_path(self, component_id: str) -> Path:
        return layout.path(self.component_dir, component_id, layout.COMPILED)

    def metadata_path(self, component_id: str) -> Path:
        return layout.path(self.component_dir, component_id, layout.METADATA)

    def component_ids(self) -> list[str]:
        return installed_ids(self.component_dir)

    def require(self, component_id: str) -> Path:
        """The wasm path of an installed component, or a ComponentNotFoundError that lists
        what is installed."""
        return require_installed(self.component_dir, component_id)

    # ------------------------------------------------------------------------- compiling

    def loaded(self, component_id: str) -> Any:
        """The compiled component (memory cache -> .cwasm cache -> compile)."""
        from wassette.runtime.engine import load_component

        wasm = self.require(component_id)
        stamp = _stamp(wasm)
        with self._lock:
            hit = self._loaded.get(component_id)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        loaded = load_component(wasm, self.cache_path(component_id), component_id=component_id)
        with self._lock:
            self._loaded[component_id] = (stamp, loaded)
        return loaded

    def forget(self, component_id: str) -> None:
        """Drop in-memory state of a component (after unload or reload)."""
        with self._lock:
            self._loaded.pop(component_id, None)
            self._tools.pop(component_id, None)
            self._index = None
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
        """Free pooled instances now (before the interpreter exits)."""
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
        with self._lock:
            self._loaded[cid] = (_stamp(self.wasm_path(cid)), loaded)
        return outcome, self.tools_of(cid)

    def accept_policy(self, component_id: str) -> dict[str, Any]:
        """Grant exactly what the component's pending policy proposal showed."""
        from wassette.components.load import accept_proposal

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

    def _read_metadata(self, component_id: str, stamp: _Stamp) -> tuple[ToolSpec, ...] | None:
        try:
            data = json.loads(self.metadata_path(component_id).read_text("utf-8"))
            wasm = data["wasm"]
            if data.get("format") != METADATA_FORMAT or (wasm["size"], wasm["mtime_ns"]) != (
                stamp.size,
                stamp.mtime_ns,
            ):
                return None
            return tuple(ToolSpec.from_json(t) for t in data["tools"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing, stale or damaged: rebuild it from the wasm

    def _write_metadata(
        self, component_id: str, stamp: _Stamp, specs: tuple[ToolSpec, ...], sha256: str
    ) -> None:
        data = {
            "format": METADATA_FORMAT,
            "component_id": component_id,
            "wasm": {"size": stamp.size, "mtime_ns": stamp.mtime_ns, "sha256": sha256},
            "tools": [s.to_json() for s in specs],
        }
        try:
            fsutil.write_atomic(
                self.metadata_path(component_id),
                json.dumps(data, indent=2).encode("utf-8"),
                mode=0o644,
            )
        except OSError as exc:  # a cache: failing to write it must not fail the call
            log.warning("cannot write %s: %s", self.metadata_path(component_id), exc.strerror)

    def tools_of(self, component_id: str) -> tuple[ToolSpec, ...]:
        """The tools of one component (from metadata when fresh; compiles otherwise)."""
        specs = self.cached_tools(component_id)
        if specs is None:
            stamp = _stamp(self.require(component_id))  # taken before compiling
            specs = self.discover(component_id)
            with self._lock:
                self._tools[component_id] = (stamp, specs)
        return specs

    def cached_tools(self, component_id: str) -> tuple[ToolSpec, ...] | None:
        """The tools of one component if known without compiling (memory or fresh metadata
        file), else None. Lets a server answer ``tools/list`` at once and compile later."""
        wasm = self.require(component_id)
        stamp = _stamp(wasm)
        with self._lock:
            hit = self._tools.get(component_id)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        specs = self._read_metadata(component_id, stamp)
        if specs is not None:
            with self._lock:
                self._tools[component_id] = (stamp, specs)
        return specs

    def discover(self, component_id: str) -> tuple[ToolSpec, ...]:
        """Compile and enumerate a component's tools, and refresh its metadata file."""
        from wassette.runtime.discovery import enumerate_tools
        from wassette.runtime.engine import get_engine

        wasm = self.require(component_id)
        stamp = _stamp(wasm)
        loaded = self.loaded(component_id)
        discovery = enumerate_tools(loaded.component, get_engine(), wasm.read_bytes())
        for skipped in discovery.skipped:
            log.debug(
                "%s: %s is not a tool: %s",
                component_id,
                "#".join(skipped.export_path),
                skipped.reason,
            )
        self._write_metadata(component_id, stamp, discovery.tools, loaded.wasm_sha256)
        return discovery.tools

    def all_tools(self) -> list[Tool]:
        """Every tool of every installed component, sorted by offered name. Same-named tools
        of two components are offered as ``<component-id>.<tool>`` (see :func:`offered_names`)."""
        entries: list[tuple[str, tuple[ToolSpec, ...]]] = []
        for component_id in self.component_ids():
            try:
                entries.append((component_id, self.tools_of(component_id)))
            except WassetteError as exc:
                log.warning("component %s offers no tools: %s", component_id, exc.message)
        tools = [Tool(cid, spec, name) for name, cid, spec in offered_names(entries)]
        for tool in tools:
            if tool.name != tool.spec.name:
                clash = (tool.spec.name, tool.component_id, tool.name)
                if clash not in self._clashes_logged:  # every call looks tools up: say it once
                    self._clashes_logged.add(clash)
                    log.info(
                        "tool %s is offered by several components; component %s's is %s",
                        *clash,
                    )
        return sorted(tools, key=lambda t: t.name)

    def _dir_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.component_dir)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)

    def _tool_index(self) -> dict[str, tuple[Tool, _Stamp]]:
        """name -> tool, rebuilt when the component dir changes (a component added, removed or
        replaced by rename), instead of listing the directory on every call."""
        stamp = self._dir_stamp()
        with self._lock:
            if self._index is not None and stamp is not None and stamp == self._index_stamp:
                return self._index
        tools = self.all_tools()
        index: dict[str, tuple[Tool, _Stamp]] = {}
        for tool in tools:
            with self._lock:
                hit = self._tools.get(tool.component_id)
            if hit is not None:
                index[tool.name] = (tool, hit[0])
        with self._lock:
            # A change within the file system's timestamp granularity of our listing could
            # leave the directory's stamp unchanged: trust only a stamp old enough.
            if stamp is not None and time.time_ns() - stamp[1] > 50_000_000:
                self._index, self._index_stamp = index, stamp
            else:
                self._index = None
        return index

    def find_tool(self, name: str) -> Tool:
        """The tool offered as ``name`` (or ``<component-id>.<tool>``, which always works), or
        a NotFoundError listing what exists."""
        hit = self._tool_index().get(name)
        if hit is not None:
            tool, stamp = hit
            try:
                current = _stamp(self.wasm_path(tool.component_id))
            except OSError:
                current = None
            if current == stamp:
                return tool
            with self._lock:
                self._index = None  # rewritten in place: look again
        tools = self.all_tools()
        for tool in tools:
            if tool.name == name:
                return tool
        for tool in tools:
            if qualified_name(tool.component_id, tool.spec.name) == name:
                return tool
        clashing = [t.name for t in tools if t.spec.name == name]
        if clashing:
            raise NotFoundError(
                f"tool name {name!r} is offered by several components",
                why=f"call one of: {', '.join(clashing)}",
                fix="use the <component-id>.<tool> name of the one you mean",
            )
        names = [t.name for t in tools]
        raise NotFoundError(
            f"no tool named {name!r}",
            why=f"the loaded components offer: {', '.join(names) if names else 'no tools'}",
            fix="list tools with `wassette tool list`; load the component that provides it "
            "with `wassette component load <uri>`",
        )

    # ------------------------------------------------------------------------ capabilities

    def policy(self, component_id: str) -> Policy | None:
        """The component's current policy (None: no policy file, deny everything)."""
        return self.policies.load(component_id)

    def reference_scope(self, component_id: str) -> ReferenceScope:
        """Where ``component_id``'s secret references may point (its own Vault path + config)."""
        return scope_for(component_id, self.reference_scopes, self.secrets)

    def set_value_sources(self, component_id: str, sources: Mapping[str, str]) -> None:
        """Where keys of a component read their value from (a manifest's ``value_from``):
        another variable of the server's environment, or a ``vault:``/``env:`` reference.
        Resolved on every call and used as the key's inherited value."""
        with self._lock:
            if sources:
                self._value_sources[component_id] = dict(sources)
            else:
                self._value_sources.pop(component_id, None)

    def value_sources(self, component_id: str) -> dict[str, str]:
        """The ``value_from`` sources of a component (empty when none)."""
        with self._lock:
            return dict(self._value_sources.get(component_id, {}))

    def _inherited_for(self, component_id: str) -> Mapping[str, str]:
        """The inherited tier for one component: the server's environment, with each
        ``value_from`` key taking its value from the variable (or reference) it names."""
        sources = self.value_sources(component_id)
        if not sources:
            return self.inherited_env
        from wassette.secretstore.references import (
            EnvReference,
            ReferenceScope,
            is_reference,
            parse_reference,
            resolve_references,
        )

        env = dict(self.inherited_env)
        for key, source in sources.items():
            env.pop(key, None)
            if not is_reference(source):
                if source in self.inherited_env:
                    env[key] = self.inherited_env[source]
                continue
            # The operator wrote this reference in the manifest: it is in scope, exactly it.
            ref = parse_reference(source)
            scope = (
                ReferenceScope(env=(ref.name,))
                if isinstance(ref, EnvReference)
                else ReferenceScope(vault=(ref.path,) if ref is not None else ())
            )
            env.update(
                resolve_references(
                    {key: source},
                    vault=self.secrets.reference_reader(),
                    environ=self.inherited_env,
                    component_id=component_id,
                    scope=scope,
                )
            )
        return env

    def capabilities(self, component_id: str) -> Capabilities:
        """What a call of ``component_id`` may touch right now (current policy and secrets)."""
        from wassette.secretstore.references import resolve_references

        policy = self.policy(component_id)
        secrets: Mapping[str, str] = {}
        if policy is not None:
            allowed = {entry.key for entry in policy.environment}
            own = self.secrets.get_all(component_id)
            # Only keys the policy allows are ever injected, so only those are resolved:
            # a reference under a key that is not allowed never touches Vault.
            wanted = {k: v for k, v in own.items() if k in allowed}
            secrets = resolve_references(
                wanted,
                vault=self.secrets.reference_reader(),
                environ=self.inherited_env,
                component_id=component_id,
                scope=self.reference_scope(component_id),
            )
        caps = build_capabilities(
            policy,
            secrets=secrets,
            explicit_env=self.explicit_env,
            inherited_env=self._inherited_for(component_id),
            default_timeout=self.default_timeout,
            protection=self.protection,
            component_id=component_id,
        )
        missing = missing_required_keys(policy, caps)
        if missing:
            keys = ", ".join(missing)
            blocked = [reason for key, reason in caps.env_blocked if key in missing]
            raise PolicyError(
                f"component '{component_id}' is missing required environment variable(s): {keys}",
                why="the policy marks them required and no tier (policy value, server --env, "
                "secret, inherited environment) provides them"
                + "".join(f"; {reason}" for reason in blocked),
                fix=f"set them with `wassette secret set {component_id} "
                + " ".join(f"{k}=<value>" for k in missing)
                + "`",
            )
        return caps

    def status(self, component_id: str) -> dict[str, Any]:
        """Where each allowed environment variable would come from on the next call.

        Never values: only the tier (policy, secret, inherited) or ``missing``; plus secrets
        that exist but are not allowed (so never injected) and required keys with no value.
        """
        validate_component_id(component_id)
        policy = self.policy(component_id)
        own = dict(self.secrets.get_all(component_id))
        allowed = [] if policy is None else [e.key for e in policy.environment]
        caps = build_capabilities(
            # Storage is not what status reports: a missing or refused directory must not
            # hide where the environment comes from.
            None if policy is None else dataclasses.replace(policy, storage=()),
            secrets={k: v for k, v in own.items() if k in allowed},
            explicit_env=self.explicit_env,
            inherited_env=self._inherited_for(component_id),
            default_timeout=self.default_timeout,
            protection=self.protection,
        )
        tiers = {k: str(t) for k, t in caps.env_tiers}
        blocked = dict(caps.env_blocked)
        for k, tier in tiers.items():
            # A stored reference is not the secret itself: say where it points.
            kind = reference_kind(own.get(k, "")) if tier == "secret" else None
            if kind is not None:
                tiers[k] = f"reference ({kind})"
        required = set() if policy is None else {e.key for e in policy.environment if e.required}
        return {
            "status": "success",
            "component_id": component_id,
            "policy": policy is not None,
            "environment": [
                {"key": k, "source": tiers.get(k, "missing"), "required": k in required}
                | ({"source": "blocked", "reason": blocked[k]} if k in blocked else {})
                for k in allowed
            ],
            "secrets_not_allowed": sorted(k for k in own if k not in allowed),
            "missing_required": sorted(k for k in required if k not in tiers),
        }

    # ----------------------------------------------------------------------------- calls

    def call_tool(
        self, name: str, arguments: Any, *, cancel: CancelHandle | None = None
    ) -> CallResult:
        """Validate ``arguments``, run the tool in a fresh sandbox, and return its JSON result.

        Cancelling ``cancel`` stops the guest and raises ``ComponentCancelledError``.
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
        result = invoke(loaded, tool.spec.export_path, args, caps, cancel=cancel, pool=self.pool)
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
        from wassette.components.load import pending_proposal_view
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
