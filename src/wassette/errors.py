"""The whole exception tree of wassette, in one place.

Every error we raise on purpose is a :class:`WassetteError`. The CLI turns it into a one-line
message and an exit code (``cli/__init__.py``); the MCP server turns it into an ``isError``
tool result. Nothing else catches broad exceptions.

Messages come in three parts, after pip and click: *what* happened, *why*, and *how to fix it*.
A message must never contain a secret value: build them from ids, key names, paths and
positions only.

::

    WassetteError                      exit 1
    ├── UsageError                     exit 2   bad input on the command line or in a call
    │   ├── InvalidComponentIdError             id not matching the allowed pattern
    │   └── InvalidSecretKeyError               key not a valid environment variable name
    ├── NotFoundError                  exit 3
    │   ├── ComponentNotFoundError              no <id>.wasm in the component dir
    │   └── SecretReferenceError                a vault:/env: reference is dangling or malformed
    ├── AbortedError                   exit 1   the user declined a confirmation
    ├── ConfigError                    exit 4   config.toml or WASSETTE_* unusable
    │   └── SecretsKeyError                     no usable encryption key (custody)
    ├── StorageError                   exit 5   a file we own cannot be read or written
    │   ├── SecretsFileError                    a secrets file is corrupt or malformed
    │   ├── SecretsDecryptError                 an encrypted value fails to decrypt
    │   ├── AuditLogError                       the audit log cannot be written or verified
    │   └── VaultBackendError                   the Vault/OpenBao backend failed
    │       ├── VaultUnreachableError           no answer (down, sealed, TLS, timeout)
    │       ├── VaultAuthError                  token invalid/expired, AppRole login refused
    │       ├── VaultPermissionError            token lacks a capability on a path
    │       └── VaultConflictError              check-and-set kept losing to other writers
    ├── PolicyError                    exit 6   a policy file or a grant is invalid
    └── ComponentError                 exit 7   a component cannot be compiled, loaded or run
"""

from __future__ import annotations


class WassetteError(Exception):
    """Base of every error wassette raises on purpose.

    ``what`` says what happened, ``why`` the cause, ``fix`` how to get past it.
    """

    exit_code: int = 1

    def __init__(self, what: str, *, why: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.why = why
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The one-line message: what, then why (without the fix)."""
        return f"{self.what}: {self.why}" if self.why else self.what

    def __str__(self) -> str:
        text = self.message
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class UsageError(WassetteError):
    """The caller passed something we cannot accept."""

    exit_code = 2


class InvalidComponentIdError(UsageError):
    """A component id does not match ``^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$``."""


class InvalidSecretKeyError(UsageError):
    """A secret key is not a valid environment variable name."""


class NotFoundError(WassetteError):
    """Something named by the caller does not exist."""

    exit_code = 3


class ComponentNotFoundError(NotFoundError):
    """No component with this id is loaded."""


class AbortedError(WassetteError):
    """The user declined a confirmation, or none could be asked for."""

    exit_code = 1


class ConfigError(WassetteError):
    """The configuration (file or environment) cannot be used."""

    exit_code = 4


class StorageError(WassetteError):
    """A file that wassette owns cannot be read or written."""

    exit_code = 5


class SecretsFileError(StorageError):
    """A secrets file exists but is not a flat mapping of strings to strings."""


class SecretsDecryptError(StorageError):
    """An ``ENC[...]`` value does not decrypt: wrong key, tampered, or copied elsewhere.

    Fails closed: the whole read fails. The message names keys and the file, never a value.
    """


class AuditLogError(StorageError):
    """The audit log cannot be appended to, or its hash chain does not verify."""


class SecretsKeyError(ConfigError):
    """The secrets encryption key cannot be obtained (bad WASSETTE_SECRETS_KEY, no custody...)."""


class PolicyError(WassetteError):
    """A policy file, or a change to one, is invalid."""

    exit_code = 6


class ComponentError(WassetteError):
    """A component cannot be compiled, loaded, instantiated or called."""

    exit_code = 7


class SecretReferenceError(NotFoundError):
    """A secret value of the form ``vault:<path>#<key>`` or ``env:<NAME>`` cannot be resolved.

    The message names the reference and the secret key holding it, never a resolved value.
    """


class VaultBackendError(StorageError):
    """The Vault/OpenBao secrets backend failed (base of the specific cases below)."""


class VaultUnreachableError(VaultBackendError):
    """Vault did not answer: connection refused, timeout, TLS failure, sealed or no leader."""


class VaultAuthError(VaultBackendError):
    """Vault rejected the credentials themselves (bad, expired or revoked token; AppRole login)."""


class VaultPermissionError(VaultBackendError):
    """The token is valid but its policies lack a capability on the path in question."""


class VaultConflictError(VaultBackendError):
    """A check-and-set write kept losing to concurrent writers and gave up (bounded retries)."""
