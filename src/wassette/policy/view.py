"""JSON-ready views of a policy, for ``policy get`` and the MCP ``get-policy`` tool. Pure."""

from __future__ import annotations

from typing import Any

from wassette.policy import fields
from wassette.policy.model import VERSION, EnvironmentPermission, Policy


def _env_entry(e: EnvironmentPermission, show_values: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"key": e.key}
    if e.value is not None:
        if show_values:
            item["value"] = e.value
        else:
            item["value_set"] = True
    if e.required:
        item["required"] = True
    if not e.redact:
        item["redact"] = False
    return item


def policy_to_dict(policy: Policy, *, show_values: bool = False) -> dict[str, Any]:
    """A JSON-ready view of ``policy`` in the file's shape (for ``policy get``, MCP results).

    Policy-defined environment values are secret: unless ``show_values``, an entry says only
    ``"value_set": true``.
    """
    permissions: dict[str, Any] = {}
    if policy.storage:
        permissions["storage"] = {
            "allow": [{"uri": e.uri, "access": e.access_list()} for e in policy.storage]
        }
    if policy.network:
        permissions["network"] = {"allow": [{"host": n.entry} for n in policy.network]}
    if policy.environment:
        env = [_env_entry(e, show_values) for e in policy.environment]
        permissions["environment"] = {"allow": env}
    limits: dict[str, str | int] = {}
    if policy.memory_limit_bytes is not None:
        limits["memory"] = fields.format_memory(policy.memory_limit_bytes)
    if policy.timeout_seconds is not None:
        limits["timeout"] = fields.format_timeout(policy.timeout_seconds)
    if policy.max_invocations is not None:
        limits["max_invocations"] = policy.max_invocations
    if limits:
        permissions["resources"] = {"limits": limits}
    result: dict[str, Any] = {"version": VERSION}
    if policy.description is not None:
        result["description"] = policy.description
    result["permissions"] = permissions
    return result
