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
    │   ├── InvalidSecretKeyError               key not a valid environment variable name
    │   └── InvalidArgumentsError               tool arguments not matching the WIT signature
    ├── NotFoundError                  exit 3
    │   ├── ComponentNotFoundError              no <id>.wasm in the component dir
    │   ├── SecretReferenceError                a vault:/env: reference is dangling or malformed
    │   └── SourceNotFoundError                 a component URI names nothing (file, 404, tag)
    ├── AbortedError                   exit 1   the user declined a confirmation
    ├── ApprovalRefusedError           exit 8   a change asked for by an untrusted party (the
    │                                           MCP client, a shipped policy, a replacement
    │                                           binary) was not approved: nothing changed
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
    ├── ChangedButNotAuditedError      exit 9   a change WAS made, its audit record was not
    └── ComponentError                 exit 7   a component cannot be compiled, loaded or run
        ├── UnsupportedValueError               a value wasmtime-py cannot pass faithfully
        ├── ComponentSourceError                a component cannot be fetched (file/https/oci)
        │   ├── SourceUnreachableError          no answer: refused, DNS, TLS, timeout
        │   ├── SourceAuthError                 the registry refused our credentials
        │   └── SourceIntegrityError            a digest or size does not match (tampering)
        └── ComponentRunError                   a call failed while running (carries the
            │                                   guest's redacted stderr tail)
            ├── ComponentTimeoutError           the call ran past its time limit
            ├── ComponentTrapError              the guest crashed (trapped)
            │   └── ComponentMemoryError        ... because it ran out of memory
            └── ComponentArgumentError          the arguments do not fit the export's types
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


class InvalidArgumentsError(UsageError):
    """Tool arguments do not match the function's WIT signature.

    ``path`` names the offending spot, e.g. ``args.config.retries``; the message starts with it.
    """

    def __init__(
        self, path: str, problem: str, *, why: str | None = None, fix: str | None = None
    ) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}", why=why, fix=fix)


class NotFoundError(WassetteError):
    """Something named by the caller does not exist."""

    exit_code = 3


class ComponentNotFoundError(NotFoundError):
    """No component with this id is loaded."""


class AbortedError(WassetteError):
    """The user declined a confirmation, or none could be asked for."""

    exit_code = 1


class ApprovalRefusedError(WassetteError):
    """A change an untrusted party asked for (the MCP client, a shipped policy, a replacement
    binary from another source) was not approved: declined by the person, refused by the
    ``mcp_grants`` setting, or nobody could be asked. Nothing was changed."""

    exit_code = 8


#: The name the component loader uses for the same refusal.
NotApprovedError = ApprovalRefusedError


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


class ChangedButNotAuditedError(WassetteError):
    """A secret change was made (it stands), but its audit record could not be written.

    Its own exit code, so a script can tell "nothing happened" (5) from "it happened, but the
    log does not say so" (9). ``cause`` is the audit log error.
    """

    exit_code = 9

    def __init__(self, what: str, cause: WassetteError) -> None:
        self.cause = cause
        super().__init__(
            f"{what}: {cause.message}",
            fix=f"{cause.fix}; then note the change by hand if your records need it"
            if cause.fix
            else "note the change by hand if your records need it",
        )


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


class UnsupportedValueError(ComponentError):
    """A well-formed value that the wasmtime-py value mapping cannot pass without changing it.

    wasmtime-py picks a variant case from the Python class of a bare payload; for some types
    (an integer case before a bool case, a case whose payload may be ``None``) that choice is
    wrong. ``runtime/values.py`` normally passes such values by case name; if its hook on
    wasmtime-py cannot be installed, we refuse rather than call with a different value.
    """


class SourceNotFoundError(NotFoundError):
    """A component URI names nothing: a missing file, an HTTP 404, an unknown tag or digest."""


class ComponentSourceError(ComponentError):
    """A component cannot be fetched from its source (file, https or OCI registry)."""


class SourceUnreachableError(ComponentSourceError):
    """The server did not answer: connection refused, DNS failure, TLS failure or timeout."""


class SourceAuthError(ComponentSourceError):
    """The registry or server refused the request for want of (valid) credentials."""


class SourceIntegrityError(ComponentSourceError):
    """Fetched content does not match its digest or declared size: never install it."""


class ComponentRunError(ComponentError):
    """A call into a component failed while it was being instantiated or run.

    ``stderr_tail`` is the end of what the guest wrote to stderr (secret values redacted);
    ``denied_destinations`` lists outgoing HTTP destinations the policy refused during the call.
    """

    def __init__(
        self,
        what: str,
        *,
        why: str | None = None,
        fix: str | None = None,
        stderr_tail: str = "",
        denied_destinations: tuple[str, ...] = (),
    ) -> None:
        self.stderr_tail = stderr_tail
        self.denied_destinations = denied_destinations
        super().__init__(what, why=why, fix=fix)


class ComponentTimeoutError(ComponentRunError):
    """The call ran past its time limit and was stopped (or abandoned, if blocked in the host)."""


class ComponentTrapError(ComponentRunError):
    """The guest trapped: an uncaught exception, a panic, ``unreachable``, a bad memory access."""


class ComponentMemoryError(ComponentTrapError):
    """The guest ran out of linear memory (usually: it hit the policy's memory limit)."""


class ComponentArgumentError(ComponentRunError):
    """The arguments could not be passed to the export: they do not match its WIT types."""
