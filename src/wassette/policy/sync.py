"""Writing a policy back: edit a loaded document to mean a target
:class:`~wassette.policy.model.Policy`, keeping what a person wrote.

:func:`sync_document` changes only the entries that differ from the target, so comments and the
spelling of untouched entries survive a grant or a revoke; :func:`dump_policy` writes a fresh,
canonical text. Nodes are made through :mod:`wassette.policy.yamldoc` (no YAML library here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wassette.policy import fields
from wassette.policy.model import (
    VERSION,
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)
from wassette.policy.yamldoc import dump_document, flow_list, new_list, new_map, quoted


def _child_map(parent: Any, key: str) -> Any:
    """``parent[key]`` as a mapping, created (empty) when missing or null."""
    node = parent.get(key)
    if node is None:
        node = new_map()
        parent[key] = node
    return node


def _allow_list(perms: Any, section: str) -> Any:
    """``perms[section].allow`` as a list, created (with its section) when missing or null."""
    parent = _child_map(perms, section)
    node = parent.get("allow")
    if node is None:
        node = new_list()
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
                item["access"] = flow_list(entry.access_list())
        _delete_items(existing, doomed)
    missing = [e for e in storage if e.path not in done]
    if missing:
        allow = _allow_list(perms, "storage")
        for e in missing:
            allow.append(new_map([("uri", quoted(e.uri)), ("access", flow_list(e.access_list()))]))
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
            allow.append(new_map([("host", quoted(n.entry))]))
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
        item["value"] = quoted(entry.value)
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
            new = new_map([("key", quoted(e.key))])
            if e.value is not None:
                new["value"] = quoted(e.value)
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
        limits["memory"] = quoted(fields.format_memory(policy.memory_limit_bytes))
    if policy.timeout_seconds is None:
        limits.pop("timeout", None)
    elif limits.get("timeout") is None or (
        fields.parse_timeout(limits["timeout"]) != policy.timeout_seconds
    ):
        limits["timeout"] = quoted(fields.format_timeout(policy.timeout_seconds))
    if policy.max_invocations is None:
        limits.pop("max_invocations", None)
    elif limits.get("max_invocations") != policy.max_invocations:
        limits["max_invocations"] = policy.max_invocations
    _prune(perms["resources"], "limits")
    _prune(perms, "resources")


def sync_document(doc: Any, policy: Policy) -> Any:
    """Edit ``doc`` (a document that
    :func:`~wassette.policy.validate.document_to_policy` accepted) to mean ``policy``.

    Entries that stay keep their text and comments; removed ones go; new ones are appended.
    Returns the document (a new one if ``doc`` was empty).
    """
    if not isinstance(doc, dict):
        doc = new_map()
    if "version" not in doc:
        doc.insert(0, "version", quoted(VERSION))
    if policy.description is None:
        doc.pop("description", None)
    elif doc.get("description") != policy.description:
        if "description" in doc:
            doc["description"] = quoted(policy.description)
        else:
            doc.insert(1, "description", quoted(policy.description))
    perms = doc.get("permissions")
    attached = isinstance(perms, dict)
    if not attached:
        perms = new_map()
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
    return dump_document(sync_document(new_map(), policy))
