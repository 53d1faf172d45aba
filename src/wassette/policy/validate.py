"""Validation of a policy document: the loaded YAML -> :class:`~wassette.policy.model.Policy`.

Errors are :class:`~wassette.errors.PolicyError` naming the field path
(``permissions.network.allow[2].host``), the reason and the line and column when known, and
never a value from the file (it may hold policy-defined environment values). Unknown fields
are errors; ``deny`` lists, ``cidr`` entries and ``limits.cpu`` are accepted for Wassette's
sake, with a warning that they are not enforced. The field rules themselves (URIs, hosts,
sizes, durations) live in :mod:`wassette.policy.fields`.

:class:`DocumentChecker` is the located-error helper shared with the manifest reader
(:mod:`wassette.manifest`): each names its error class and its default fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NoReturn, TypeVar

from wassette.errors import PolicyError, WassetteError
from wassette.lazylog import get_logger
from wassette.policy import fields
from wassette.policy.model import (
    VERSION,
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)
from wassette.policy.plainform import read_plain_document
from wassette.policy.yamldoc import (
    Pos,
    item_pos,
    items_with_pos,
    key_pos,
    load_document,
    value_pos,
)

log = get_logger(__name__)

_T = TypeVar("_T")
_R = TypeVar("_R")

_TOP_KEYS = ("version", "description", "permissions")
_PERMISSION_KEYS = ("storage", "network", "environment", "resources")
_SECTION_KEYS = ("allow", "deny")
_STORAGE_KEYS = ("uri", "access")
_NETWORK_KEYS = ("host", "cidr")
_ENV_KEYS = ("key", "value", "required", "redact")
_RESOURCE_KEYS = ("limits",)
_LIMIT_KEYS = ("memory", "timeout", "cpu", "max_invocations")

_DENY_HINT = "everything not allowed is denied anyway, so remove it"
_CIDR_HINT = "no traffic to these addresses is allowed; list host entries instead"
_CPU_HINT = "use limits.timeout to bound a call's running time"


def _field_name(key: object) -> str:
    text = key if isinstance(key, str) else type(key).__name__
    return ascii(text if len(text) <= 40 else text[:40] + "...")


class DocumentChecker:
    """Checks of one loaded YAML document that fail with a located error.

    The error says which document, the field path, the reason, the line and column, and how
    to fix it; it never repeats a value from the file. A subclass names the error class, the
    kind of document and the default fix.
    """

    error: ClassVar[type[WassetteError]] = PolicyError
    kind: ClassVar[str] = "policy"
    default_fix: ClassVar[str] = "correct the field, or see the policy format in the documentation"

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(
        self, path: str, reason: str, pos: Pos | None = None, fix: str | None = None
    ) -> NoReturn:
        where = f" (line {pos.line}, column {pos.column})" if pos else ""
        raise self.error(
            f"invalid {self.kind} {self.source}",
            why=f"{path or 'top level'}: {reason}{where}",
            fix=fix or self.default_fix,
        )

    def mapping(
        self, node: Any, path: str, allowed: tuple[str, ...], pos: Pos | None
    ) -> dict[str, Any]:
        """Check ``node`` is a mapping (None = empty) with only ``allowed`` string keys."""
        if node is None:
            return {}
        if not isinstance(node, dict):
            self.fail(path, "must be a mapping", pos)
        unknown = [k for k in node if not isinstance(k, str) or k not in allowed]
        if unknown:
            names = ", ".join(_field_name(k) for k in unknown[:5])
            if len(unknown) > 5:
                names += f" and {len(unknown) - 5} more"
            plural = "s" if len(unknown) > 1 else ""
            self.fail(
                path,
                f"unknown field{plural} {names}",
                key_pos(node, unknown[0]) or pos,
                fix=f"the fields allowed here are: {', '.join(allowed)}",
            )
        return dict(node)

    def sequence(self, node: Any, path: str, pos: Pos | None) -> list[Any]:
        """Check ``node`` is a list (None = empty)."""
        if node is None:
            return []
        if not isinstance(node, list):
            self.fail(path, "must be a list", pos)
        return list(node)

    def string(self, node: Any, path: str, pos: Pos | None) -> str:
        if not isinstance(node, str):
            self.fail(path, "must be a string (put it in quotes)", pos)
        return str(node)

    def required_string(
        self, node: Any, key: str, path: str, pos: Pos | None, fix: str
    ) -> tuple[str, Pos | None]:
        """``node[key]`` (``node`` an entry :meth:`mapping` accepted, at ``path``/``pos``) as a
        string, with its position; a missing field (or a null entry) is a located error with
        ``fix``."""
        if not isinstance(node, dict) or key not in node:
            self.fail(path, f"the field {key} is missing", pos, fix=fix)
        at = value_pos(node, key)
        return self.string(node[key], f"{path}.{key}", at), at

    def run_field(self, path: str, pos: Pos | None, check: Callable[[_T], _R], value: _T) -> _R:
        """``check(value)``, with a :class:`fields.FieldError` turned into a located error."""
        try:
            return check(value)
        except fields.FieldError as err:
            self.fail(path, err.reason, pos, err.fix)


class _Validator(DocumentChecker):
    def __init__(self, source: str, *, warnings: bool = True) -> None:
        super().__init__(source)
        self.warnings = warnings
        self.unenforced = False  # a field that is accepted but not enforced was met

    def warn_not_enforced(self, path: str, pos: Pos | None, hint: str) -> None:
        self.unenforced = True
        if not self.warnings:
            return
        where = f" (line {pos.line})" if pos else ""
        log.warning(
            "policy %s: %s%s is accepted for compatibility with Wassette but NOT enforced; %s",
            self.source,
            path,
            where,
            hint,
        )


def document_to_policy(doc: Any, *, source: str = "<policy>", warnings: bool = True) -> Policy:
    """Validate a parsed document and build its :class:`Policy`. Raises :class:`PolicyError`.

    With ``warnings``, accepted-but-not-enforced fields are logged (once per parse).
    """
    return _to_policy(_Validator(source, warnings=warnings), doc)


def _to_policy(v: _Validator, doc: Any) -> Policy:
    top = v.mapping(doc, "", _TOP_KEYS, None)
    _check_version(v, top, doc)
    description: str | None = None
    if top.get("description") is not None:
        description = v.string(top["description"], "description", value_pos(doc, "description"))
    perms_node = top.get("permissions")
    perms = v.mapping(perms_node, "permissions", _PERMISSION_KEYS, value_pos(doc, "permissions"))
    storage = _storage(v, perms_node, perms)
    network = _network(v, perms_node, perms)
    environment = _environment(v, perms_node, perms)
    memory, timeout, invocations = _resources(v, perms_node, perms)
    return Policy(
        max_invocations=invocations,
        description=description,
        storage=storage,
        network=network,
        environment=environment,
        memory_limit_bytes=memory,
        timeout_seconds=timeout,
    )


def _check_version(v: _Validator, top: dict[str, Any], doc: Any) -> None:
    if "version" not in top:
        return  # a missing version means the only one there is
    version = top["version"]
    ok = (isinstance(version, str) and version in ("1.0", "1")) or (
        isinstance(version, int | float) and not isinstance(version, bool) and version == 1
    )
    if not ok:
        v.fail(
            "version",
            f"unsupported policy format version (this wassette reads version {VERSION})",
            value_pos(doc, "version"),
            fix=f'write version: "{VERSION}"',
        )


def _section(v: _Validator, perms_node: Any, perms: dict[str, Any], name: str) -> Any:
    """The ``allow`` list of section ``name`` (warning about a ``deny`` list)."""
    path = f"permissions.{name}"
    node = perms.get(name)
    section = v.mapping(node, path, _SECTION_KEYS, value_pos(perms_node, name))
    if "deny" in section:
        deny_pos = key_pos(node, "deny")
        if section["deny"] is not None and not isinstance(section["deny"], list):
            v.fail(f"{path}.deny", "must be a list", deny_pos)
        v.warn_not_enforced(f"{path}.deny", deny_pos, _DENY_HINT)
    allow_node = section.get("allow")
    v.sequence(allow_node, f"{path}.allow", value_pos(node, "allow"))
    return allow_node


def _storage(
    v: _Validator, perms_node: Any, perms: dict[str, Any]
) -> tuple[StoragePermission, ...]:
    allow_node = _section(v, perms_node, perms, "storage")
    merged: dict[str, StoragePermission] = {}
    for i, item, pos in items_with_pos(allow_node or []):
        merge_storage(merged, storage_entry(v, item, f"permissions.storage.allow[{i}]", pos))
    return tuple(merged.values())


def storage_entry(v: DocumentChecker, item: Any, path: str, pos: Pos | None) -> StoragePermission:
    """One ``{uri, access}`` item of a storage allow list (policy files and manifests)."""
    entry = v.mapping(item, path, _STORAGE_KEYS, pos)
    if item is None:
        v.fail(path, "must be a mapping with uri and access", pos)
    if "uri" not in entry:
        v.fail(path, "the field uri is missing", pos, fix='add uri: "fs:///path/to/dir"')
    if "access" not in entry:
        v.fail(path, "the field access is missing", pos, fix='add access: ["read"]')
    uri_pos = value_pos(item, "uri")
    uri = v.string(entry["uri"], f"{path}.uri", uri_pos)
    dir_path = v.run_field(f"{path}.uri", uri_pos, fields.parse_storage_uri, uri)
    access_pos = value_pos(item, "access")
    access_items = entry["access"]
    if not isinstance(access_items, list):
        v.fail(f"{path}.access", 'must be a list such as ["read", "write"]', access_pos)
    modes_text = [
        v.string(a, f"{path}.access[{j}]", item_pos(access_items, j))
        for j, a in enumerate(access_items)
    ]
    modes = v.run_field(f"{path}.access", access_pos, fields.parse_access, modes_text)
    return StoragePermission(path=dir_path, access=modes)


def merge_storage(merged: dict[str, StoragePermission], entry: StoragePermission) -> None:
    """Add ``entry`` to ``merged`` (by directory).

    The same directory listed twice is one entry with both entries' access (as a grant would
    have made it), at the position of its first listing.
    """
    previous = merged.get(entry.path)
    if previous is not None:
        entry = StoragePermission(path=entry.path, access=previous.access | entry.access)
    merged[entry.path] = entry


def _network(
    v: _Validator, perms_node: Any, perms: dict[str, Any]
) -> tuple[NetworkPermission, ...]:
    allow_node = _section(v, perms_node, perms, "network")
    seen: dict[NetworkPermission, None] = {}
    for i, item, pos in items_with_pos(allow_node or []):
        path = f"permissions.network.allow[{i}]"
        entry = v.mapping(item, path, _NETWORK_KEYS, pos)
        if ("host" in entry) == ("cidr" in entry):
            v.fail(path, "an entry needs exactly one of host or cidr", pos)
        if "cidr" in entry:
            cidr_pos = value_pos(item, "cidr")
            v.string(entry["cidr"], f"{path}.cidr", cidr_pos)
            v.warn_not_enforced(f"{path}.cidr", cidr_pos, _CIDR_HINT)
            continue
        host_pos = value_pos(item, "host")
        host = v.string(entry["host"], f"{path}.host", host_pos)
        rule = v.run_field(f"{path}.host", host_pos, fields.parse_network_host, host)
        seen.setdefault(rule, None)  # duplicates (after normalising) are one entry
    return tuple(seen)


def _environment(
    v: _Validator, perms_node: Any, perms: dict[str, Any]
) -> tuple[EnvironmentPermission, ...]:
    allow_node = _section(v, perms_node, perms, "environment")
    entries: dict[str, EnvironmentPermission] = {}
    first_index: dict[str, int] = {}
    for i, item, pos in items_with_pos(allow_node or []):
        path = f"permissions.environment.allow[{i}]"
        entry = v.mapping(item, path, _ENV_KEYS, pos)
        key, key_at = v.required_string(item, "key", path, pos, 'add key: "NAME"')
        v.run_field(f"{path}.key", key_at, fields.check_env_key, key)
        value: str | None = None
        if entry.get("value") is not None:
            value_at = value_pos(item, "value")
            value = v.string(entry["value"], f"{path}.value", value_at)
            v.run_field(f"{path}.value", value_at, fields.check_env_value, value)
        required = False
        if entry.get("required") is not None:
            required_node = entry["required"]
            if not isinstance(required_node, bool):
                v.fail(f"{path}.required", "must be true or false", value_pos(item, "required"))
            required = bool(required_node)
        redact = True
        if entry.get("redact") is not None:
            redact_node = entry["redact"]
            if not isinstance(redact_node, bool):
                v.fail(f"{path}.redact", "must be true or false", value_pos(item, "redact"))
            redact = bool(redact_node)
        if key in entries:
            # Two entries for one key would make the value ambiguous: refuse rather than guess.
            v.fail(
                f"{path}.key",
                f"the key {key} is already listed at "
                f"permissions.environment.allow[{first_index[key]}]",
                key_at,
                fix="keep one entry per key",
            )
        first_index[key] = i
        entries[key] = EnvironmentPermission(key=key, value=value, required=required, redact=redact)
    return tuple(entries.values())


def _resources(
    v: _Validator, perms_node: Any, perms: dict[str, Any]
) -> tuple[int | None, float | None, int | None]:
    node = perms.get("resources")
    resources = v.mapping(
        node, "permissions.resources", _RESOURCE_KEYS, value_pos(perms_node, "resources")
    )
    limits_node = resources.get("limits")
    limits = v.mapping(
        limits_node, "permissions.resources.limits", _LIMIT_KEYS, value_pos(node, "limits")
    )
    base = "permissions.resources.limits"
    memory: int | None = None
    timeout: float | None = None
    if limits.get("memory") is not None:
        value = limits["memory"]
        memory = v.run_field(
            f"{base}.memory", value_pos(limits_node, "memory"), fields.parse_memory, value
        )
    if limits.get("timeout") is not None:
        t_value = limits["timeout"]
        timeout = v.run_field(
            f"{base}.timeout",
            value_pos(limits_node, "timeout"),
            fields.parse_timeout,
            t_value,
        )
    if "cpu" in limits:
        v.warn_not_enforced(f"{base}.cpu", key_pos(limits_node, "cpu"), _CPU_HINT)
    invocations: int | None = None
    if limits.get("max_invocations") is not None:
        invocations = v.run_field(
            f"{base}.max_invocations",
            value_pos(limits_node, "max_invocations"),
            fields.parse_max_invocations,
            limits["max_invocations"],
        )
    return memory, timeout, invocations


def parse_policy(data: str | bytes, *, source: str = "<policy>", warnings: bool = True) -> Policy:
    """Parse and validate policy YAML. Raises :class:`PolicyError`, and nothing else.

    A file in the plain form we write is read without the YAML library
    (:mod:`wassette.policy.plainform`) and validated by the same code; anything else, and any
    plain-form file the validator would refuse or warn about, goes through the YAML parser,
    so every error and warning carries the line and column only the parser knows.
    """
    plain = read_plain_document(data)
    if plain is not None:
        v = _Validator(source, warnings=False)
        try:
            policy = _to_policy(v, plain)
        except PolicyError:
            policy = None
        if policy is not None and not v.unenforced:
            return policy
    doc = load_document(data, source=source)
    return document_to_policy(doc, source=source, warnings=warnings)
