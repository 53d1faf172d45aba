"""THE composition root: Settings -> the live system.

Every CLI command, ``serve``/``run`` and manifest provisioning build what they need here and
nowhere else, so the CLI and the server can never wire the system differently again (the
server once ran without the injection audit because it built its own manager).

Everything is built lazily and at most once per :class:`System`: a ``secret list`` opens the
secrets backend and nothing else (no wasmtime, no policy parser, no MCP SDK), a tool call
builds the component manager on top of the same backend and key custody.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from wassette.config import Settings, load_settings

if TYPE_CHECKING:
    from wassette.manager import ComponentManager
    from wassette.policy.protection import Protection
    from wassette.policy.store import PolicyStore
    from wassette.secretstore.audit import AuditLog
    from wassette.secretstore.backend import SecretBackend
    from wassette.secretstore.keys import KeyCustody
    from wassette.secretstore.operations import SecretOperations

AUDIT_LOG_NAME = "audit.log"


def audit_log_path(settings: Settings) -> Path:
    """Where the audit log lives: ``<state dir>/audit.log``."""
    return settings.state_dir / AUDIT_LOG_NAME


class System:
    """The live system for one process, built from :class:`Settings` on first use.

    ``environ`` is the server's (or CLI's) process environment: the inherited tier and the
    source of credentials (``VAULT_TOKEN``, ``WASSETTE_SECRETS_KEY``, ...); None: a copy of
    ``os.environ``. ``explicit_env`` holds the operator's values (config
    ``[environment_vars]``, plus ``serve --env`` and ``--env-file`` when serving).
    ``credential_files`` are more files no component may be granted, as ``(path, what,
    why)``: ``serve --auth-token-file`` and ``--env-file``.

    A plain class, not a dataclass: importing :mod:`dataclasses` costs a short command such as
    ``secret list`` more than its own work.
    """

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str] | None = None,
        explicit_env: Mapping[str, str] | None = None,
        credential_files: tuple[tuple[Path, str, str], ...] = (),
    ) -> None:
        self.settings = settings
        self.environ: Mapping[str, str] = dict(os.environ) if environ is None else environ
        self.explicit_env = explicit_env
        self.credential_files = credential_files

    def __repr__(self) -> str:
        # The environment holds credentials: never printed.
        return f"System(settings={self.settings!r})"

    @cached_property
    def protection(self) -> Protection:
        """Protected paths (wassette's own files, credential files, /, /proc, /sys, /dev) and
        server credential names: consulted by every grant and every call."""
        from wassette import paths
        from wassette.policy.protection import Protection

        docker = self.environ.get("DOCKER_CONFIG") or str(
            Path(self.environ.get("HOME") or Path.home()) / ".docker"
        )
        files = (
            *self.credential_files,
            (
                Path(docker) / "config.json",
                "the registry credentials file",
                "holds the container-registry credentials the server uses",
            ),
        )
        return Protection.for_settings(
            self.settings, cache_dir=paths.cache_dir(), credential_files=files
        )

    @cached_property
    def custody(self) -> KeyCustody:
        """Key custody (env key / passphrase / keyring / key file), built once."""
        from wassette.secretstore.keys import KeyCustody

        return KeyCustody(
            environ=self.environ,
            config_dir=self.settings.config_dir,
            secrets_dir=self.settings.secrets_dir,
        )

    @cached_property
    def backend(self) -> SecretBackend:
        """The secrets backend the settings select (file store or Vault/OpenBao)."""
        from wassette.secretstore.factory import open_backend

        return open_backend(self.settings, self.environ, custody=lambda: self.custody)

    @cached_property
    def audit(self) -> AuditLog:
        """The hash-chained audit log of secret changes, reveals and injections."""
        from wassette.secretstore.audit import AuditLog

        return AuditLog(audit_log_path(self.settings))

    @cached_property
    def secrets(self) -> SecretOperations:
        """Secret operations (set, delete, history, rotation, ...) with history and audit."""
        from wassette.secretstore.operations import SecretOperations

        return SecretOperations(self.backend, self.audit, lambda: self.custody)

    @cached_property
    def policies(self) -> PolicyStore:
        """The one writer of ``<id>.policy.yaml`` files."""
        from wassette.policy.store import PolicyStore

        return PolicyStore(self.settings.plugin_dir, self.protection)

    @cached_property
    def manager(self) -> ComponentManager:
        """The component manager: tools, policies, secrets and the runtime, with the audit."""
        from wassette.manager import ComponentManager

        explicit = (
            dict(self.settings.environment_vars)
            if self.explicit_env is None
            else dict(self.explicit_env)
        )
        return ComponentManager(
            self.settings.plugin_dir,
            self.backend,
            explicit_env=explicit,
            inherited_env=dict(self.environ),
            policies=self.policies,
            audit=self.audit,
            protection=self.protection,
            reference_scopes=self.settings.references,
            instance_pool_size=self.settings.instance_pool_size,
        )


def build_system(
    *,
    plugin_dir: Path | None = None,
    bind_address: str | None = None,
    environ: Mapping[str, str] | None = None,
    explicit_env: Mapping[str, str] | None = None,
    mcp_grants: str | None = None,
) -> System:
    """Settings from flags > ``WASSETTE_*`` > config file > defaults, then the system on them."""
    env = dict(os.environ) if environ is None else dict(environ)
    settings = load_settings(
        plugin_dir=plugin_dir, bind_address=bind_address, environ=env, mcp_grants=mcp_grants
    )
    return System(settings, env, explicit_env)
