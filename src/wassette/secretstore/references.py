"""Secret references: one shared secret feeding several components without copies.

A stored secret value may, instead of the secret itself, hold a *reference* that is resolved
each time the component is instantiated (never stored resolved):

``vault:<path>#<key>``
    field ``<key>`` of the KV v2 secret at ``<path>`` inside the configured Vault mount, read
    through the Vault backend (same token, same cache, same outage behaviour). ``<path>`` is
    relative to the mount, *not* to ``path_prefix``, so shared secrets can live outside the
    per-component tree: ``vault:shared/stripe#API_KEY`` reads
    ``<mount>/data/shared/stripe``, field ``API_KEY`` (``bao kv get -mount=secret
    shared/stripe``). Path segments are letters, digits, ``.``, ``_`` and ``-``; the key is
    any non-empty text after the first ``#``.
``env:<NAME>``
    the variable ``NAME`` of the wassette server's own environment (``NAME`` a valid
    environment variable name).

**Escaping.** A literal value that happens to start with ``vault:``, ``env:`` or ``literal:``
is stored with a ``literal:`` prefix, which resolution strips exactly once:
``literal:vault:abc`` injects ``vault:abc``; ``literal:literal:x`` injects ``literal:x``.
Every other value passes through unchanged, byte for byte. :func:`escape_literal` applies the
rule, so ``resolve(escape_literal(v)) == v`` for every string ``v`` (a property test checks it).

**Scope.** A reference is a request made by whoever could write the component's secrets (a
tenant sharing the Vault, an import file), resolved with the *server's* Vault token and
environment. So each component's references resolve only inside a :class:`ReferenceScope`:
by default ``vault:`` only under that component's own Vault path and ``env:`` not at all; the
operator widens it per component in config.toml::

    [references.billing]
    vault = ["shared/db"]        # shared/db and everything under it
    env = ["SHARED_TOKEN"]       # exact names

An out-of-scope reference fails the call, naming the reference and the setting, never a value.

Failures raise :class:`~wassette.errors.SecretReferenceError`. A *dangling* reference (no such
Vault secret or field, no such environment variable) is named in the message, since a
reference is a pointer, not a secret. A *malformed* one is not echoed (it might be a real
secret that merely looks like a reference): the message names only the secret key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wassette.errors import SecretReferenceError, UsageError

if TYPE_CHECKING:
    from wassette.secretstore.backend import PathReader

VAULT_PREFIX = "vault:"
ENV_PREFIX = "env:"
LITERAL_PREFIX = "literal:"

_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"  # compiled (and cached) by re on first use
_VAULT_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]*"


@dataclass(frozen=True)
class VaultReference:
    """``vault:<path>#<key>``."""

    path: str
    key: str

    def __str__(self) -> str:
        return f"{VAULT_PREFIX}{self.path}#{self.key}"


@dataclass(frozen=True)
class EnvReference:
    """``env:<NAME>``."""

    name: str

    def __str__(self) -> str:
        return f"{ENV_PREFIX}{self.name}"


Reference = VaultReference | EnvReference


@dataclass(frozen=True)
class ReferenceScope:
    """Where one component's references may point.

    ``own_vault``: the component's own logical Vault path (None without Vault); ``vault``:
    further paths (each covers itself and everything under it); ``env``: exact variable names.
    """

    vault: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    own_vault: str | None = None


def _under(path: str, base: str) -> bool:
    base = base.strip("/")
    return bool(base) and (path == base or path.startswith(base + "/"))


def in_scope(ref: Reference, scope: ReferenceScope) -> bool:
    """Whether ``ref`` may be resolved for a component with ``scope``."""
    if isinstance(ref, EnvReference):
        return ref.name in scope.env
    if scope.own_vault is not None and _under(ref.path, scope.own_vault):
        return True
    return any(_under(ref.path, base) for base in scope.vault)


def widen_hint(ref: Reference, component_id: str | None) -> str:
    """The config.toml setting that would put ``ref`` in scope for ``component_id``."""
    table = f"[references.{component_id or '<component-id>'}]"
    if isinstance(ref, EnvReference):
        return f'env = ["{ref.name}"] under {table} in config.toml'
    return f'vault = ["{ref.path}"] under {table} in config.toml'


def _scope_error(
    key: str, owner: str, ref: Reference, scope: ReferenceScope, cid: str | None
) -> SecretReferenceError:
    if isinstance(ref, EnvReference):
        why = "env: references resolve only for variable names the operator listed for it"
    else:
        own = f" ({scope.own_vault})" if scope.own_vault else ""
        why = (
            f"vault: references resolve only under the component's own Vault path{own} "
            "and the paths the operator listed for it"
        )
    return SecretReferenceError(
        f"secret {key}{owner} refers to {ref}, which is outside its reference scope",
        why=why,
        fix=f"if the operator means to share it, add {widen_hint(ref, cid)}; "
        "otherwise replace the reference with a value",
    )


@dataclass(frozen=True)
class ReferenceNote:
    """What :func:`describe_references` says about one stored value (never the value)."""

    key: str
    kind: str  # "vault" | "env" | "malformed"
    reference: str | None
    in_scope: bool
    hint: str | None

    def text(self) -> str:
        """One line for the operator."""
        if self.kind == "malformed":
            return f"{self.key}: looks like a reference but is malformed (it will fail)"
        if self.in_scope:
            return f"{self.key}: reference to {self.reference} (in scope)"
        return f"{self.key}: reference to {self.reference} is OUT OF SCOPE: add {self.hint}"


def describe_references(
    values: Mapping[str, str], scope: ReferenceScope, component_id: str | None
) -> list[ReferenceNote]:
    """For ``secret set``/``import``: which values are references, and whether in scope."""
    notes = []
    for key, value in values.items():
        if not is_reference(value):
            continue
        try:
            ref = parse_reference(value)
        except _Malformed:
            notes.append(ReferenceNote(key, "malformed", None, False, None))
            continue
        assert ref is not None
        kind = "env" if isinstance(ref, EnvReference) else "vault"
        ok = in_scope(ref, scope)
        notes.append(
            ReferenceNote(key, kind, str(ref), ok, None if ok else widen_hint(ref, component_id))
        )
    return notes


def scope_for(
    component_id: str, configured: Mapping[str, ReferenceScope], backend: object
) -> ReferenceScope:
    """``component_id``'s scope: its own Vault path (when ``backend`` is Vault) plus what the
    operator configured under ``[references.<id>]``."""
    base = configured.get(component_id, ReferenceScope())
    own = None
    if getattr(backend, "name", None) == "vault":
        logical_path = getattr(backend, "logical_path", None)
        own = logical_path(component_id) if callable(logical_path) else None
    return ReferenceScope(vault=base.vault, env=base.env, own_vault=own)


def reference_report(
    values: Mapping[str, str],
    component_id: str,
    configured: Mapping[str, ReferenceScope],
    backend: object,
) -> list[dict[str, object]]:
    """What ``secret set``/``import`` report about references among ``values`` (no values):
    ``[{key, reference, kind, in_scope, note}]``; empty when none is a reference."""
    scope = scope_for(component_id, configured, backend)
    return [
        {
            "key": n.key,
            "reference": n.reference,
            "kind": n.kind,
            "in_scope": n.in_scope,
            "note": n.text(),
        }
        for n in describe_references(values, scope, component_id)
    ]


def reference_kind(value: str) -> str | None:
    """``"vault"`` or ``"env"`` for a stored reference, None for anything else."""
    if value.startswith(VAULT_PREFIX):
        return "vault"
    if value.startswith(ENV_PREFIX):
        return "env"
    return None


class _Malformed(ValueError):
    """Internal: why a would-be reference does not parse (the reason never quotes it)."""


def is_reference(value: str) -> bool:
    """Whether ``value`` will be treated as a reference (well-formed or not)."""
    return value.startswith((VAULT_PREFIX, ENV_PREFIX))


def escape_literal(value: str) -> str:
    """Store ``value`` so that it is injected verbatim, even if it looks like a reference."""
    if value.startswith((VAULT_PREFIX, ENV_PREFIX, LITERAL_PREFIX)):
        return LITERAL_PREFIX + value
    return value


def parse_reference(value: str) -> Reference | None:
    """The reference ``value`` holds, or None for a plain (or ``literal:``) value.

    Raises ``ValueError`` (a private subclass) for a malformed reference; the message never
    contains ``value``.
    """
    if value.startswith(VAULT_PREFIX):
        body = value[len(VAULT_PREFIX) :]
        path, sep, key = body.partition("#")
        if not sep:
            raise _Malformed("a vault reference needs '#<key>' after the path")
        if not path or not all(re.fullmatch(_VAULT_SEGMENT, s) for s in path.split("/")):
            raise _Malformed(
                "the path must be segments of letters, digits, '.', '_' and '-' joined by '/'"
            )
        if not key:
            raise _Malformed("the key after '#' is empty")
        return VaultReference(path, key)
    if value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if not re.fullmatch(_ENV_NAME, name):
            raise _Malformed("the variable name is not a valid environment variable name")
        return EnvReference(name)
    return None


def resolve_references(
    secrets: Mapping[str, str],
    *,
    vault: PathReader | None,
    environ: Mapping[str, str],
    component_id: str | None = None,
    scope: ReferenceScope,
) -> dict[str, str]:
    """Resolve every reference in ``secrets``; plain values pass through unchanged.

    ``vault`` serves ``vault:`` references (None when no Vault is configured: such a
    reference is then an error). ``environ`` is the server's environment for ``env:``.
    ``scope`` says where references may point (checked before anything is read).
    ``component_id`` names the component in messages. All-or-nothing: the first failure raises.
    """
    owner = f" of component {component_id}" if component_id else ""
    out: dict[str, str] = {}
    for key, value in secrets.items():
        if value.startswith(LITERAL_PREFIX):
            out[key] = value[len(LITERAL_PREFIX) :]
            continue
        try:
            ref = parse_reference(value)
        except _Malformed as exc:
            raise SecretReferenceError(
                f"secret {key}{owner} looks like a reference but is malformed",
                why=str(exc),
                fix=f"write vault:<path>#<key> or env:<NAME>; to store a literal value "
                f"starting with vault: or env:, prefix it with {LITERAL_PREFIX}",
            ) from None
        if ref is None:
            out[key] = value
            continue
        if not in_scope(ref, scope):
            raise _scope_error(key, owner, ref, scope, component_id)
        if isinstance(ref, EnvReference):
            if ref.name not in environ:
                raise SecretReferenceError(
                    f"secret {key}{owner} refers to {ref}, which is not set",
                    why=f"the wassette server's environment has no variable {ref.name}",
                    fix=f"export {ref.name} before starting the server, or change the secret",
                )
            out[key] = environ[ref.name]
        else:
            out[key] = _resolve_vault(ref, key, owner, vault)
    return out


def _resolve_vault(ref: VaultReference, key: str, owner: str, vault: PathReader | None) -> str:
    if vault is None:
        raise SecretReferenceError(
            f"secret {key}{owner} refers to {ref}, but no Vault is configured",
            fix='set secrets_backend = "vault" and a [vault] table in config.toml, '
            "or replace the reference with a value",
        )
    try:
        fields = vault.read_path(ref.path)
    except UsageError:  # pragma: no cover - parse_reference already validated the path
        raise SecretReferenceError(f"secret {key}{owner} has an invalid Vault path") from None
    if ref.key not in fields:
        where = f"{vault.mount}/data/{ref.path}"
        why = (
            f"the secret at {where} has no field {ref.key}"
            if fields
            else f"there is no secret at {where}"
        )
        raise SecretReferenceError(
            f"secret {key}{owner} refers to {ref}, which does not exist",
            why=why,
            fix=f"create it (`bao kv patch -mount={vault.mount} {ref.path} {ref.key}=...`, or "
            f"`kv put` for a new secret) or point the reference elsewhere",
        )
    return fields[ref.key]
