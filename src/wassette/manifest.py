"""Provisioning manifests: the components a headless server must run, and what each may touch.

The format is Wassette's (``serve --manifest FILE``), read exactly, plus a few extensions that
are marked below. A manifest is written by the operator, so it is trusted: its permissions are
installed as the components' policies without asking anyone.

::

    version: 1                       # the only version there is
    components:                      # at least one
      - uri: oci://ghcr.io/org/weather:1.2.3     # oci:// https:// file:// (http:// refused)
        name: weather                # optional label for logs and summaries
        digest: sha256:<64 hex>      # optional pin of the wasm bytes
        permissions:                 # required; {} keeps the policy the component has
          network:
            allow:
              - host: api.example.com
          storage:
            allow:
              - uri: fs:///srv/data
                access: [read, write]
          environment:
            allow:
              - key: API_KEY
                value_from: WEATHER_API_KEY   # read from this variable of the server
                required: true                # extension: fail calls when unset
                redact: false                 # extension: do not redact echoes
          resources:
            memory_bytes: 67108864
            cpu_time_ms: 5000        # accepted, not enforced (use timeout)
            timeout: 30s             # extension: wall-clock limit per call
        retry_policy:                # optional, for fetching
          attempts: 3
          backoff: {type: exponential, base_ms: 200}   # Wassette 0.8.0's spelling; also
          # accepted: {exponential: {base_ms: 200}}, {type: linear, increment_ms: 500}

``value_from`` (Wassette) names another variable of the server's environment; as an
extension it may also be a secret reference, ``vault:<path>#<key>`` or ``env:<NAME>``. It is
resolved on every call, like the inherited tier: a component's own secret or an operator
``--env`` value for the key still wins, and a manifest may name any variable (it is the
operator's own choice, unlike a grant an MCP client asks for).

Validation happens before anything is fetched and reports the first problem with its field
path and its line and column, as a :class:`~wassette.errors.ConfigError`. Messages never
repeat a value from the file.

:func:`provision` applies a manifest to a component manager: it fetches what is missing or
changed (verifying pins, with the manifest's retry policy), installs the manifest's policies,
and reports per component. It is idempotent: a component already installed with the pinned
digest is not fetched again, and a policy that already matches is not rewritten.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from wassette import fsutil
from wassette.errors import (
    ComponentError,
    ConfigError,
    PolicyError,
    SourceUnreachableError,
    WassetteError,
)
from wassette.policy import fields
from wassette.policy.model import (
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)
from wassette.policy.parser import Pos, items_with_pos, key_pos, value_pos

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20
MAX_ATTEMPTS = 20
MAX_BACKOFF_MS = 600_000
STATE_FILE = ".manifest-state.json"
"""Which components a manifest provisioned (id -> uri, digest, name), in the component dir:
re-applying a manifest unloads only what an earlier manifest put there, never a component
the operator loaded by hand; ``manifest export`` reads the source URIs from it."""

_TOP_KEYS = ("version", "components")
_COMPONENT_KEYS = ("uri", "name", "digest", "permissions", "retry_policy")
_PERMISSION_KEYS = ("network", "storage", "environment", "resources")
_SECTION_KEYS = ("allow",)
_NETWORK_KEYS = ("host",)
_STORAGE_KEYS = ("uri", "access")
# value_from is Wassette's; value, required and redact are our extensions (as in policy files)
_ENV_KEYS = ("key", "value_from", "value", "required", "redact")
# memory_bytes and cpu_time_ms are Wassette's; memory and timeout are our extensions
_RESOURCE_KEYS = ("memory_bytes", "cpu_time_ms", "memory", "timeout")
_RETRY_KEYS = ("attempts", "backoff")
_SCHEMES = ("oci://", "https://", "file://", "http://")


# --- the model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try fetching a component, and how long to wait between tries.

    ``kind`` is ``exponential`` (wait ``step_ms * 2**(n-1)`` before try n+1) or ``linear``
    (wait ``step_ms * n``). Only failures to *reach* a source are retried: a digest mismatch,
    a missing tag or a refused credential would fail the same way again.
    """

    attempts: int = 1
    kind: Literal["exponential", "linear"] = "exponential"
    step_ms: int = 0

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        if self.kind == "exponential":
            ms = self.step_ms * (2 ** (attempt - 1))
        else:
            ms = self.step_ms * attempt
        return float(min(ms, MAX_BACKOFF_MS)) / 1000.0


@dataclass(frozen=True)
class ManifestComponent:
    """One entry of ``components:``.

    ``policy`` is None for ``permissions: {}`` (Wassette: keep the policy the component has).
    ``value_from`` maps an environment key to the server variable (or reference) it reads.
    """

    index: int
    uri: str
    component_id: str
    name: str | None = None
    digest: str | None = None
    policy: Policy | None = None
    value_from: Mapping[str, str] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    line: int | None = None

    @property
    def label(self) -> str:
        """How logs and summaries name the entry: its name, else its id."""
        return self.name or self.component_id


@dataclass(frozen=True)
class Manifest:
    """A validated manifest."""

    source: str
    components: tuple[ManifestComponent, ...]

    def by_id(self) -> dict[str, ManifestComponent]:
        """The entries by component id."""
        return {c.component_id: c for c in self.components}


# --- parsing -------------------------------------------------------------------------------


class _Checker:
    """Located validation errors for one manifest source."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(
        self, path: str, reason: str, pos: Pos | None = None, fix: str | None = None
    ) -> NoReturn:
        where = f" (line {pos.line}, column {pos.column})" if pos else ""
        raise ConfigError(
            f"invalid manifest {self.source}",
            why=f"{path or 'top level'}: {reason}{where}",
            fix=fix or "correct the field; the manifest format is described in docs/deploy.md",
        )

    def mapping(
        self, node: Any, path: str, allowed: tuple[str, ...], pos: Pos | None
    ) -> dict[str, Any]:
        if node is None:
            return {}
        if not isinstance(node, dict):
            self.fail(path, "must be a mapping", pos)
        unknown = [k for k in node if not isinstance(k, str) or k not in allowed]
        if unknown:
            first = unknown[0]
            shown = ascii(first[:40]) if isinstance(first, str) else type(first).__name__
            self.fail(
                path,
                f"unknown field {shown}",
                key_pos(node, first) or pos,
                fix=f"the fields allowed here are: {', '.join(allowed)}",
            )
        return dict(node)

    def sequence(self, node: Any, path: str, pos: Pos | None) -> list[Any]:
        if not isinstance(node, list):
            self.fail(path, "must be a list", pos)
        return list(node)

    def string(self, node: Any, path: str, pos: Pos | None) -> str:
        if not isinstance(node, str) or not node:
            self.fail(path, "must be a non-empty string", pos)
        return node

    def integer(self, node: Any, path: str, pos: Pos | None, low: int, high: int) -> int:
        if isinstance(node, bool) or not isinstance(node, int) or not low <= node <= high:
            self.fail(path, f"must be a whole number from {low} to {high}", pos)
        return int(node)

    def boolean(self, node: Any, path: str, pos: Pos | None) -> bool:
        if not isinstance(node, bool):
            self.fail(path, "must be true or false", pos)
        return bool(node)

    def field(self, path: str, pos: Pos | None, check: Callable[[Any], Any], value: Any) -> Any:
        try:
            return check(value)
        except fields.FieldError as err:
            self.fail(path, err.reason, pos, err.fix)


def _load_yaml(data: str | bytes, source: str) -> Any:
    # The policy format's loader: size and nesting guards, no file content in its errors.
    from wassette.policy.parser import load_document

    size = len(data)
    if size > MAX_MANIFEST_BYTES:
        raise ConfigError(
            f"cannot read manifest {source}",
            why=f"it is larger than {MAX_MANIFEST_BYTES} bytes",
            fix="a manifest lists components; check that this is the right file",
        )
    try:
        return load_document(data, source=source)
    except PolicyError as exc:
        raise ConfigError(
            f"manifest {source} is not valid YAML",
            why=exc.why,
            fix="fix the YAML syntax at that position",
        ) from None


def parse_manifest(  # noqa: PLR0912, PLR0915 - one check per field, in file order
    data: str | bytes, *, source: str = "<manifest>"
) -> Manifest:
    """Parse and validate a manifest. Raises :class:`ConfigError` (located), nothing else."""
    from wassette.components.sources import derive_component_id

    doc = _load_yaml(data, source)
    c = _Checker(source)
    if doc is None:
        c.fail("", "the manifest is empty", fix="start with `version: 1` and `components:`")
    top = c.mapping(doc, "", _TOP_KEYS, None)
    if "version" not in top:
        c.fail("version", "the field version is missing", None, fix="add `version: 1`")
    version = top["version"]
    if isinstance(version, bool) or version != MANIFEST_VERSION:
        c.fail(
            "version",
            f"unsupported manifest version (only version {MANIFEST_VERSION} exists)",
            value_pos(doc, "version"),
            fix="write `version: 1`",
        )
    if "components" not in top:
        c.fail("components", "the field components is missing", None)
    comps_node = top["components"]
    items = c.sequence(comps_node, "components", value_pos(doc, "components"))
    if not items:
        c.fail(
            "components",
            "must declare at least one component",
            value_pos(doc, "components"),
        )
    out: list[ManifestComponent] = []
    seen_uri: dict[str, int] = {}
    seen_id: dict[str, int] = {}
    for i, item, pos in items_with_pos(comps_node):
        path = f"components[{i}]"
        entry = c.mapping(item, path, _COMPONENT_KEYS, pos)
        if item is None:
            c.fail(path, "must be a mapping with uri and permissions", pos)
        if "uri" not in entry:
            c.fail(path, "the field uri is missing", pos, fix="add uri: oci://... or file://...")
        uri_pos = value_pos(item, "uri")
        uri = c.string(entry["uri"], f"{path}.uri", uri_pos)
        if not uri.lower().startswith(_SCHEMES):
            c.fail(
                f"{path}.uri",
                "must start with oci://, https://, file:// or http://",
                uri_pos,
            )
        if uri.lower().startswith("http://"):
            c.fail(
                f"{path}.uri",
                "plain http:// is refused: anyone on the network path could replace the code",
                uri_pos,
                fix="serve it over https://, or push it to an OCI registry",
            )
        if uri in seen_uri:
            c.fail(
                f"{path}.uri",
                f"the same uri is already declared at components[{seen_uri[uri]}]",
                uri_pos,
                fix="declare each component once",
            )
        seen_uri[uri] = i
        try:
            component_id = derive_component_id(uri)
        except WassetteError as exc:
            c.fail(f"{path}.uri", exc.why or exc.what, uri_pos, exc.fix)
        if component_id in seen_id:
            c.fail(
                f"{path}.uri",
                f"it yields component id {component_id}, as components[{seen_id[component_id]}]"
                " does",
                uri_pos,
                fix="two components cannot share an id; rename one of the files or images",
            )
        seen_id[component_id] = i
        name = None
        if entry.get("name") is not None:
            name = c.string(entry["name"], f"{path}.name", value_pos(item, "name"))
        digest = None
        if entry.get("digest") is not None:
            digest = _digest(c, entry["digest"], f"{path}.digest", value_pos(item, "digest"))
        if "permissions" not in entry:
            c.fail(
                path,
                "the field permissions is missing",
                pos,
                fix="add `permissions: {}` to keep the component's own policy, or list them",
            )
        policy, value_from = _permissions(c, item, entry["permissions"], path)
        retry = RetryPolicy()
        if entry.get("retry_policy") is not None:
            retry = _retry(c, item, entry["retry_policy"], f"{path}.retry_policy")
        out.append(
            ManifestComponent(
                index=i,
                uri=uri,
                component_id=component_id,
                name=name,
                digest=digest,
                policy=policy,
                value_from=value_from,
                retry=retry,
                line=pos.line if pos else None,
            )
        )
    return Manifest(source=source, components=tuple(out))


def _digest(c: _Checker, node: Any, path: str, pos: Pos | None) -> str:
    text = node if isinstance(node, str) else ""
    algo, _, hexpart = text.partition(":")
    if (
        algo != "sha256"
        or len(hexpart) != 64
        or any(ch not in "0123456789abcdefABCDEF" for ch in hexpart)
    ):
        c.fail(
            path,
            "must be sha256: followed by 64 hexadecimal digits",
            pos,
            fix="copy it from `sha256sum component.wasm` or `wassette manifest export`",
        )
    return "sha256:" + hexpart.lower()


def _allow(c: _Checker, perms_node: Any, perms: dict[str, Any], name: str, base: str) -> Any:
    path = f"{base}.{name}"
    node = perms[name]
    section = c.mapping(node, path, _SECTION_KEYS, value_pos(perms_node, name))
    if "allow" not in section:
        c.fail(path, "the field allow is missing", value_pos(perms_node, name))
    allow = section["allow"]
    items = c.sequence(allow, f"{path}.allow", value_pos(node, "allow"))
    if not items:
        c.fail(
            f"{path}.allow",
            "must not be empty",
            value_pos(node, "allow"),
            fix=f"list at least one entry, or remove {name}",
        )
    return allow


def _permissions(
    c: _Checker, item: Any, node: Any, base: str
) -> tuple[Policy | None, dict[str, str]]:
    path = f"{base}.permissions"
    perms = c.mapping(node, path, _PERMISSION_KEYS, value_pos(item, "permissions"))
    if not perms:
        return None, {}
    storage: dict[str, StoragePermission] = {}
    network: dict[NetworkPermission, None] = {}
    environment: list[EnvironmentPermission] = []
    value_from: dict[str, str] = {}
    memory: int | None = None
    timeout: float | None = None
    if perms.get("network") is not None:
        allow = _allow(c, node, perms, "network", path)
        for i, entry_node, pos in items_with_pos(allow):
            p = f"{path}.network.allow[{i}]"
            entry = c.mapping(entry_node, p, _NETWORK_KEYS, pos)
            if "host" not in entry:
                c.fail(p, "the field host is missing", pos, fix="add host: api.example.com")
            host_pos = value_pos(entry_node, "host")
            host = c.string(entry["host"], f"{p}.host", host_pos)
            network.setdefault(c.field(f"{p}.host", host_pos, fields.parse_network_host, host))
    if perms.get("storage") is not None:
        allow = _allow(c, node, perms, "storage", path)
        for i, entry_node, pos in items_with_pos(allow):
            p = f"{path}.storage.allow[{i}]"
            entry = c.mapping(entry_node, p, _STORAGE_KEYS, pos)
            for required in ("uri", "access"):
                if required not in entry:
                    c.fail(p, f"the field {required} is missing", pos)
            uri_pos = value_pos(entry_node, "uri")
            uri = c.string(entry["uri"], f"{p}.uri", uri_pos)
            dir_path = c.field(f"{p}.uri", uri_pos, fields.parse_storage_uri, uri)
            access_pos = value_pos(entry_node, "access")
            access_node = entry["access"]
            if not isinstance(access_node, list):
                c.fail(f"{p}.access", "must be a list such as [read, write]", access_pos)
            modes = [c.string(a, f"{p}.access[{j}]", access_pos) for j, a in enumerate(access_node)]
            access = c.field(f"{p}.access", access_pos, fields.parse_access, modes)
            previous = storage.get(dir_path)
            merged = access if previous is None else previous.access | access
            storage[dir_path] = StoragePermission(path=dir_path, access=merged)
    if perms.get("environment") is not None:
        allow = _allow(c, node, perms, "environment", path)
        seen_keys: set[str] = set()
        for i, entry_node, pos in items_with_pos(allow):
            environment.append(
                _env_entry(
                    c, entry_node, pos, f"{path}.environment.allow[{i}]", value_from, seen_keys
                )
            )
    if perms.get("resources") is not None:
        memory, timeout = _resources(c, node, perms["resources"], f"{path}.resources")
    policy = Policy(
        storage=tuple(storage.values()),
        network=tuple(network),
        environment=tuple(environment),
        memory_limit_bytes=memory,
        timeout_seconds=timeout,
    )
    return policy, value_from


def _env_entry(  # noqa: PLR0917 - internal helper
    c: _Checker,
    node: Any,
    pos: Pos | None,
    p: str,
    value_from: dict[str, str],
    seen_keys: set[str],
) -> EnvironmentPermission:
    from wassette.secretstore.references import is_reference, parse_reference

    entry = c.mapping(node, p, _ENV_KEYS, pos)
    if "key" not in entry:
        c.fail(p, "the field key is missing", pos, fix="add key: NAME")
    key_at = value_pos(node, "key")
    key = c.field(
        f"{p}.key", key_at, fields.check_env_key, c.string(entry["key"], f"{p}.key", key_at)
    )
    if key in seen_keys:
        c.fail(f"{p}.key", "this key is already listed", key_at, fix="keep one entry per key")
    seen_keys.add(key)
    value: str | None = None
    if entry.get("value") is not None:
        vpos = value_pos(node, "value")
        value = c.field(
            f"{p}.value", vpos, fields.check_env_value, c.string(entry["value"], f"{p}.value", vpos)
        )
    if entry.get("value_from") is not None:
        fpos = value_pos(node, "value_from")
        source = c.string(entry["value_from"], f"{p}.value_from", fpos)
        if value is not None:
            c.fail(p, "value and value_from cannot both be set", fpos, fix="keep one of them")
        if is_reference(source):
            try:
                parse_reference(source)
            except ValueError as exc:
                c.fail(f"{p}.value_from", f"malformed reference: {exc}", fpos)
        else:
            c.field(f"{p}.value_from", fpos, fields.check_env_key, source)
        value_from[key] = source
    required = False
    if entry.get("required") is not None:
        required = c.boolean(entry["required"], f"{p}.required", value_pos(node, "required"))
    redact = True
    if entry.get("redact") is not None:
        redact = c.boolean(entry["redact"], f"{p}.redact", value_pos(node, "redact"))
    return EnvironmentPermission(key=key, value=value, required=required, redact=redact)


def _resources(c: _Checker, parent: Any, node: Any, p: str) -> tuple[int | None, float | None]:
    res = c.mapping(node, p, _RESOURCE_KEYS, value_pos(parent, "resources"))
    memory: int | None = None
    timeout: float | None = None
    if res.get("memory_bytes") is not None and res.get("memory") is not None:
        c.fail(p, "memory_bytes and memory cannot both be set", key_pos(node, "memory"))
    if res.get("memory_bytes") is not None:
        mpos = value_pos(node, "memory_bytes")
        value = c.integer(
            res["memory_bytes"], f"{p}.memory_bytes", mpos, 1, fields.MAX_MEMORY_BYTES
        )
        memory = c.field(f"{p}.memory_bytes", mpos, fields.parse_memory, value)
    if res.get("memory") is not None:
        memory = c.field(
            f"{p}.memory", value_pos(node, "memory"), fields.parse_memory, res["memory"]
        )
    if res.get("timeout") is not None:
        timeout = c.field(
            f"{p}.timeout", value_pos(node, "timeout"), fields.parse_timeout, res["timeout"]
        )
    if res.get("cpu_time_ms") is not None:
        c.integer(res["cpu_time_ms"], f"{p}.cpu_time_ms", value_pos(node, "cpu_time_ms"), 1, 2**53)
        log.warning(
            "manifest %s: %s.cpu_time_ms is accepted for compatibility with Wassette but NOT "
            "enforced; use %s.timeout to bound a call's running time",
            c.source,
            p,
            p,
        )
    return memory, timeout


def _retry(c: _Checker, item: Any, node: Any, p: str) -> RetryPolicy:
    pos = value_pos(item, "retry_policy")
    rp = c.mapping(node, p, _RETRY_KEYS, pos)
    if "attempts" not in rp:
        c.fail(p, "the field attempts is missing", pos)
    attempts = c.integer(
        rp["attempts"], f"{p}.attempts", value_pos(node, "attempts"), 1, MAX_ATTEMPTS
    )
    if rp.get("backoff") is None:
        return RetryPolicy(attempts=attempts)
    bnode = rp["backoff"]
    bpos = value_pos(node, "backoff")
    if not isinstance(bnode, dict):
        c.fail(f"{p}.backoff", "must be a mapping", bpos)
    # Two spellings: {exponential: {base_ms: N}} and serde's tagged {type: exponential, base_ms: N}.
    kinds = {"exponential": "base_ms", "linear": "increment_ms"}
    if "type" in bnode:
        c.mapping(bnode, f"{p}.backoff", ("type", "base_ms", "increment_ms"), bpos)
        kind = bnode["type"]
        if kind not in kinds:
            c.fail(f"{p}.backoff.type", "must be exponential or linear", value_pos(bnode, "type"))
        body, body_pos, bp = bnode, bpos, f"{p}.backoff"
    else:
        c.mapping(bnode, f"{p}.backoff", tuple(kinds), bpos)
        if len(bnode) != 1:
            c.fail(f"{p}.backoff", "needs exactly one of exponential or linear", bpos)
        kind = next(iter(bnode))
        body, body_pos, bp = bnode[kind], value_pos(bnode, kind), f"{p}.backoff.{kind}"
        c.mapping(body, bp, (kinds[kind],), body_pos)
    step_key = kinds[kind]
    if not isinstance(body, dict) or step_key not in body:
        c.fail(bp, f"the field {step_key} is missing", body_pos)
    step = c.integer(
        body[step_key], f"{bp}.{step_key}", value_pos(body, step_key), 0, MAX_BACKOFF_MS
    )
    return RetryPolicy(attempts=attempts, kind=kind, step_ms=step)


def load_manifest(path: Path) -> Manifest:
    """Read and validate the manifest file ``path``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read manifest {path}",
            why=fsutil.os_reason(exc),
            fix="check the path and its permissions",
        ) from None
    return parse_manifest(data, source=str(path))


# --- state ---------------------------------------------------------------------------------


def read_state(component_dir: Path) -> dict[str, dict[str, Any]]:
    """What earlier manifests provisioned: ``{id: {"uri", "digest", "name"}}`` (empty if none)."""
    try:
        data = json.loads((component_dir / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    comps = data.get("components") if isinstance(data, dict) else None
    if not isinstance(comps, dict):
        return {}
    return {k: v for k, v in comps.items() if isinstance(k, str) and isinstance(v, dict)}


def write_state(component_dir: Path, state: Mapping[str, Mapping[str, Any]]) -> None:
    """Record what the manifest provisioned (atomically)."""
    body = json.dumps({"format": 1, "components": dict(sorted(state.items()))}, indent=2)
    fsutil.write_atomic(component_dir / STATE_FILE, body.encode("utf-8"), mode=0o644)


def file_sha256(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    return "sha256:" + fsutil.sha256_file(path)


# --- planning and provisioning -------------------------------------------------------------

Action = Literal["install", "update", "refresh", "unchanged", "remove"]


@dataclass(frozen=True)
class PlannedChange:
    """What applying the manifest would do to one component (nothing fetched to know it)."""

    component_id: str
    label: str
    action: Action
    policy_change: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "component_id": self.component_id,
            "name": self.label,
            "action": self.action,
            "policy_change": self.policy_change,
            "reason": self.reason,
        }


def plan(
    manifest: Manifest, manager: Any, *, previous: Mapping[str, Any] | None = None
) -> list[PlannedChange]:
    """What :func:`provision` would change, without fetching anything.

    ``previous`` is the provisioning state of earlier manifests (default: the state file):
    components it lists that this manifest no longer declares are planned for removal.
    """
    state = read_state(manager.component_dir) if previous is None else previous
    installed = set(manager.component_ids())
    out: list[PlannedChange] = []
    for comp in manifest.components:
        cid = comp.component_id
        policy_change = comp.policy is not None and _policy_differs(manager, cid, comp.policy)
        if cid not in installed:
            out.append(
                PlannedChange(cid, comp.label, "install", comp.policy is not None, "not installed")
            )
            continue
        current = file_sha256(manager.wasm_path(cid))
        if comp.digest is not None:
            if current == comp.digest:
                out.append(
                    PlannedChange(
                        cid,
                        comp.label,
                        "unchanged",
                        policy_change,
                        "installed digest matches the pin",
                    )
                )
            else:
                out.append(
                    PlannedChange(
                        cid,
                        comp.label,
                        "update",
                        policy_change,
                        "installed digest differs from the pin",
                    )
                )
            continue
        recorded = state.get(cid, {})
        if (
            recorded.get("uri") == comp.uri
            and recorded.get("digest") == current
            and comp.uri.lower().startswith("file://")
        ):
            out.append(
                PlannedChange(
                    cid, comp.label, "unchanged", policy_change, "file source already installed"
                )
            )
        else:
            out.append(
                PlannedChange(
                    cid,
                    comp.label,
                    "refresh",
                    policy_change,
                    "no digest pinned: fetched again in case the source moved",
                )
            )
    declared = {c.component_id for c in manifest.components}
    for cid, _rec in sorted(state.items()):
        if cid not in declared and cid in installed:
            out.append(PlannedChange(cid, cid, "remove", False, "no longer in the manifest"))
    return out


def _policy_differs(manager: Any, cid: str, policy: Policy) -> bool:
    try:
        current = manager.policy(cid)
    except WassetteError:
        return True
    return bool(current != policy)


@dataclass
class Outcome:
    """What provisioning did for one component."""

    component_id: str
    label: str
    uri: str
    status: Literal["installed", "updated", "unchanged", "failed", "removed"]
    attempts: int = 0
    seconds: float = 0.0
    digest: str | None = None
    policy_applied: bool = False
    error: WassetteError | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "component_id": self.component_id,
            "name": self.label,
            "uri": self.uri,
            "status": self.status,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "digest": self.digest,
            "policy_applied": self.policy_applied,
        }
        if self.error is not None:
            out["error"] = self.error.message
            if self.error.fix:
                out["hint"] = self.error.fix
        return out


@dataclass
class ProvisionReport:
    """Every component's outcome, in manifest order (removals last)."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def changed(self) -> bool:
        """Whether the set of tools may have changed (something installed, updated, removed)."""
        return any(o.status in ("installed", "updated", "removed") for o in self.outcomes)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to do"

    def error(self) -> ComponentError:
        """The fail-fast error: which components failed and why."""
        lines = [
            f"{o.label} ({o.uri}): {o.error.message if o.error else 'failed'}" for o in self.failed
        ]
        return ComponentError(
            f"{len(self.failed)} of {len(self.outcomes)} manifest component(s) failed to provision",
            why="; ".join(lines),
            fix="fix the failing entries (or pass --continue-on-provisioning-failure to serve "
            "the components that did load)",
        )


#: ``progress(step_text)``: one line per step of provisioning, for the terminal.
Progress = Callable[[str], None]


def provision(  # noqa: PLR0915 - one pass, every outcome recorded
    manifest: Manifest,
    manager: Any,
    *,
    fetch_options: Callable[[str, str | None], Any] | None = None,
    remove_missing: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> ProvisionReport:
    """Bring ``manager``'s components in line with ``manifest``; attempt every entry.

    Never raises for one component's failure: each is an :class:`Outcome` (the caller decides
    between fail-fast and continue). ``fetch_options(uri, digest)`` builds the FetchOptions for
    a fetch (registry credentials, CA file...; the digest pin is set on them). With
    ``remove_missing``, components an earlier manifest provisioned and this one no longer
    declares are unloaded (re-apply); components loaded by hand are never touched.
    """
    from wassette.approval import approve_all
    from wassette.components.sources import FetchOptions

    say = progress or (lambda _text: None)
    state = read_state(manager.component_dir)
    installed = set(manager.component_ids())
    report = ProvisionReport()
    approver = approve_all("manifest")
    total = len(manifest.components)
    for n, comp in enumerate(manifest.components, 1):
        cid = comp.component_id
        outcome = Outcome(cid, comp.label, comp.uri, "unchanged")
        started = time.monotonic()
        say(f"[{n}/{total}] {comp.label}: checking {comp.uri}")
        try:
            needs_fetch = True
            if cid in installed:
                current = file_sha256(manager.wasm_path(cid))
                recorded = state.get(cid, {})
                if (comp.digest is not None and current == comp.digest) or (
                    comp.digest is None
                    and comp.uri.lower().startswith("file://")
                    and recorded.get("uri") == comp.uri
                    and recorded.get("digest") == current
                    and _file_digest_of_uri(comp.uri) == current
                ):
                    needs_fetch = False
                outcome.digest = current
            if needs_fetch:
                base = fetch_options(comp.uri, comp.digest) if fetch_options else None
                options = base if base is not None else FetchOptions()
                if comp.digest is not None:
                    options = _with_digest(options, comp.digest)
                say(f"[{n}/{total}] {comp.label}: fetching and compiling")
                load_outcome = _load_with_retry(
                    manager, comp, options, approver, outcome, sleep, say
                )
                outcome.digest = load_outcome.digest
                outcome.status = "updated" if cid in installed else "installed"
            # A fetched component may have brought its own policy: the manifest's wins.
            if comp.policy is not None and _policy_differs(manager, cid, comp.policy):
                manager.policies.save(cid, comp.policy)
                outcome.policy_applied = True
            manager.set_value_sources(cid, comp.value_from)
            # The first metadata load: the tools are known before the server says ready.
            manager.tools_of(cid)
            state[cid] = {"uri": comp.uri, "digest": outcome.digest, "name": comp.name}
        except WassetteError as exc:
            outcome.status = "failed"
            outcome.error = exc
            log.error(
                "manifest: %s (%s) failed to provision: %s", comp.label, comp.uri, exc.message
            )
        outcome.seconds = time.monotonic() - started
        say(f"[{n}/{total}] {comp.label}: {outcome.status} ({outcome.seconds:.1f}s)")
        report.outcomes.append(outcome)
    if remove_missing:
        declared = {c.component_id for c in manifest.components}
        for cid in sorted(set(state) - declared):
            if cid in manager.component_ids():
                try:
                    manager.unload(cid)
                    report.outcomes.append(Outcome(cid, cid, state[cid].get("uri", ""), "removed"))
                    say(f"{cid}: removed (no longer in the manifest)")
                except WassetteError as exc:
                    report.outcomes.append(
                        Outcome(cid, cid, state[cid].get("uri", ""), "failed", error=exc)
                    )
                    continue
            manager.set_value_sources(cid, {})
            state.pop(cid, None)
    try:
        write_state(manager.component_dir, state)
    except OSError as exc:
        log.warning("cannot record the manifest state: %s", exc.strerror)
    return report


def _file_digest_of_uri(uri: str) -> str | None:
    path = Path(uri[len("file://") :])
    try:
        return file_sha256(path)
    except OSError:
        return None


def _with_digest(options: Any, digest: str) -> Any:
    import dataclasses

    return dataclasses.replace(options, digest=digest)


def _load_with_retry(  # noqa: PLR0917 - internal helper
    manager: Any,
    comp: ManifestComponent,
    options: Any,
    approver: Any,
    outcome: Outcome,
    sleep: Callable[[float], None],
    say: Progress,
) -> Any:
    attempt = 0
    while True:
        attempt += 1
        outcome.attempts = attempt
        try:
            # The manifest is the operator's: whatever the load would ask (replacing a
            # component, accepting its shipped policy) is approved by the manifest.
            return _manager_load(manager, comp.uri, options, approver)
        except SourceUnreachableError as exc:
            if attempt >= comp.retry.attempts:
                raise
            delay = comp.retry.delay_after(attempt)
            say(
                f"{comp.label}: {exc.message}; retrying in {delay:.1f}s "
                f"({attempt}/{comp.retry.attempts})"
            )
            sleep(delay)


def _manager_load(manager: Any, uri: str, options: Any, approver: Any) -> Any:
    outcome, _tools = manager.load(uri, options, approver=approver)
    return outcome


# --- export --------------------------------------------------------------------------------


def export_manifest(manager: Any) -> str:
    """Today's components, digests and policies as manifest YAML (reproducible deployments).

    The source URI is the one a manifest provisioned the component from; a component loaded
    by hand has no recorded source, so it is exported as ``file://`` its installed wasm, with
    a comment saying so. Policy-defined environment values are never exported (they are
    secret): the entry keeps its key, and a comment says the value was left out.
    """
    state = read_state(manager.component_dir)
    lines = [
        "# Exported by `wassette manifest export`.",
        "version: 1",
        "components:",
    ]
    for cid in manager.component_ids():
        wasm = manager.wasm_path(cid)
        digest = file_sha256(wasm)
        rec = state.get(cid, {})
        uri = rec.get("uri")
        if not isinstance(uri, str):
            lines.append(f"  # {cid}: loaded by hand; its source is not recorded")
            uri = wasm.resolve().as_uri()
        lines.append(f"  - uri: {_yaml_str(uri)}")
        name = rec.get("name")
        if isinstance(name, str):
            lines.append(f"    name: {_yaml_str(name)}")
        lines.append(f"    digest: {digest}")
        lines.extend(_policy_lines(manager, cid, state.get(cid, {})))
    if len(lines) == 3:
        lines[-1] = "components: []  # nothing is installed (a manifest needs at least one)"
    return "\n".join(lines) + "\n"


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _policy_lines(  # noqa: PLR0912 - one branch per policy field
    manager: Any, cid: str, rec: Mapping[str, Any]
) -> list[str]:
    from wassette.policy.fields import format_timeout

    try:
        policy = manager.policy(cid)
    except WassetteError as exc:
        return [f"    # the policy cannot be read: {exc.message}", "    permissions: {}"]
    if policy is None:
        return ["    permissions: {}  # no policy: nothing is allowed"]
    value_from = manager.value_sources(cid) if hasattr(manager, "value_sources") else {}
    out = ["    permissions:"]
    if policy.network:
        out += ["      network:", "        allow:"]
        out += [f"          - host: {_yaml_str(n.entry)}" for n in policy.network]
    if policy.storage:
        out += ["      storage:", "        allow:"]
        for s in policy.storage:
            out += [
                f"          - uri: {_yaml_str(s.uri)}",
                f"            access: [{', '.join(s.access_list())}]",
            ]
    if policy.environment:
        out += ["      environment:", "        allow:"]
        for e in policy.environment:
            out.append(f"          - key: {e.key}")
            if e.key in value_from:
                out.append(f"            value_from: {_yaml_str(value_from[e.key])}")
            if e.value is not None:
                out.append("            # a policy-defined value is set; not exported (secret)")
            if e.required:
                out.append("            required: true")
            if not e.redact:
                out.append("            redact: false")
    if policy.memory_limit_bytes is not None or policy.timeout_seconds is not None:
        out.append("      resources:")
        if policy.memory_limit_bytes is not None:
            out.append(f"        memory_bytes: {policy.memory_limit_bytes}")
        if policy.timeout_seconds is not None:
            out.append(f"        timeout: {format_timeout(policy.timeout_seconds)}")
    if len(out) == 1:
        return ["    permissions: {}  # the policy allows nothing"]
    return out
