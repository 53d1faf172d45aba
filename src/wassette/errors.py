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
    │   └── ComponentNotFoundError              no <id>.wasm in the component dir
    ├── AbortedError                   exit 1   the user declined a confirmation
    ├── ConfigError                    exit 4   config.toml or WASSETTE_* unusable
    ├── StorageError                   exit 5   a file we own cannot be read or written
    │   └── SecretsFileError                    a secrets file is corrupt or malformed
    ├── PolicyError                    exit 6   a policy file or a grant is invalid
    └── ComponentError                 exit 7   a component cannot be compiled, loaded or run
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


class PolicyError(WassetteError):
    """A policy file, or a change to one, is invalid."""

    exit_code = 6


class ComponentError(WassetteError):
    """A component cannot be compiled, loaded, instantiated or called."""

    exit_code = 7


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
