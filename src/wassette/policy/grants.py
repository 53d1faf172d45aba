"""Grant and revoke, as pure functions ``Policy -> Policy``.

Rules (docs/spec.md section 3): grants dedupe; granting storage for a directory already listed
merges the access modes into that entry; revoking storage removes every entry for that
directory (whatever spelling named it: ``fs:///d``, ``fs:///d/``, ``fs:///d/**``). Existing
entries keep their order and new ones are appended, so a file rewritten after a grant changes
only where it must. Revoking something that is not granted returns the policy unchanged.

Invalid arguments raise :class:`~wassette.errors.PolicyError` naming the argument; the message
may repeat a host, URI or key the caller typed, never an environment value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from wassette.errors import PolicyError
from wassette.policy import fields
from wassette.policy.model import (
    Access,
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)


def _shown(text: str, limit: int = 80) -> str:
    return ascii(text if len(text) <= limit else text[:limit] + "...")


def _argument_error(what: str, err: fields.FieldError) -> PolicyError:
    return PolicyError(what, why=err.reason, fix=err.fix)


def _storage_path(uri: str) -> str:
    try:
        return fields.parse_storage_uri(uri)
    except fields.FieldError as err:
        raise _argument_error(f"invalid storage URI {_shown(uri)}", err) from None


def _access(access: Iterable[str | Access]) -> frozenset[Access]:
    try:
        return fields.parse_access(str(a) for a in access)
    except fields.FieldError as err:
        raise _argument_error("invalid storage access", err) from None


def _network(host: str) -> NetworkPermission:
    try:
        return fields.parse_network_host(host)
    except fields.FieldError as err:
        raise _argument_error(f"invalid network host {_shown(host)}", err) from None


def _env_key(key: str) -> str:
    try:
        return fields.check_env_key(key)
    except fields.FieldError as err:
        raise _argument_error(f"invalid environment variable key {_shown(key)}", err) from None


def grant_storage(policy: Policy, uri: str, access: Iterable[str | Access]) -> Policy:
    """Allow the directory named by ``uri`` (``fs:///abs/path``) with ``access`` modes.

    An existing entry for the same directory gains the new modes (never loses any).
    """
    path = _storage_path(uri)
    modes = _access(access)
    existing = policy.find_storage(path)
    if existing is None:
        entry = StoragePermission(path=path, access=modes)
        return replace(policy, storage=(*policy.storage, entry))
    merged = existing.access | modes
    if merged == existing.access:
        return policy
    storage = tuple(replace(e, access=merged) if e.path == path else e for e in policy.storage)
    return replace(policy, storage=storage)


def revoke_storage(
    policy: Policy, uri: str, access: Iterable[str | Access] | None = None
) -> Policy:
    """Remove the directory named by ``uri``; with ``access``, remove only those modes.

    An entry left with no access mode is removed.
    """
    path = _storage_path(uri)
    if access is None:
        storage = tuple(e for e in policy.storage if e.path != path)
    else:
        modes = _access(access)
        kept: list[StoragePermission] = []
        for entry in policy.storage:
            if entry.path == path:
                remaining = entry.access - modes
                if remaining:
                    kept.append(replace(entry, access=remaining))
            else:
                kept.append(entry)
        storage = tuple(kept)
    return policy if storage == policy.storage else replace(policy, storage=storage)


def grant_network(policy: Policy, host: str) -> Policy:
    """Allow outgoing HTTP to ``host`` (see :mod:`wassette.policy.fields` for the forms)."""
    entry = _network(host)
    if entry in policy.network:
        return policy
    return replace(policy, network=(*policy.network, entry))


def revoke_network(policy: Policy, host: str) -> Policy:
    """Remove the network entry equal to ``host`` once normalised (``API.x.com`` = ``api.x.com``).

    Only that exact entry goes: revoking ``api.example.com`` leaves ``*.example.com`` alone.
    """
    entry = _network(host)
    network = tuple(n for n in policy.network if n != entry)
    return policy if network == policy.network else replace(policy, network=network)


def grant_environment_variable(
    policy: Policy,
    key: str,
    value: str | None = None,
    *,
    required: bool | None = None,
    redact: bool | None = None,
) -> Policy:
    """Allow the environment variable ``key``.

    With ``value``, the policy itself defines the value (tier 1): it replaces any value the
    entry had. Without it, an existing entry keeps its value. ``required`` (when not None) sets
    whether a missing value should be reported before a call; ``redact`` (when not None)
    whether the injected value is redacted from what the component sends back.
    """
    _env_key(key)
    if value is not None:
        try:
            fields.check_env_value(value)
        except fields.FieldError as err:
            raise _argument_error(f"invalid value for environment variable {key}", err) from None
    existing = policy.find_environment(key)
    if existing is None:
        entry = EnvironmentPermission(
            key=key, value=value, required=bool(required), redact=redact is not False
        )
        return replace(policy, environment=(*policy.environment, entry))
    updated = replace(
        existing,
        value=existing.value if value is None else value,
        required=existing.required if required is None else required,
        redact=existing.redact if redact is None else redact,
    )
    if updated == existing:
        return policy
    environment = tuple(updated if e.key == key else e for e in policy.environment)
    return replace(policy, environment=environment)


def revoke_environment_variable(policy: Policy, key: str) -> Policy:
    """Remove ``key`` from the allow list (and any policy-defined value with it)."""
    _env_key(key)
    environment = tuple(e for e in policy.environment if e.key != key)
    return policy if environment == policy.environment else replace(policy, environment=environment)


def grant_memory(policy: Policy, limit: str | int) -> Policy:
    """Set the memory limit: ``512Mi``, ``1Gi``, ... or a number of bytes."""
    try:
        size = fields.parse_memory(limit)
    except fields.FieldError as err:
        raise _argument_error(f"invalid memory limit {_shown(str(limit))}", err) from None
    return replace(policy, memory_limit_bytes=size)


def revoke_memory(policy: Policy) -> Policy:
    """Remove the memory limit (the runtime's default applies again)."""
    return replace(policy, memory_limit_bytes=None)


def grant_timeout(policy: Policy, timeout: str | float) -> Policy:
    """Set the per-call time limit: ``30s``, ``500ms``, ``2m``, or a number of seconds."""
    try:
        seconds = fields.parse_timeout(timeout)
    except fields.FieldError as err:
        raise _argument_error(f"invalid timeout {_shown(str(timeout))}", err) from None
    return replace(policy, timeout_seconds=seconds)


def revoke_timeout(policy: Policy) -> Policy:
    """Remove the time limit (the runtime's default applies again)."""
    return replace(policy, timeout_seconds=None)
