"""The policy of one component, as immutable values.

A :class:`Policy` is what ``<id>.policy.yaml`` means once parsed and validated: every entry is
already normalised (storage paths without a trailing ``/**``, network hosts lowercased,
environment keys checked), so two policies that grant the same things compare equal whatever
spelling their files used. *No* policy at all (no file) is represented by ``None`` in the store
and translates to :data:`wassette.runtime.capabilities.DENY_ALL`; an empty :class:`Policy`
grants nothing either.

Pure: no YAML, no file I/O. Entry values are checked by :mod:`wassette.policy.fields`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Access(enum.StrEnum):
    """What a storage entry allows on its directory."""

    READ = "read"
    WRITE = "write"


ACCESS_ORDER: tuple[Access, ...] = (Access.READ, Access.WRITE)


@dataclass(frozen=True)
class StoragePermission:
    """A host directory the component may use (seen by the guest at the same absolute path).

    ``path`` is absolute, normalised (no ``//``, no trailing ``/`` or ``/**``, no ``..``).
    """

    path: str
    access: frozenset[Access]

    @property
    def uri(self) -> str:
        """The entry as written in a policy file: ``fs://`` + the absolute path."""
        return "fs://" + self.path

    @property
    def writable(self) -> bool:
        """True if the guest may modify the directory."""
        return Access.WRITE in self.access

    def access_list(self) -> list[str]:
        """The access modes in their canonical order (``read`` before ``write``)."""
        return [a.value for a in ACCESS_ORDER if a in self.access]


@dataclass(frozen=True)
class NetworkPermission:
    """One allowed outgoing HTTP destination.

    ``host`` is a lowercased DNS name, ``*.domain`` (any subdomain of ``domain``, not ``domain``
    itself), or an IP address (IPv6 without brackets, in compressed form). ``scheme`` (``http``
    or ``https``) and ``port`` restrict the entry further when set.
    """

    host: str
    scheme: str | None = None
    port: int | None = None

    @property
    def entry(self) -> str:
        """The canonical text of this entry, as written to a policy file."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{self.scheme}://{host}" if self.scheme else host
        return f"{text}:{self.port}" if self.port is not None else text


@dataclass(frozen=True)
class EnvironmentPermission:
    """An environment variable the component may see.

    ``value``, when set, is the policy-defined value (tier 1 of the precedence rules). It is a
    secret like any other value: it is kept out of ``repr`` so it cannot leak through a log line
    or an assertion message.
    """

    key: str
    value: str | None = field(default=None, repr=False)
    required: bool = False
    # Injected values of 6+ characters are replaced by [REDACTED:<KEY>] in everything the
    # component sends back (results, stderr, logs). `redact: false` opts a key out, for
    # non-secret settings whose value may legitimately appear in output.
    redact: bool = True


@dataclass(frozen=True)
class Policy:
    """Everything one component is allowed. The default allows nothing.

    ``memory_limit_bytes`` and ``timeout_seconds`` are ``None`` when the policy sets no limit
    (the runtime then applies its own defaults).
    """

    description: str | None = None
    storage: tuple[StoragePermission, ...] = ()
    network: tuple[NetworkPermission, ...] = ()
    environment: tuple[EnvironmentPermission, ...] = ()
    memory_limit_bytes: int | None = None
    timeout_seconds: float | None = None
    # `limits.max_invocations`: calls one warm instance may serve; None (or 1) = fresh per call.
    max_invocations: int | None = None

    def environment_keys(self) -> tuple[str, ...]:
        """The allow-listed environment keys, in policy order."""
        return tuple(e.key for e in self.environment)

    def find_environment(self, key: str) -> EnvironmentPermission | None:
        """The entry for ``key``, or None if the key is not allow-listed."""
        for entry in self.environment:
            if entry.key == key:
                return entry
        return None

    def find_storage(self, path: str) -> StoragePermission | None:
        """The entry for the normalised ``path``, or None."""
        for entry in self.storage:
            if entry.path == path:
                return entry
        return None


VERSION = "1.0"
"""The only policy format version we read and write."""
