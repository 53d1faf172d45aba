"""How the Vault backend obtains a token: a fixed token, a token file, or AppRole.

Credentials are read at login time (files re-read at every login so a Vault Agent sink or a
rotated secret id takes effect), and never appear in ``repr`` or in error text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import hvac
import hvac.exceptions

from wassette.errors import ConfigError, VaultAuthError
from wassette.fsutil import os_errors

DEFAULT_APPROLE_MOUNT = "approle"


def _read_credential_file(path: Path, what: str, setting: str) -> str:
    """The stripped content of a credential file (read at every login, never in messages)."""
    with os_errors(
        ConfigError,
        f"cannot read the {what} {path}",
        fix=f"check [vault] {setting} in config.toml and the file's permissions",
    ):
        return path.read_text(encoding="utf-8").strip()


class VaultAuth:
    """How the backend obtains a Vault token. Subclasses never put secrets in ``repr``."""

    #: may calling :meth:`login` again yield a fresh token (file re-read, AppRole re-login)?
    refreshable: bool = False

    def login(self, client: hvac.Client) -> str:
        """Return a token for ``client`` (may perform an HTTP login)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where the credentials come from, for messages (never the credentials)."""
        raise NotImplementedError

    def fix_hint(self) -> str:
        """How to repair a rejected credential."""
        raise NotImplementedError


@dataclass(frozen=True)
class TokenAuth(VaultAuth):
    """A fixed token, typically from ``VAULT_TOKEN``."""

    token: str = field(repr=False)
    source: str = "the VAULT_TOKEN environment variable"

    def login(self, client: hvac.Client) -> str:
        """Return the fixed token."""
        return self.token

    def describe(self) -> str:
        """Where the token came from."""
        return self.source

    def fix_hint(self) -> str:
        """How to repair a rejected token."""
        return f"put a valid token in {self.source} (check it with `bao token lookup`)"


@dataclass(frozen=True)
class TokenFileAuth(VaultAuth):
    """A token read from a file at every login, so a Vault Agent sink can rotate it."""

    path: Path
    refreshable: bool = True

    def login(self, client: hvac.Client) -> str:
        """Read the token file."""
        token = _read_credential_file(self.path, "Vault token file", "token_file")
        if not token:
            raise ConfigError(
                f"the Vault token file {self.path} is empty",
                fix="write a token into it (e.g. a Vault Agent token sink)",
            )
        return token

    def describe(self) -> str:
        """Where the token came from."""
        return f"the token file {self.path}"

    def fix_hint(self) -> str:
        """How to repair a rejected token."""
        return f"write a valid token to {self.path} (check it with `bao token lookup`)"


@dataclass(frozen=True)
class AppRoleAuth(VaultAuth):
    """AppRole: a role id (not secret) and a secret id read from a file at every login."""

    role_id: str
    secret_id_file: Path
    mount: str = DEFAULT_APPROLE_MOUNT
    refreshable: bool = True

    def login(self, client: hvac.Client) -> str:
        """Log in with AppRole and return the client token."""
        secret_id = _read_credential_file(
            self.secret_id_file, "AppRole secret id file", "secret_id_file"
        )
        try:
            resp = client.auth.approle.login(
                role_id=self.role_id, secret_id=secret_id, use_token=False, mount_point=self.mount
            )
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden) as exc:
            # Vault's own words ("invalid role or secret ID") never contain the secret id.
            raise VaultAuthError(
                f"AppRole login at auth/{self.mount}/login was refused",
                why=", ".join(exc.errors or []) or "invalid role id or secret id",
                fix=self.fix_hint(),
            ) from None
        except hvac.exceptions.InvalidPath:
            raise VaultAuthError(
                f"no AppRole auth method is mounted at auth/{self.mount}",
                fix="enable it (`bao auth enable approle`) or set [vault] approle_mount",
            ) from None
        token = resp.get("auth", {}).get("client_token") if isinstance(resp, dict) else None
        if not isinstance(token, str) or not token:
            raise VaultAuthError(
                f"AppRole login at auth/{self.mount}/login returned no token",
                fix="check the role's token policies and TTLs",
            )
        return token

    def describe(self) -> str:
        """Where the credentials come from."""
        return f"AppRole role_id {self.role_id!r} with the secret id in {self.secret_id_file}"

    def fix_hint(self) -> str:
        """How to repair refused AppRole credentials."""
        return (
            f"check [vault] role_id and the secret id in {self.secret_id_file} "
            "(`bao write -f auth/approle/role/<role>/secret-id` makes a new one)"
        )
