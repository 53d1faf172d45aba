"""Protected paths and server credentials: the rules every grant and every call consult.

Two rules keep one component out of another's secrets and out of the server's own keys, even
when the party asking for a grant is an MCP client driven by a prompt-injected model:

**Protected paths.** A storage entry is refused when its real path (symlinks resolved) or its
path as written

* *is* ``/`` (``/srv/data`` is fine; only the root itself is refused),
* is, or lies inside, ``/proc``, ``/sys`` or ``/dev`` (``/proc/self/environ`` is the server's
  whole environment; ``/dev/fd`` leads back into ``/proc``),
* is, lies inside, or *contains* one of wassette's own files: the secrets, config, state,
  cache and component directories, the key file, the config file, and every credential file
  the server reads (Vault token file, AppRole secret-id file, ``serve --auth-token-file``,
  ``--env-file``, the registry credentials file). Containing counts because granting ``$HOME``
  grants everything below it.

The rule is checked when a grant is written (:mod:`wassette.policy.store`) *and* when a call's
capabilities are built (:mod:`wassette.runtime.environment`), so a hand-edited policy, a policy
shipped with a component, one a component managed to write, or a symlink swapped after the grant
all meet it. There is no override: a directory that must be shared with a component is never
one that holds wassette's own files.

**Server credentials.** ``WASSETTE_*``, ``VAULT_*``, ``BAO_*`` and the credential variables the
server reads are never taken from the *inherited* tier (the server's own environment). Only the
operator's explicit values (``serve --env``, ``--env-file``, config ``[environment_vars]``) or
the component's own secrets can supply such a key.

Pure apart from ``os.path.realpath`` (which reads the file system to resolve symlinks); the
environment is never read here: callers pass the paths they know.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wassette.errors import PolicyError

if TYPE_CHECKING:
    from wassette.config import Settings


class Reach(enum.Enum):
    """Which requested paths a protected path rules out."""

    EXACT = "exact"  # only the path itself (``/``)
    WITHIN = "within"  # the path and everything below it (/proc, /sys, /dev)
    TREE = "tree"  # the path, everything below it, and every directory above it


@dataclass(frozen=True)
class ProtectedPath:
    """One protected path: ``path`` is absolute and normalised."""

    path: str
    what: str  # "the secrets directory"
    why: str  # "holds every component's secrets"
    reach: Reach = Reach.TREE


def _contains(parent: str, child: str) -> bool:
    """True if ``child`` is ``parent`` or lies below it (both normalised, absolute)."""
    if child == parent:
        return True
    prefix = parent if parent.endswith(os.sep) else parent + os.sep
    return child.startswith(prefix)


def _relation(candidate: str, protected: ProtectedPath) -> str | None:
    """How ``candidate`` collides with ``protected``: "is", "lies inside", "contains" or None."""
    if candidate == protected.path:
        return "is"
    if protected.reach is Reach.EXACT:
        return None
    if _contains(protected.path, candidate):
        return "lies inside"
    if protected.reach is Reach.TREE and _contains(candidate, protected.path):
        return "contains"
    return None


SYSTEM_PATHS: tuple[ProtectedPath, ...] = (
    ProtectedPath(
        "/",
        "the root directory",
        "contains every file on the host, wassette's own secrets and keys included",
        Reach.EXACT,
    ),
    ProtectedPath(
        "/proc",
        "/proc",
        "exposes every process's environment and memory, the server's own included "
        "(/proc/self/environ)",
        Reach.WITHIN,
    ),
    ProtectedPath("/sys", "/sys", "exposes the kernel's and the devices' internals", Reach.WITHIN),
    ProtectedPath(
        "/dev",
        "/dev",
        "exposes the host's devices and the server's open files (/dev/fd)",
        Reach.WITHIN,
    ),
)

#: The key file's name in the config dir (``secretstore.keys.KEY_FILE_NAME``; not imported,
#: as importing the secret store costs ~80 ms and a test checks the two agree).
KEY_FILE_NAME = "secrets.key"

#: Prefixes of environment variables that belong to the server (wassette, Vault, OpenBao).
CREDENTIAL_PREFIXES: tuple[str, ...] = ("WASSETTE_", "VAULT_", "BAO_")

#: Variables the server reads as credentials, and what each one is. All start with one of
#: :data:`CREDENTIAL_PREFIXES` today; listed by name so the reason can say what they are (a
#: test checks this list against the modules that read them).
CREDENTIAL_NAMES: dict[str, str] = {
    "WASSETTE_SECRETS_KEY": "the encryption key of the secrets at rest",
    "WASSETTE_SECRETS_PASSPHRASE": "the passphrase the encryption key is derived from",
    "VAULT_TOKEN": "the server's Vault/OpenBao token",
    "BAO_TOKEN": "an OpenBao token",
    "WASSETTE_OCI_USERNAME": "the server's container-registry user name",
    "WASSETTE_OCI_PASSWORD": "the server's container-registry password",
}


@dataclass(frozen=True)
class Collision:
    """A requested storage path that meets a protected path."""

    requested: str  # the path as written in the grant or policy
    real: str  # the path that collided: its real path, or the path as written
    protected: ProtectedPath
    relation: str  # "is", "lies inside", "contains"

    def describe(self) -> str:
        """One sentence: what collides with what, and why that is protected."""
        p = self.protected
        shown = self.requested
        if self.real != self.requested:
            shown = f"{self.requested} (real path {self.real})"
        if self.relation == "is":
            target = p.what if p.what == p.path else f"{p.what} {p.path}"
            return f"{shown} is {target}, which {p.why}"
        target = p.path if p.what == p.path else f"{p.path} ({p.what})"
        return f"{shown} {self.relation} {target}, which {p.why}"


_FIX_GENERAL = (
    "grant a dedicated directory that neither contains nor lies inside wassette's own files "
    "(secrets, config, state, cache and component directories, key and credential files) "
    "and is not /, /proc, /sys or /dev; no flag overrides this"
)


@dataclass(frozen=True)
class Protection:
    """The protected paths and credential names one process enforces.

    Build it with :meth:`for_settings` (the full set: wiring does this) or :meth:`minimal`
    (the fixed system paths only), then add paths with :meth:`plus`.
    """

    paths: tuple[ProtectedPath, ...] = SYSTEM_PATHS
    credential_names: tuple[tuple[str, str], ...] = tuple(CREDENTIAL_NAMES.items())
    # Memo of (path, real path) pairs already added, so plus() stays idempotent.
    _keys: frozenset[tuple[str, str]] = field(default=frozenset(), repr=False, compare=False)

    # --- building --------------------------------------------------------------------------

    @classmethod
    def minimal(cls) -> Protection:
        """Only ``/``, ``/proc``, ``/sys`` and ``/dev``: what any process must refuse."""
        return cls()

    def plus(self, path: Path | str, what: str, why: str) -> Protection:
        """This protection with ``path`` (and its real path, if different) protected too."""
        lexical = os.path.normpath(os.path.abspath(os.fspath(path)))
        real = os.path.realpath(lexical)
        added = tuple(
            ProtectedPath(p, what, why)
            for p in dict.fromkeys((real, lexical))
            if (p, what) not in self._keys
        )
        if not added:
            return self
        keys = self._keys | {(p.path, what) for p in added}
        return Protection(self.paths + added, self.credential_names, keys)

    def with_secrets_dir(self, path: Path | str) -> Protection:
        """This protection with secrets directory ``path`` protected too."""
        return self.plus(path, "the secrets directory", "holds every component's secrets")

    def with_component_dir(self, path: Path | str) -> Protection:
        """This protection with component directory ``path`` protected too."""
        return self.plus(
            path,
            "the component directory",
            "holds every component and its policy (a component able to write there could "
            "grant itself anything)",
        )

    def with_credential_names(self, names: Iterable[tuple[str, str]]) -> Protection:
        """This protection with more variable names treated as server credentials."""
        merged = dict(self.credential_names)
        merged.update(names)
        return Protection(self.paths, tuple(merged.items()), self._keys)

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        *,
        cache_dir: Path | None = None,
        credential_files: Iterable[tuple[Path, str, str]] = (),
    ) -> Protection:
        """Everything wassette owns under ``settings``, plus ``credential_files``
        (``(path, what, why)``: e.g. ``serve --auth-token-file``, the registry credentials).
        """
        p = cls.minimal()
        p = p.with_secrets_dir(settings.secrets_dir)
        p = p.plus(
            settings.config_dir / KEY_FILE_NAME,
            "the encryption key file",
            "holds the key that encrypts the secrets at rest",
        )
        p = p.plus(
            settings.config_dir,
            "the config directory",
            f"holds the encryption key ({KEY_FILE_NAME}) and the configuration",
        )
        p = p.with_component_dir(settings.plugin_dir)
        p = p.plus(settings.state_dir, "the state directory", "holds the audit log")
        if cache_dir is not None:
            p = p.plus(cache_dir, "the cache directory", "holds wassette's cache")
        if settings.config_file is not None:
            p = p.plus(
                settings.config_file,
                "the config file",
                "holds the configuration, operator-provided environment values included",
            )
        vault = settings.raw.get("vault")
        if isinstance(vault, dict):
            for key, why in (
                ("token_file", "holds the server's Vault/OpenBao token"),
                ("secret_id_file", "holds the server's AppRole secret id"),
            ):
                value = vault.get(key)
                if isinstance(value, str) and value:
                    p = p.plus(Path(value).expanduser(), f"the [vault] {key}", why)
        for path, what, why in credential_files:
            p = p.plus(path, what, why)
        return p

    # --- storage ---------------------------------------------------------------------------

    def collision(self, path: str) -> Collision | None:
        """How ``path`` (absolute) meets a protected path, or None if it is allowed.

        Both the path as written and its real path are checked (symlinks are resolved now,
        so a link swapped after a grant is caught by the next check).
        """
        return self._resolve(path)[1]

    def _resolve(self, path: str) -> tuple[str, Collision | None]:
        lexical = os.path.normpath(path)
        real = os.path.realpath(lexical)
        for candidate in (real,) if real == lexical else (real, lexical):
            for protected in self.paths:
                relation = _relation(candidate, protected)
                if relation is not None:
                    return real, Collision(lexical, candidate, protected, relation)
        return real, None

    def check_grant(self, path: str, *, to: str) -> None:
        """Raise :class:`PolicyError` if granting directory ``path`` would reach a protected
        path (grant time: nothing is written). ``to`` names the grantee in the message
        ("component 'x'")."""
        hit = self.collision(path)
        if hit is None:
            return
        raise PolicyError(
            f"refusing to grant storage fs://{hit.requested} to {to}",
            why=hit.describe() + "; a component granted it could read or change them",
            fix=_FIX_GENERAL,
        )

    def check_entry(self, component_id: str | None, index: int, path: str) -> str:
        """The real path of storage entry ``index`` (call time), or :class:`PolicyError`
        naming the entry and the command that removes it."""
        real, hit = self._resolve(path)
        if hit is None:
            return real
        uri = f"fs://{hit.requested}"
        cid = component_id or "<id>"
        raise PolicyError(
            f"storage entry permissions.storage.allow[{index}] ({uri}) "
            + (f"of component '{component_id}' " if component_id else "")
            + "names a protected path",
            why=hit.describe() + "; the call was refused before the component ran",
            fix=f"remove the entry: wassette permission revoke storage {cid} {uri} "
            "(no flag overrides this)",
        )

    # --- credentials -----------------------------------------------------------------------

    def _named(self) -> dict[str, str]:
        # Built once per instance (frozen dataclass: cached outside the fields).
        cached: dict[str, str] | None = self.__dict__.get("_named_cache")
        if cached is None:
            cached = dict(self.credential_names)
            object.__setattr__(self, "_named_cache", cached)
        return cached

    def credential_reason(self, key: str) -> str | None:
        """Why the inherited environment may not supply ``key``, or None if it may."""
        upper = key.upper()
        named = self._named()
        if key in named:
            return (
                f"{key} is {named[key]}: a server credential is never taken from the "
                "server's environment"
            )
        for prefix in CREDENTIAL_PREFIXES:
            if upper.startswith(prefix):
                return (
                    f"{key} starts with {prefix}: variables of wassette, Vault and OpenBao "
                    "belong to the server and are never taken from its environment"
                )
        return None


CREDENTIAL_FIX = (
    "supply it explicitly: `wassette secret set <id> {key}=...` or `wassette serve --env {key}=...`"
)
