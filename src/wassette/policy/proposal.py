"""A policy that arrives with a component is a proposal, never a grant. Pure: no I/O.

A publisher (an OCI policy layer, or any policy shipped beside a component) may ask for
anything: ``fs:///`` read+write, every host it likes, the server's own credentials as
environment variables with redaction off, values that shadow the operator's secrets. Only
the operator decides what a component may touch, so such a policy goes through three steps:

1. :func:`sanitize` removes what a publisher may never decide, whatever the operator answers:
   ``value:`` entries (a policy value is tier 1 and would override the operator's own secret
   for that key; a default the component needs belongs in its code, a value the operator
   wants belongs in ``secret set`` or ``--env``), ``redact: false`` (whether an injected value
   may leave the sandbox in clear is the operator's call) and the description (free text from
   the publisher, shown nowhere as if it were ours). Each removal is reported.
2. :func:`widening` keeps only what the proposal would *add* to the installed policy: on a
   first load (or after ``permission reset``) that is everything; on a reload, only the new
   entries, so the operator's revocations stand unless they approve the same entry again.
   Limits count when they are looser than what is installed.
3. :func:`describe` says each added permission in plain words, and :func:`merge` applies
   exactly those entries once the operator approved them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from wassette.policy import fields
from wassette.policy.model import (
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)
from wassette.policy.protection import Protection

# Names that look like credentials get a warning in the description. Only a hint for the
# person deciding: the server-credential rule itself is enforced when capabilities are built.
_CREDENTIAL_NAME = re.compile(
    r"^(WASSETTE_|VAULT_|BAO_|AWS_)|TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY"
)


@dataclass(frozen=True)
class Proposal:
    """A shipped policy with what no publisher may decide taken out (see :func:`sanitize`)."""

    policy: Policy
    dropped: tuple[str, ...] = ()


def sanitize(shipped: Policy, protection: Protection | None = None) -> Proposal:
    """Strip publisher values, ``redact: false``, the description and (with ``protection``)
    storage entries that reach a protected path; say what went."""
    dropped: list[str] = []
    storage = []
    for grant in shipped.storage:
        hit = protection.collision(grant.path) if protection is not None else None
        if hit is not None:
            dropped.append(
                f"storage {grant.uri} was dropped: {hit.describe()}; no component may be granted it"
            )
            continue
        storage.append(grant)
    environment = []
    for entry in shipped.environment:
        if entry.value is not None:
            dropped.append(
                f"the publisher's value for {entry.key} was dropped: a value in a policy would "
                "override your own secret; set one with `wassette secret set` if you want it"
            )
        if not entry.redact:
            dropped.append(
                f"'redact: false' for {entry.key} was dropped: its value stays redacted in what "
                "the component sends back"
            )
        environment.append(EnvironmentPermission(key=entry.key, required=entry.required))
    policy = replace(
        shipped, description=None, environment=tuple(environment), storage=tuple(storage)
    )
    return Proposal(policy, tuple(dropped))


def is_empty(policy: Policy) -> bool:
    """True if ``policy`` grants nothing and sets no limit."""
    return policy == Policy()


def widening(current: Policy | None, proposed: Policy, *, default_timeout: float) -> Policy:
    """What ``proposed`` would add to ``current`` (None = no policy file: everything).

    Storage entries count per access mode (a ``read`` entry proposed as ``read, write`` adds
    ``write``); network entries and environment keys count when absent. A memory limit counts
    when it is above the installed one (no installed limit means none at all, so nothing is
    looser); a time limit when it is above the installed one, or above ``default_timeout``
    when none is installed.
    """
    if current is None:
        return proposed
    storage = []
    for entry in proposed.storage:
        have = current.find_storage(entry.path)
        extra = entry.access - (have.access if have is not None else frozenset())
        if extra:
            storage.append(StoragePermission(path=entry.path, access=frozenset(extra)))
    network = tuple(n for n in proposed.network if n not in current.network)
    environment = tuple(e for e in proposed.environment if current.find_environment(e.key) is None)
    memory = None
    if (
        proposed.memory_limit_bytes is not None
        and current.memory_limit_bytes is not None
        and proposed.memory_limit_bytes > current.memory_limit_bytes
    ):
        memory = proposed.memory_limit_bytes
    timeout = None
    installed_timeout = (
        current.timeout_seconds if current.timeout_seconds is not None else default_timeout
    )
    if proposed.timeout_seconds is not None and proposed.timeout_seconds > installed_timeout:
        timeout = proposed.timeout_seconds
    return Policy(
        storage=tuple(storage),
        network=network,
        environment=environment,
        memory_limit_bytes=memory,
        timeout_seconds=timeout,
    )


def merge(current: Policy | None, added: Policy) -> Policy:
    """``current`` with exactly the entries of ``added`` granted on top (what was approved)."""
    policy = current if current is not None else Policy()
    storage = list(policy.storage)
    for entry in added.storage:
        have = policy.find_storage(entry.path)
        if have is None:
            storage.append(entry)
        else:
            merged = StoragePermission(path=have.path, access=have.access | entry.access)
            storage = [merged if s.path == have.path else s for s in storage]
    network = policy.network + tuple(n for n in added.network if n not in policy.network)
    environment = policy.environment + tuple(
        e for e in added.environment if policy.find_environment(e.key) is None
    )
    return replace(
        policy,
        storage=tuple(storage),
        network=network,
        environment=environment,
        memory_limit_bytes=(
            added.memory_limit_bytes
            if added.memory_limit_bytes is not None
            else policy.memory_limit_bytes
        ),
        timeout_seconds=(
            added.timeout_seconds if added.timeout_seconds is not None else policy.timeout_seconds
        ),
    )


def _storage_words(entry: StoragePermission) -> str:
    verbs = (
        "read and write files"
        if len(entry.access) == 2
        else ("write files" if entry.writable else "read files")
    )
    where = "/ (the whole filesystem)" if entry.path == "/" else entry.path
    return f"{verbs} in {where}"


def _network_words(entry: NetworkPermission) -> str:
    wildcard = entry.host.startswith("*.")
    target = f"any subdomain of {entry.host[2:]}" if wildcard else entry.host
    limits = []
    if entry.scheme:
        limits.append(f"{entry.scheme} only")
    if entry.port is not None:
        limits.append(f"port {entry.port}")
    suffix = f" ({', '.join(limits)})" if limits else ""
    return f"send HTTP requests to {target}{suffix}"


def _environment_words(entry: EnvironmentPermission) -> str:
    text = (
        f"read the environment variable {entry.key} (its value comes from your --env or config, "
        "this component's secrets, or the server's own environment)"
    )
    if entry.required:
        text += "; calls fail while it has no value"
    if _CREDENTIAL_NAME.search(entry.key):
        text += " - the name looks like a credential"
    return text


def entries(policy: Policy) -> list[str]:
    """Each entry of ``policy`` in short form (``storage fs:///d (read)``, ``environment K``)."""
    lines = [f"storage {e.uri} ({', '.join(e.access_list())})" for e in policy.storage]
    lines += [f"network {e.entry}" for e in policy.network]
    lines += [f"environment {e.key}" for e in policy.environment]
    if policy.memory_limit_bytes is not None:
        lines.append(f"memory {fields.format_memory(policy.memory_limit_bytes)}")
    if policy.timeout_seconds is not None:
        lines.append(f"timeout {fields.format_timeout(policy.timeout_seconds)}")
    return lines


def describe(policy: Policy) -> list[str]:
    """Each permission of ``policy`` as one line of plain words (never a value)."""
    lines = [_storage_words(e) for e in policy.storage]
    lines += [_network_words(e) for e in policy.network]
    lines += [_environment_words(e) for e in policy.environment]
    if policy.memory_limit_bytes is not None:
        lines.append(f"use up to {fields.format_memory(policy.memory_limit_bytes)} of memory")
    if policy.timeout_seconds is not None:
        lines.append(f"run for up to {fields.format_timeout(policy.timeout_seconds)} per call")
    return lines
