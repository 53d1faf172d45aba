"""One authenticated conversation with Vault: login, bounded retries, Vault errors made ours.

:class:`VaultClient` is the only place that turns ``hvac``/``requests`` exceptions into the
WassetteError tree: transport failures become :class:`VaultUnreachableError` (after at most
``retries`` retries), HTTP 403 is told apart into a bad token (:class:`VaultAuthError`, with
one re-login for refreshable credentials) or a missing policy (:class:`VaultPermissionError`
naming the missing capability), and a lost check-and-set race becomes :class:`CasMismatch`
for the writer to retry. No message ever contains a secret value or a credential.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests
import requests.exceptions

from wassette.errors import (
    VaultAuthError,
    VaultBackendError,
    VaultPermissionError,
    VaultUnreachableError,
)
from wassette.secretstore.backends.vault.auth import VaultAuth

_T = TypeVar("_T")

_CAS_MISMATCH = "check-and-set parameter did not match"


class CasMismatch(Exception):
    """Vault refused a write because the version moved on (the writer re-reads and retries)."""


class VaultClient:
    """An ``hvac`` client that logs in lazily and speaks our errors."""

    def __init__(
        self,
        address: str,
        auth: VaultAuth,
        *,
        mount: str,
        namespace: str | None,
        ca_cert: str | None,
        timeout: float,
        retries: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Nothing is sent to Vault until the first :meth:`call`."""
        self.address = address
        self.auth = auth
        self.mount = mount  # for messages about the secrets engine
        self.timeout = timeout
        self.retries = retries
        self._sleep = sleep
        session = requests.Session()
        # Library code does not consult the environment: no *_PROXY, no .netrc, no
        # REQUESTS_CA_BUNDLE. TLS trust comes from `ca_cert` (or the system store).
        session.trust_env = False
        session.verify = ca_cert if ca_cert else True
        # token="" (not None): hvac would otherwise read VAULT_TOKEN and ~/.vault-token itself.
        self._client = hvac.Client(
            url=address,
            token="",
            verify=session.verify,
            timeout=timeout,
            session=session,
            namespace=namespace,
        )
        self._token_ready = False
        self._auth_lock = threading.Lock()

    @property
    def adapter(self) -> Any:
        """The raw HTTP adapter, for the operations passed to :meth:`call`."""
        return self._client.adapter

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.adapter.close()

    def _ensure_token(self) -> None:
        if self._token_ready:
            return
        self._login()

    def _login(self) -> None:
        with self._auth_lock:
            token = self._with_retries(lambda: self.auth.login(self._client))
            self._client.token = token
            self._token_ready = True

    def _with_retries(self, op: Callable[[], _T]) -> _T:
        """Run ``op``; retry transport failures at most ``retries`` times, with backoff."""
        attempt = 0
        while True:
            try:
                return op()
            except requests.exceptions.SSLError as exc:
                raise self.unreachable_error(
                    "the TLS handshake failed",
                    detail=type(exc).__name__,
                    fix="set [vault] ca_cert to the CA bundle that signed Vault's certificate",
                ) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                hvac.exceptions.VaultDown,
                hvac.exceptions.BadGateway,
                hvac.exceptions.RateLimitExceeded,
            ) as exc:
                attempt += 1
                if attempt > self.retries:
                    raise self.unreachable_error(describe_transport(exc, self.timeout)) from None
                self._sleep(min(0.1 * 2 ** (attempt - 1), 1.0))
            except requests.exceptions.RequestException as exc:
                raise self.unreachable_error(type(exc).__name__) from None

    def call(self, op: Callable[[], _T], *, api_path: str, needs: tuple[str, ...]) -> _T:
        """One authenticated request with bounded retries, Vault errors made ours.

        ``hvac.exceptions.InvalidPath`` (404) is passed through for the caller to interpret,
        except for "no handler for route" (the mount does not exist).
        """
        self._ensure_token()
        reauthenticated = False
        while True:
            try:
                return self._with_retries(op)
            except hvac.exceptions.Forbidden:
                if self._token_is_valid():
                    raise self._permission_error(api_path, needs) from None
                if self.auth.refreshable and not reauthenticated:
                    # An expired AppRole token or a rotated token file: log in once more.
                    reauthenticated = True
                    self._token_ready = False
                    self._login()
                    continue
                raise VaultAuthError(
                    f"Vault at {self.address} rejected the token from {self.auth.describe()}",
                    why="it is invalid, expired or revoked",
                    fix=self.auth.fix_hint(),
                ) from None
            except hvac.exceptions.Unauthorized:
                raise VaultAuthError(
                    f"Vault at {self.address} requires authentication for {api_path}",
                    fix=self.auth.fix_hint(),
                ) from None
            except hvac.exceptions.InvalidPath as exc:
                if any("no handler for route" in str(e) for e in exc.errors or []):
                    raise VaultBackendError(
                        f"no secrets engine is mounted at {self.mount}/ on {self.address}",
                        fix=f"enable KV v2 there (`bao secrets enable -path={self.mount} kv-v2`) "
                        "or set [vault] mount",
                    ) from None
                raise
            except hvac.exceptions.InvalidRequest as exc:
                errors = [str(e) for e in exc.errors or []]
                if any(_CAS_MISMATCH in e for e in errors):
                    raise CasMismatch from None
                raise VaultBackendError(
                    f"Vault at {self.address} refused the request on {api_path}",
                    why=", ".join(errors) or "HTTP 400",
                    fix=f"check that {self.mount}/ is a KV version 2 mount",
                ) from None
            except hvac.exceptions.VaultError as exc:
                raise VaultBackendError(
                    f"Vault at {self.address} failed on {api_path}",
                    why=", ".join(str(e) for e in exc.errors or []) or type(exc).__name__,
                    fix="check the Vault server's log",
                ) from None

    def _token_is_valid(self) -> bool:
        """Tell a bad token from a missing policy: both are HTTP 403 in Vault."""
        try:
            self._with_retries(lambda: self._client.adapter.get("/v1/auth/token/lookup-self"))
        except hvac.exceptions.Forbidden:
            return False
        except (hvac.exceptions.VaultError, VaultBackendError):
            return True  # cannot tell; report the permission problem we saw
        return True

    def _permission_error(self, api_path: str, needs: tuple[str, ...]) -> VaultPermissionError:
        granted: list[str] | None = None
        try:
            resp = self._with_retries(
                lambda: self._client.adapter.post(
                    "/v1/sys/capabilities-self", json={"paths": [api_path]}
                )
            )
            caps = as_dict(resp).get(api_path, as_dict(resp).get("capabilities"))
            if isinstance(caps, list):
                granted = [str(c) for c in caps]
        except (hvac.exceptions.VaultError, VaultBackendError):
            granted = None  # the token may not even be allowed to ask; say what we know
        missing = [c for c in needs if granted is None or c not in granted]
        has = "unknown" if granted is None else (", ".join(granted) or "none")
        quoted = ", ".join(f'"{c}"' for c in sorted(set(needs) | set(granted or []) - {"deny"}))
        return VaultPermissionError(
            f"Vault denied access to {api_path} on {self.address}",
            why=f"missing capability {' and '.join(missing or list(needs))} "
            f"(the token from {self.auth.describe()} has: {has})",
            fix=f'grant it in a policy of that token: path "{api_path}" '
            f"{{ capabilities = [{quoted}] }}",
        )

    def unreachable_error(
        self, reason: str, *, detail: str | None = None, fix: str | None = None
    ) -> VaultUnreachableError:
        why = reason if detail is None else f"{reason} ({detail})"
        return VaultUnreachableError(
            f"Vault at {self.address} is unreachable",
            why=why,
            fix=fix
            or f"check that the server is up and unsealed (`bao status -address={self.address}`)"
            " and that [vault] address in config.toml is right",
        )


# --------------------------------------------------------------------------- helpers


def as_dict(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``{}`` (Vault bodies are read defensively)."""
    return value if isinstance(value, dict) else {}


def string_fields(data: dict[str, Any], api_path: str) -> dict[str, str]:
    """The fields of a KV secret, all of which must be strings."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            # Name the key and the type; never the value.
            raise VaultBackendError(
                f"secret {key} at {api_path} is not a string",
                why=f"it is a JSON {type(value).__name__}",
                fix=f"rewrite it as a string (`bao kv patch -mount=... {key}=...`)",
            )
        out[str(key)] = value
    return out


def describe_transport(exc: BaseException, timeout: float) -> str:
    """Why a request got no usable answer, in words."""
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection refused or host unreachable"
    if isinstance(exc, hvac.exceptions.VaultDown):
        return "it is sealed, in maintenance, or has no active leader (HTTP 503)"
    if isinstance(exc, hvac.exceptions.BadGateway):
        return "a proxy in front of it answered 502 Bad Gateway"
    if isinstance(exc, hvac.exceptions.RateLimitExceeded):
        return "it is rate-limiting this client (HTTP 429)"
    return type(exc).__name__
