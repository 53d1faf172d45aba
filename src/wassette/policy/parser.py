"""The policy file format: YAML <-> :class:`~wassette.policy.model.Policy`.

One of the two modules that may import the YAML library (with :mod:`wassette.policy.store`'s
use of the helpers here, all of ruamel stays in this file). The format is docs/spec.md section 3,
plus ``permissions.resources.limits.timeout`` (``"30s"``, ``"500ms"``, ``"2m"``),
``limits.max_invocations`` (calls one warm instance may serve; default 1, a fresh instance per
call) and an optional ``required: true`` on environment entries::

    version: "1.0"
    description: "..."
    permissions:
      storage:
        allow:
          - uri: "fs:///home/me/data"     # a trailing /** or /* means the directory itself
            access: ["read", "write"]
      network:
        allow:
          - host: "api.example.com"
      environment:
        allow:
          - key: "API_KEY"
            required: true
          - key: "LOG_LEVEL"
            value: "debug"
      resources:
        limits:
          memory: "512Mi"
          timeout: "30s"
          max_invocations: 1

Validation errors are :class:`~wassette.errors.PolicyError` naming the field path
(``permissions.network.allow[2].host``), the reason and the line and column when known. They
never repeat a value from the file: the file may hold policy-defined environment values, and
YAML syntax errors have the quoted parts of the parser's own message cut out.

Unknown fields are errors. ``deny`` lists, ``cidr`` network entries and ``limits.cpu`` are
accepted, because Wassette accepts them, but they are not enforced, and a warning says so.

Edits keep what a person wrote: :func:`load_document` returns ruamel's round-trip document and
:func:`sync_document` changes only the entries that differ from a target policy, so comments
and the spelling of untouched entries survive a grant or a revoke.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError, YAMLFutureWarning, YAMLWarning
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from wassette.errors import PolicyError
from wassette.policy import fields, view
from wassette.policy.model import (
    VERSION,
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_R = TypeVar("_R")

MAX_POLICY_BYTES = 1 << 20
"""Larger policy files are refused: no honest policy is this big, and YAML parsing is slow."""

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


# --- the YAML library ----------------------------------------------------------------------


def _yaml() -> YAML:
    # A fresh instance per use: ruamel's YAML objects are not safe to share between threads.
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # never fold long strings (URIs, values) across lines
    return y


# A quoted part of ruamel's problem text: a Python repr (with backslash escapes) or a plain
# '...' / "..." quote. Whatever is quoted may be file content.
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

# ruamel's warnings (a reused anchor, ...) print the offending source lines to stderr, and a
# source line may hold a secret value. Nothing in them is actionable for a policy or secrets
# file, so they are silenced for the whole process.
warnings.filterwarnings("ignore", category=YAMLWarning)
warnings.filterwarnings("ignore", category=YAMLFutureWarning)


def _redact(exc: MarkedYAMLError) -> str:
    """ruamel's problem text with every quoted part (which may be file content) cut out."""
    if isinstance(exc, DuplicateKeyError):
        # Its text quotes both values unescaped, so no pattern could find their ends.
        return "a key is repeated in the same mapping"
    text = _QUOTED.sub("<...>", exc.problem or exc.context or "invalid YAML")
    # Anything left after a stray quote could be content: drop it.
    cut = min((i for i in (text.find(q) for q in "'\"`") if i != -1), default=len(text))
    text = _CONTROL_CHARS.sub(" ", text[:cut])
    return text.strip()[:160] or "invalid YAML"


def _decode(data: str | bytes, source: str) -> str:
    if isinstance(data, bytes):
        if len(data) > MAX_POLICY_BYTES:
            _too_large(source)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PolicyError(
                f"cannot read policy {source}",
                why=f"it is not valid UTF-8 (byte offset {exc.start})",
                fix="save the file as UTF-8",
            ) from None
    if len(data) > MAX_POLICY_BYTES:
        _too_large(source)
    return data.removeprefix("\ufeff")


def _too_large(source: str) -> NoReturn:
    raise PolicyError(
        f"cannot read policy {source}",
        why=f"it is larger than {MAX_POLICY_BYTES} bytes",
        fix="a policy lists a few permissions; check that this is the right file",
    )


MAX_FLOW_DEPTH = 100
"""Deeper ``[``/``{`` nesting is refused before parsing: ruamel's scanner takes seconds on a few
thousand unclosed brackets, and a policy may come from a registry (an untrusted author)."""

_TOKEN_START = frozenset(" \t\n:,[{-?")


def _flow_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting in ``text``, skipping quoted scalars and comments.

    A rough lexer, only good enough for a denial-of-service guard: it errs towards counting a
    bracket inside a plain scalar, which only matters at an absurd depth.
    """
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        at_token_start = i == 0 or text[i - 1] in _TOKEN_START
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(depth - 1, 0)
        elif c == "#" and at_token_start:
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        elif c == '"' and at_token_start:
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "'" and at_token_start:
            end = text.find("'", i + 1)
            while end != -1 and text[end + 1 : end + 2] == "'":
                end = text.find("'", end + 2)
            i = n if end == -1 else end
        i += 1
    return deepest


def load_document(data: str | bytes, *, source: str = "<policy>") -> Any:
    """Parse YAML text into ruamel's round-trip document (comments kept). Not validated.

    Raises :class:`PolicyError` (never another exception) on any syntax problem.
    """
    text = _decode(data, source)
    fix = "fix the YAML syntax at that position (or `wassette permission reset` the component)"
    if _flow_depth(text) > MAX_FLOW_DEPTH:
        raise PolicyError(
            f"policy {source} is not valid YAML",
            why=f"brackets are nested more than {MAX_FLOW_DEPTH} levels deep",
            fix="a policy needs a few levels at most; quote strings that contain brackets",
        )
    try:
        return _yaml().load(text)
    except ReaderError as exc:
        raise PolicyError(
            f"cannot read policy {source}",
            why=f"it contains a character YAML does not allow (at character {exc.position})",
            fix=fix,
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = _redact(exc)
        raise PolicyError(
            f"policy {source} is not valid YAML", why=f"{problem}{where}", fix=fix
        ) from None
    except YAMLError:
        raise PolicyError(f"policy {source} is not valid YAML", fix=fix) from None
    except RecursionError:
        raise PolicyError(
            f"policy {source} is not valid YAML", why="it is nested too deeply", fix=fix
        ) from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError):
        # ruamel lets constructor errors of explicit tags (`!!int x`, `!!bool maybe`) escape as
        # plain Python exceptions whose text quotes the value: say only what kind of problem.
        raise PolicyError(
            f"policy {source} is not valid YAML",
            why="a value cannot be read as the type its explicit tag names",
            fix="remove the explicit !!tag, or fix the value",
        ) from None


def dump_document(doc: Any) -> str:
    """The YAML text of a round-trip document."""
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


# --- validation: document -> Policy --------------------------------------------------------


@dataclass(frozen=True)
class Pos:
    """A 1-based line and column in a loaded YAML document (for located errors; the
    manifest reader uses these helpers too)."""

    line: int
    column: int


def node_pos(getter: Callable[[], Any]) -> Pos | None:
    try:
        line, column = getter()
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None
    if isinstance(line, int) and isinstance(column, int):
        return Pos(line + 1, column + 1)
    return None


def key_pos(mapping: Any, key: Any) -> Pos | None:
    return node_pos(lambda: mapping.lc.key(key))


def value_pos(mapping: Any, key: Any) -> Pos | None:
    return node_pos(lambda: mapping.lc.value(key))


def item_pos(seq: Any, index: int) -> Pos | None:
    return node_pos(lambda: seq.lc.item(index))


def _field_name(key: object) -> str:
    text = key if isinstance(key, str) else type(key).__name__
    return ascii(text if len(text) <= 40 else text[:40] + "...")


class _Validator:
    def __init__(self, source: str, *, warnings: bool = True) -> None:
        self.source = source
        self.warnings = warnings

    def fail(
        self, path: str, reason: str, pos: Pos | None = None, fix: str | None = None
    ) -> NoReturn:
        where = f" (line {pos.line}, column {pos.column})" if pos else ""
        raise PolicyError(
            f"invalid policy {self.source}",
            why=f"{path or 'top level'}: {reason}{where}",
            fix=fix or "correct the field, or see the policy format in the documentation",
        )

    def warn_not_enforced(self, path: str, pos: Pos | None, hint: str) -> None:
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
        if node is None:
            return []
        if not isinstance(node, list):
            self.fail(path, "must be a list", pos)
        return list(node)

    def string(self, node: Any, path: str, pos: Pos | None) -> str:
        if not isinstance(node, str):
            self.fail(path, "must be a string (put it in quotes)", pos)
        return str(node)

    def run_field(self, path: str, pos: Pos | None, check: Callable[[_T], _R], value: _T) -> _R:
        """``check(value)``, with a :class:`fields.FieldError` turned into a located error."""
        try:
            return check(value)
        except fields.FieldError as err:
            self.fail(path, err.reason, pos, err.fix)


def items_with_pos(seq: Any) -> Iterator[tuple[int, Any, Pos | None]]:
    """``(index, item, position)`` for each item of a loaded YAML sequence."""
    for index, item in enumerate(seq):
        yield index, item, item_pos(seq, index)


def document_to_policy(doc: Any, *, source: str = "<policy>", warnings: bool = True) -> Policy:
    """Validate a parsed document and build its :class:`Policy`. Raises :class:`PolicyError`.

    With ``warnings``, accepted-but-not-enforced fields are logged (once per parse).
    """
    v = _Validator(source, warnings=warnings)
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
        path = f"permissions.storage.allow[{i}]"
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
        # The same directory listed twice is one entry with both entries' access (as a grant
        # would have made it), at the position of its first listing.
        previous = merged.get(dir_path)
        access = modes if previous is None else previous.access | modes
        merged[dir_path] = StoragePermission(path=dir_path, access=access)
    return tuple(merged.values())


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
        if "key" not in entry:
            v.fail(path, "the field key is missing", pos, fix='add key: "NAME"')
        key_at = value_pos(item, "key")
        key = v.string(entry["key"], f"{path}.key", key_at)
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
    """Parse and validate policy YAML. Raises :class:`PolicyError`, and nothing else."""
    doc = load_document(data, source=source)
    return document_to_policy(doc, source=source, warnings=warnings)


def policy_to_dict(policy: Policy, *, show_values: bool = False) -> dict[str, Any]:
    """Re-exported from :mod:`wassette.policy.view` (no YAML involved)."""
    return view.policy_to_dict(policy, show_values=show_values)


# --- writing: Policy -> document -----------------------------------------------------------


def _q(text: str) -> Any:
    return DoubleQuotedScalarString(text)


def _flow_list(items: list[str]) -> CommentedSeq:
    seq = CommentedSeq(_q(i) for i in items)
    seq.fa.set_flow_style()
    return seq


def _child_map(parent: Any, key: str) -> Any:
    """``parent[key]`` as a mapping, created (empty) when missing or null."""
    node = parent.get(key)
    if node is None:
        node = CommentedMap()
        parent[key] = node
    return node


def _allow_list(perms: Any, section: str) -> Any:
    """``perms[section].allow`` as a list, created (with its section) when missing or null."""
    parent = _child_map(perms, section)
    node = parent.get("allow")
    if node is None:
        node = CommentedSeq()
        parent["allow"] = node
    return node


def _prune(parent: Any, key: str) -> None:
    """Delete ``parent[key]`` if it is an empty or null container."""
    if key in parent and not parent[key]:
        del parent[key]


def _delete_items(seq: Any, doomed: list[int]) -> None:
    for index in reversed(doomed):
        del seq[index]


def _reorder(
    perms: Any, section_name: str, identity: Callable[[Any], Any], order: list[Any]
) -> None:
    """Put the allow items of ``section_name`` in ``order`` (by ``identity``).

    Grants append and revokes delete, so this only moves anything when a caller asks for a
    policy whose entries are ordered differently from the file. Items the policy does not know
    (e.g. cidr entries) keep their place at the end.
    """
    section = perms.get(section_name)
    items = section.get("allow") if isinstance(section, dict) else None
    if not items:
        return
    rank = {ident: i for i, ident in enumerate(order)}
    current = list(items)
    wanted = sorted(current, key=lambda item: rank.get(identity(item), len(rank)))
    if [id(x) for x in wanted] != [id(x) for x in current]:
        for i, item in enumerate(wanted):
            items[i] = item


def _sync_storage(perms: Any, storage: tuple[StoragePermission, ...]) -> None:
    wanted = {e.path: e for e in storage}
    section = perms.get("storage")
    existing = section.get("allow") if isinstance(section, dict) else None
    done: set[str] = set()
    if existing:
        doomed: list[int] = []
        for index, item in enumerate(existing):
            path = fields.parse_storage_uri(str(item["uri"]))
            entry = wanted.get(path)
            if entry is None or path in done:
                doomed.append(index)
                continue
            done.add(path)
            current = fields.parse_access(str(a) for a in item["access"])
            if current != entry.access:
                item["access"] = _flow_list(entry.access_list())
        _delete_items(existing, doomed)
    missing = [e for e in storage if e.path not in done]
    if missing:
        allow = _allow_list(perms, "storage")
        for e in missing:
            allow.append(
                CommentedMap([("uri", _q(e.uri)), ("access", _flow_list(e.access_list()))])
            )
    _reorder(
        perms,
        "storage",
        lambda item: fields.parse_storage_uri(str(item["uri"])),
        [e.path for e in storage],
    )
    if isinstance(perms.get("storage"), dict):
        _prune(perms["storage"], "allow")
    _prune(perms, "storage")


def _sync_network(perms: Any, network: tuple[NetworkPermission, ...]) -> None:
    wanted = set(network)
    section = perms.get("network")
    existing = section.get("allow") if isinstance(section, dict) else None
    done: set[NetworkPermission] = set()
    if existing:
        doomed: list[int] = []
        for index, item in enumerate(existing):
            if "host" not in item:
                continue  # a cidr entry: not ours to change
            rule = fields.parse_network_host(str(item["host"]))
            if rule not in wanted or rule in done:
                doomed.append(index)
            else:
                done.add(rule)
        _delete_items(existing, doomed)
    missing = [n for n in network if n not in done]
    if missing:
        allow = _allow_list(perms, "network")
        for n in missing:
            allow.append(CommentedMap([("host", _q(n.entry))]))
    _reorder(
        perms,
        "network",
        lambda item: fields.parse_network_host(str(item["host"])) if "host" in item else None,
        list(network),
    )
    if isinstance(perms.get("network"), dict):
        _prune(perms["network"], "allow")
    _prune(perms, "network")


def _sync_environment_item(item: Any, entry: EnvironmentPermission) -> None:
    if entry.value is None:
        if item.get("value") is not None:
            del item["value"]
    elif item.get("value") != entry.value:
        item["value"] = _q(entry.value)
    if entry.required:
        if item.get("required") is not True:
            item["required"] = True
    elif item.get("required"):
        del item["required"]
    if not entry.redact:
        if item.get("redact") is not False:
            item["redact"] = False
    elif "redact" in item:
        del item["redact"]


def _sync_environment(perms: Any, environment: tuple[EnvironmentPermission, ...]) -> None:
    wanted = {e.key: e for e in environment}
    section = perms.get("environment")
    existing = section.get("allow") if isinstance(section, dict) else None
    done: set[str] = set()
    if existing:
        doomed: list[int] = []
        for index, item in enumerate(existing):
            key = str(item["key"])
            entry = wanted.get(key)
            if entry is None:
                doomed.append(index)
                continue
            done.add(key)
            _sync_environment_item(item, entry)
        _delete_items(existing, doomed)
    missing = [e for e in environment if e.key not in done]
    if missing:
        allow = _allow_list(perms, "environment")
        for e in missing:
            new = CommentedMap([("key", _q(e.key))])
            if e.value is not None:
                new["value"] = _q(e.value)
            if e.required:
                new["required"] = True
            if not e.redact:
                new["redact"] = False
            allow.append(new)
    _reorder(perms, "environment", lambda item: str(item["key"]), [e.key for e in environment])
    if isinstance(perms.get("environment"), dict):
        _prune(perms["environment"], "allow")
    _prune(perms, "environment")


def _sync_limits(perms: Any, policy: Policy) -> None:
    resources = perms.get("resources")
    limits = resources.get("limits") if isinstance(resources, dict) else None
    if (
        policy.memory_limit_bytes is None
        and policy.timeout_seconds is None
        and policy.max_invocations is None
        and not limits
    ):
        return
    limits = _child_map(_child_map(perms, "resources"), "limits")
    if policy.memory_limit_bytes is None:
        limits.pop("memory", None)
    elif limits.get("memory") is None or (
        fields.parse_memory(limits["memory"]) != policy.memory_limit_bytes
    ):
        limits["memory"] = _q(fields.format_memory(policy.memory_limit_bytes))
    if policy.timeout_seconds is None:
        limits.pop("timeout", None)
    elif limits.get("timeout") is None or (
        fields.parse_timeout(limits["timeout"]) != policy.timeout_seconds
    ):
        limits["timeout"] = _q(fields.format_timeout(policy.timeout_seconds))
    if policy.max_invocations is None:
        limits.pop("max_invocations", None)
    elif limits.get("max_invocations") != policy.max_invocations:
        limits["max_invocations"] = policy.max_invocations
    _prune(perms["resources"], "limits")
    _prune(perms, "resources")


def sync_document(doc: Any, policy: Policy) -> Any:
    """Edit ``doc`` (a document :func:`document_to_policy` accepted) to mean ``policy``.

    Entries that stay keep their text and comments; removed ones go; new ones are appended.
    Returns the document (a new one if ``doc`` was empty).
    """
    if not isinstance(doc, dict):
        doc = CommentedMap()
    if "version" not in doc:
        doc.insert(0, "version", _q(VERSION))
    if policy.description is None:
        doc.pop("description", None)
    elif doc.get("description") != policy.description:
        if "description" in doc:
            doc["description"] = _q(policy.description)
        else:
            doc.insert(1, "description", _q(policy.description))
    perms = doc.get("permissions")
    attached = isinstance(perms, dict)
    if not attached:
        perms = CommentedMap()
    _sync_storage(perms, policy.storage)
    _sync_network(perms, policy.network)
    _sync_environment(perms, policy.environment)
    _sync_limits(perms, policy)
    if not perms:
        doc.pop("permissions", None)
    elif not attached:
        doc["permissions"] = perms
    return doc


def dump_policy(policy: Policy) -> str:
    """A fresh, canonical YAML text for ``policy`` (no comments to keep)."""
    return dump_document(sync_document(CommentedMap(), policy))
