"""Choose the secrets backend from the settings: the local YAML store, or Vault/OpenBao.

``secrets_backend`` (config file) or ``WASSETTE_SECRETS_BACKEND`` selects it: ``"file"``
(default, the specification's per-component YAML files) or ``"vault"`` (KV v2, configured by
the ``[vault]`` table). Heavy client libraries are imported only for the backend in use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from wassette.errors import ConfigError
from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.store import SecretStore

if TYPE_CHECKING:
    from wassette.secretstore.keys import KeyCustody

BACKENDS = ("file", "vault")


class BackendSettings(Protocol):
    """The part of :class:`wassette.config.Settings` the factory reads.

    A protocol rather than an import: config.py needs the secret-reference types of this
    package, so importing it back here would make ``config`` and ``secretstore`` a cycle.
    """

    @property
    def secrets_backend(self) -> str: ...
    @property
    def secrets_dir(self) -> Path: ...
    @property
    def encrypt_new(self) -> bool: ...
    @property
    def history_limit(self) -> int: ...
    @property
    def state_dir(self) -> Path: ...
    @property
    def raw(self) -> Mapping[str, Any]: ...


def open_backend(
    settings: BackendSettings,
    environ: Mapping[str, str],
    *,
    custody: Callable[[], KeyCustody] | None = None,
) -> SecretBackend:
    """The backend the settings ask for; ``environ`` supplies credentials such as VAULT_TOKEN.

    ``custody`` returns the process's one key custody, built by the composition root
    (``wiring.System``): nothing here constructs one. Without it the file store opens without
    key custody (plaintext files work; anything that needs a key says so) and Vault keeps its
    outage copy in memory only.
    """

    kind = settings.secrets_backend
    if kind == "file":
        return SecretStore(
            settings.secrets_dir,
            custody=None if custody is None else custody(),
            encrypt_new=settings.encrypt_new,
            history_limit=settings.history_limit,
        )
    if kind == "vault":
        table = settings.raw.get("vault", {})
        if not isinstance(table, Mapping):
            raise ConfigError(
                "config: vault must be a table",
                fix='write it as a [vault] section with address = "..."',
            )
        from wassette.secretstore.backends.vault import VaultBackend

        backend = VaultBackend.from_config(table, environ)
        if settings.encrypt_new and custody is not None:
            # Encryption at rest is on: the outage copy may live on disk, sealed with the
            # same key custody as local secrets, so an outage can span a server restart.
            from wassette.secretstore.backends.outage_cache import OutageDiskCache

            source = custody
            backend.disk_cache = OutageDiskCache(
                settings.state_dir / "vault-cache", lambda: source().keys()
            )
        return backend
    raise ConfigError(
        f"unknown secrets backend {kind!r}",
        fix=f"set secrets_backend to one of: {', '.join(BACKENDS)}",
    )
