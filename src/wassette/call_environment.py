"""What a call of a component may touch, computed afresh for every call.

The component's *current* policy, its secrets (references resolved, only for keys the policy
allows) and the server's environment (``--env`` values, the inherited tier, a manifest's
``value_from``) go through the one policy -> capabilities translation
(:func:`wassette.runtime.environment.build_capabilities`), so a ``secret set`` or a grant
from another process is seen by the very next call. :meth:`CallEnvironment.status` shows
where each allowed key would come from, never a value.

:class:`CallEnvironment` is the part of the component manager that does this; the manager
holds the state it reads (declared below) and inherits it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any

from wassette.errors import PolicyError
from wassette.ids import validate_component_id
from wassette.policy.model import Policy
from wassette.policy.protection import Protection
from wassette.policy.store import PolicyStore
from wassette.runtime.capabilities import Capabilities
from wassette.runtime.environment import build_capabilities, missing_required_keys
from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.references import ReferenceScope, reference_kind, scope_for

__all__ = ["CallEnvironment"]


class CallEnvironment:
    """Policies + secrets + server environment -> a call's :class:`Capabilities`."""

    # Set by the component manager's constructor.
    secrets: SecretBackend
    policies: PolicyStore
    protection: Protection
    explicit_env: dict[str, str]
    inherited_env: dict[str, str]
    default_timeout: float
    reference_scopes: dict[str, ReferenceScope]
    # Manifest ``value_from``: component id -> {key: server variable or reference}.
    _value_sources: dict[str, dict[str, str]]
    _lock: threading.RLock

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
