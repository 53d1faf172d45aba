"""THE translation of a policy into what one instantiation may touch.

One function, :func:`build_capabilities`, and no wasmtime: the sandbox layer consumes the
:class:`~wassette.runtime.capabilities.Capabilities` it returns and grants nothing else.

Environment (docs/spec.md section 2, made exact). For each key K allow-listed in
``permissions.environment.allow``, in policy order, the value is the first of:

1. **policy-defined** (:attr:`EnvTier.POLICY`): the entry's own ``value``; else the operator's
   value for K (``serve --env K=V``, ``--env-file``, config ``[environment_vars]``), passed as
   ``explicit_env``. The entry's value wins over the operator's because it is the more specific
   of the two: it was written for this one component;
2. **secret** (:attr:`EnvTier.SECRET`): K in the component's own secrets;
3. **inherited** (:attr:`EnvTier.INHERITED`): K in the server process's environment, unless
   K is a server credential (``WASSETTE_*``, ``VAULT_*``, ``BAO_*``, ...: see
   :mod:`wassette.policy.protection`): such a key is never taken from the server's own
   environment, and is recorded in :attr:`Capabilities.env_blocked` with the reason.

A key that is not allow-listed is never injected, whatever its source: not from the operator,
not from secrets, not from the inherited environment. A key allow-listed but found in no tier
is simply absent (see :func:`missing_required_keys`). No policy at all grants nothing.

Storage entries become preopens at the same absolute path in the guest; a directory that does
not exist (or is not a directory) is a :class:`~wassette.errors.PolicyError` naming the entry,
raised before the guest is started, rather than an opaque instantiation failure. So is an entry
whose real path (symlinks resolved *now*, at every call) reaches a protected path: the secrets,
config, state, cache or component directory, a credential file, ``/``, ``/proc``, ``/sys`` or
``/dev``. The host side of a preopen is the real path that was checked.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from wassette.errors import PolicyError
from wassette.fsutil import os_reason
from wassette.policy.model import NetworkPermission, Policy, StoragePermission
from wassette.policy.protection import Protection
from wassette.runtime.capabilities import DENY_ALL, Capabilities, EnvTier, NetworkRule, Preopen


def _environment(
    policy: Policy,
    secrets: Mapping[str, str],
    explicit_env: Mapping[str, str],
    inherited_env: Mapping[str, str],
    protection: Protection,
) -> tuple[
    tuple[tuple[str, str], ...], tuple[tuple[str, EnvTier], ...], tuple[tuple[str, str], ...]
]:
    env: list[tuple[str, str]] = []
    tiers: list[tuple[str, EnvTier]] = []
    blocked: list[tuple[str, str]] = []
    for entry in policy.environment:
        key = entry.key
        if entry.value is not None:
            value, tier = entry.value, EnvTier.POLICY
        elif key in explicit_env:
            value, tier = explicit_env[key], EnvTier.POLICY
        elif key in secrets:
            value, tier = secrets[key], EnvTier.SECRET
        elif key in inherited_env:
            reason = protection.credential_reason(key)
            if reason is not None:
                # The server's own credential (its master key, its Vault token, ...): an
                # allow-list entry, which an MCP client can add, must not be enough to get it.
                blocked.append((key, reason))
                continue
            value, tier = inherited_env[key], EnvTier.INHERITED
        else:
            continue
        env.append((key, value))
        tiers.append((key, tier))
    return tuple(env), tuple(tiers), tuple(blocked)


def _preopen(
    index: int, entry: StoragePermission, protection: Protection, component_id: str | None
) -> Preopen:
    where = f"permissions.storage.allow[{index}] ({entry.uri})"
    real = protection.check_entry(component_id, index, entry.path)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise PolicyError(
            f"storage entry {where} names a directory that does not exist",
            fix=f"create the directory, or revoke it: wassette permission revoke storage "
            f"{component_id or '<id>'} {entry.uri}",
        ) from None
    except OSError as exc:
        raise PolicyError(
            f"storage entry {where} cannot be opened",
            why=os_reason(exc),
            fix="check the directory's permissions, or revoke the entry",
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise PolicyError(
            f"storage entry {where} is not a directory",
            why="only directories can be granted; a file is reached through its directory",
            fix="grant the directory that holds it, and revoke this entry",
        )
    # The host side is the real path just checked, not the path as written: a symlink swapped
    # between this check and the preopen cannot redirect it.
    return Preopen(host_path=Path(real), guest_path=entry.path, writable=entry.writable)


def network_rule(entry: NetworkPermission) -> NetworkRule:
    """The sandbox's form of one policy network entry (same host, scheme and port)."""
    return NetworkRule(host=entry.host, scheme=entry.scheme, port=entry.port)


_MINIMAL = Protection.minimal()


def build_capabilities(
    policy: Policy | None,
    *,
    secrets: Mapping[str, str],
    explicit_env: Mapping[str, str],
    inherited_env: Mapping[str, str],
    default_timeout: float = 60.0,
    protection: Protection | None = None,
    component_id: str | None = None,
) -> Capabilities:
    """Everything one call of a component may touch, from its policy and the value sources.

    ``policy`` is ``None`` when the component has no policy file: the result grants nothing
    (no environment, no files, no network). ``secrets`` are the component's own secrets,
    ``explicit_env`` the operator's values, ``inherited_env`` the server's process
    environment; none of them reaches the guest except through the policy's allow list.
    Raises :class:`PolicyError` if a storage directory is missing, not a directory, or
    reaches a protected path. ``protection`` defaults to :meth:`Protection.minimal` (``/``,
    ``/proc``, ``/sys``, ``/dev``); the composition root passes the full set.
    ``component_id`` only makes error messages name the exact command that fixes them.
    """
    guard = protection if protection is not None else _MINIMAL
    if policy is None:
        if default_timeout == DENY_ALL.timeout_seconds:
            return DENY_ALL
        return Capabilities(timeout_seconds=default_timeout)
    env, tiers, blocked = _environment(policy, secrets, explicit_env, inherited_env, guard)
    preopens = tuple(
        _preopen(i, entry, guard, component_id) for i, entry in enumerate(policy.storage)
    )
    return Capabilities(
        env=env,
        env_tiers=tiers,
        env_blocked=blocked,
        redact_keys=frozenset(e.key for e in policy.environment if e.redact),
        preopens=preopens,
        network=tuple(network_rule(n) for n in policy.network),
        memory_limit_bytes=policy.memory_limit_bytes,
        timeout_seconds=(
            policy.timeout_seconds if policy.timeout_seconds is not None else default_timeout
        ),
        max_invocations=policy.max_invocations or 1,
    )


def missing_required_keys(policy: Policy | None, capabilities: Capabilities) -> list[str]:
    """Keys marked ``required: true`` in ``policy`` that got no value from any tier."""
    if policy is None:
        return []
    present = {key for key, _ in capabilities.env}
    return [e.key for e in policy.environment if e.required and e.key not in present]
