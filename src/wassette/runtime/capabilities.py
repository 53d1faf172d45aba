"""What one instantiation of a component may touch: the contract between policy and runtime.

``policy`` + secrets + operator environment are translated into a :class:`Capabilities` by one
function (``runtime/environment.py``); the wasmtime layer consumes it and grants nothing else.
This module is pure: no wasmtime, no file I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class EnvTier(enum.StrEnum):
    """Where an injected environment variable's value came from (reference section 4)."""

    POLICY = "policy"  # the policy entry's `value`, or operator env (serve --env, config)
    SECRET = "secret"  # noqa: S105 - a tier name, not a credential
    INHERITED = "inherited"  # the server process's environment


@dataclass(frozen=True)
class Preopen:
    """A host directory made visible to the guest, at the same path."""

    host_path: Path
    guest_path: str
    writable: bool


@dataclass(frozen=True)
class NetworkRule:
    """One allowed outgoing HTTP destination.

    ``host`` is an exact host name or address, or ``*.domain`` for any subdomain of ``domain``
    (not ``domain`` itself). ``scheme`` and ``port``, when set, restrict the rule further.
    """

    host: str
    scheme: str | None = None
    port: int | None = None

    def matches(self, scheme: str, host: str, port: int) -> bool:
        """True if a request to ``scheme://host:port`` is allowed by this rule."""
        if self.scheme is not None and scheme.lower() != self.scheme:
            return False
        if self.port is not None and port != self.port:
            return False
        host = host.lower().rstrip(".")
        if self.host.startswith("*."):
            suffix = self.host[1:]  # ".example.com"
            return host.endswith(suffix) and len(host) > len(suffix)
        return host == self.host


@dataclass(frozen=True)
class Capabilities:
    """Everything a guest is granted for one call. The default grants nothing."""

    # Values may be secrets: kept out of repr so a logged Capabilities never shows them.
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # Parallel to `env`: which tier supplied each key (never the value), for audit and status.
    env_tiers: tuple[tuple[str, EnvTier], ...] = ()
    # Allow-listed keys that only the server's own environment could have supplied and that
    # are server credentials (WASSETTE_*, VAULT_*, ...): (key, why it was not injected).
    env_blocked: tuple[tuple[str, str], ...] = ()
    # Keys whose injected values are redacted from what the component sends back (policy
    # entries without `redact: false`); None means every injected key.
    redact_keys: frozenset[str] | None = None
    preopens: tuple[Preopen, ...] = ()
    network: tuple[NetworkRule, ...] = ()
    memory_limit_bytes: int | None = None
    timeout_seconds: float = 60.0
    # Calls one instance may serve (the policy's `limits.max_invocations`). 1, the default, is
    # a fresh sandbox per call; more lets a call inherit the guest state earlier calls with
    # these same capabilities left behind (only for components declared stateless).
    max_invocations: int = 1

    def redaction_pairs(self) -> tuple[tuple[str, str], ...]:
        """The (key, value) pairs whose values must not leave the server."""
        return tuple(
            (k, v) for k, v in self.env if self.redact_keys is None or k in self.redact_keys
        )

    def allows_request(self, scheme: str, host: str, port: int) -> bool:
        """True if any network rule allows ``scheme://host:port``."""
        return any(rule.matches(scheme, host, port) for rule in self.network)


DENY_ALL = Capabilities()
