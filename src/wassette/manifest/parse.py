"""Reading a manifest: YAML text -> a validated :class:`~wassette.manifest.model.Manifest`.

Validation happens before anything is fetched and reports the first problem with its field
path and its line and column, as a :class:`~wassette.errors.ConfigError`; messages never repeat
a value from the file. The YAML loader and the located-error helper are the policy format's
(:mod:`wassette.policy.yamldoc`, :class:`wassette.policy.validate.DocumentChecker`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

from wassette import fsutil
from wassette.errors import ConfigError, PolicyError, WassetteError
from wassette.manifest.model import (
    MANIFEST_VERSION,
    MAX_ATTEMPTS,
    MAX_BACKOFF_MS,
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestComponent,
    RetryPolicy,
)
from wassette.policy import fields
from wassette.policy.model import (
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)
from wassette.policy.validate import DocumentChecker, merge_storage, storage_entry
from wassette.policy.yamldoc import Pos, items_with_pos, key_pos, load_document, value_pos

log = logging.getLogger(__name__)

_TOP_KEYS = ("version", "components")
_COMPONENT_KEYS = ("uri", "name", "digest", "permissions", "retry_policy")
_PERMISSION_KEYS = ("network", "storage", "environment", "resources")
_SECTION_KEYS = ("allow",)
_NETWORK_KEYS = ("host",)
# value_from is Wassette's; value, required and redact are our extensions (as in policy files)
_ENV_KEYS = ("key", "value_from", "value", "required", "redact")
# memory_bytes and cpu_time_ms are Wassette's; memory and timeout are our extensions
_RESOURCE_KEYS = ("memory_bytes", "cpu_time_ms", "memory", "timeout")
_RETRY_KEYS = ("attempts", "backoff")
_SCHEMES = ("oci://", "https://", "file://", "http://")


class _Checker(DocumentChecker):
    """Located validation errors for one manifest source (stricter strings and lists than a
    policy's, plus whole numbers and booleans)."""

    error: ClassVar[type[WassetteError]] = ConfigError
    kind: ClassVar[str] = "manifest"
    default_fix: ClassVar[str] = (
        "correct the field; the manifest format is described in docs/deploy.md"
    )

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


def _load_yaml(data: str | bytes, source: str) -> Any:
    # The policy format's loader: size and nesting guards, no file content in its errors.
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
        uri, uri_pos = c.required_string(item, "uri", path, pos, "add uri: oci://... or file://...")
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
            c.mapping(entry_node, p, _NETWORK_KEYS, pos)
            host, host_pos = c.required_string(
                entry_node, "host", p, pos, "add host: api.example.com"
            )
            network.setdefault(c.run_field(f"{p}.host", host_pos, fields.parse_network_host, host))
    if perms.get("storage") is not None:
        allow = _allow(c, node, perms, "storage", path)
        for i, entry_node, pos in items_with_pos(allow):
            merge_storage(storage, storage_entry(c, entry_node, f"{path}.storage.allow[{i}]", pos))
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
    text, key_at = c.required_string(node, "key", p, pos, "add key: NAME")
    key = c.run_field(f"{p}.key", key_at, fields.check_env_key, text)
    if key in seen_keys:
        c.fail(f"{p}.key", "this key is already listed", key_at, fix="keep one entry per key")
    seen_keys.add(key)
    value: str | None = None
    if entry.get("value") is not None:
        vpos = value_pos(node, "value")
        value = c.run_field(
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
            c.run_field(f"{p}.value_from", fpos, fields.check_env_key, source)
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
        memory = c.run_field(f"{p}.memory_bytes", mpos, fields.parse_memory, value)
    if res.get("memory") is not None:
        memory = c.run_field(
            f"{p}.memory", value_pos(node, "memory"), fields.parse_memory, res["memory"]
        )
    if res.get("timeout") is not None:
        timeout = c.run_field(
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
    with fsutil.os_errors(
        ConfigError, f"cannot read manifest {path}", fix="check the path and its permissions"
    ):
        data = path.read_bytes()
    return parse_manifest(data, source=str(path))
