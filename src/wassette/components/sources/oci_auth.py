"""Registry authentication for ``oci://`` sources: credentials and the 401 challenge.

Anonymous first; on a 401 the ``WWW-Authenticate`` challenge is answered once, either with the
Bearer token flow (``realm``/``service``/``scope``, credentials sent to the realm with Basic
auth) or with plain Basic auth. Credentials come from ``FetchOptions.credentials`` (bound to
the registry the operator named them for) or else the ``auths`` entry of the Docker config for
that registry. A password never appears in a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from wassette.components.sources._http import HttpSession
from wassette.components.sources.base import Credentials, FetchOptions, registry_key
from wassette.errors import ComponentSourceError, SourceAuthError

if TYPE_CHECKING:
    from wassette.components.sources.oci import OciReference

MAX_TOKEN_RESPONSE = 1024 * 1024
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"

_CHALLENGE_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def docker_config_path(environ: Mapping[str, str], home: Path) -> Path:
    """Where Docker keeps credentials: ``$DOCKER_CONFIG/config.json`` or ``~/.docker/...``.

    Takes the environment explicitly (for the CLI to pass ``os.environ``).
    """
    base = environ.get("DOCKER_CONFIG")
    return (Path(base) if base else home / ".docker") / "config.json"


def credentials_from_docker_config(path: Path, registry: str) -> Credentials | None:
    """The ``auths`` credentials for ``registry`` in a Docker config file, if any.

    Reads ``auth`` (base64 ``user:password``) or ``username``/``password``. Credential helpers
    (``credsStore``/``credHelpers``) are not run: put the credentials in the environment then.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ComponentSourceError(
            f"cannot read Docker config {path}",
            why=type(exc).__name__,
            fix="fix or remove the file, or set WASSETTE_OCI_USERNAME/WASSETTE_OCI_PASSWORD",
        ) from None
    auths = data.get("auths") if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        return None
    wanted = registry_key(registry)
    for key, entry in auths.items():
        if not isinstance(key, str) or registry_key(key) != wanted:
            continue
        if not isinstance(entry, dict):
            continue
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            try:
                decoded = base64.b64decode(auth, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            user, sep, password = decoded.partition(":")
            if not sep or not user:
                raise ComponentSourceError(
                    f"the Docker config entry for {registry} is malformed",
                    why="its 'auth' is not base64 of 'user:password'",
                    fix=f"run `docker login {registry}` again, or set WASSETTE_OCI_USERNAME/"
                    "WASSETTE_OCI_PASSWORD",
                )
            return Credentials(user, password, registry=wanted)
        plain_user, plain_password = entry.get("username"), entry.get("password")
        if isinstance(plain_user, str) and isinstance(plain_password, str) and plain_user:
            return Credentials(plain_user, plain_password, registry=wanted)
    return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split ``Bearer realm="...",service="..."`` into ("bearer", {params})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for m in _CHALLENGE_PARAM.finditer(rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params


class RegistryAuth:
    """The auth state of one pull: credentials (read once) and the Authorization header."""

    def __init__(
        self, ref: OciReference, options: FetchOptions, session: HttpSession, what: str
    ) -> None:
        self.ref = ref
        self.options = options
        self.session = session
        self.what = what
        self.header: str | None = None
        self._credentials: Credentials | None = None
        self._credentials_loaded = False

    def credentials(self) -> Credentials | None:
        """The credentials for this registry (explicit, else Docker config), read once."""
        if not self._credentials_loaded:
            self._credentials_loaded = True
            explicit = self.options.credentials
            # Bound to their registry: a registry the operator did not name them for never
            # sees them, whatever it answers (a 401 with a Basic challenge is all it takes).
            self._credentials = (
                explicit
                if explicit is not None and explicit.applies_to(self.ref.registry)
                else None
            )
            if self._credentials is None and self.options.docker_config is not None:
                self._credentials = credentials_from_docker_config(
                    self.options.docker_config, self.ref.registry
                )
        return self._credentials

    def _basic(self, creds: Credentials) -> str:
        token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        return f"Basic {token}"

    def failed(self, status: int, *, had_credentials: bool) -> SourceAuthError:
        """The error for a refused request: no credentials, wrong ones, or no permission."""
        repo = f"{self.ref.registry}/{self.ref.repository}"
        if status == 403:
            return SourceAuthError(
                f"{self.what} denied access to {repo}",
                why="HTTP 403: the credentials are valid but lack pull permission",
                fix="ask for pull access to the repository, or use other credentials",
            )
        if had_credentials:
            return SourceAuthError(
                f"{self.what} rejected the credentials for {repo}",
                why=f"HTTP {status}: wrong user name or password (or an expired token)",
                fix="check WASSETTE_OCI_USERNAME/WASSETTE_OCI_PASSWORD (for the registry in "
                "WASSETTE_OCI_REGISTRY) or the auths entry in ~/.docker/config.json",
            )
        return SourceAuthError(
            f"{self.what} requires credentials for {repo}",
            why=f"HTTP {status} and no credentials were found for {self.ref.registry}",
            fix="set WASSETTE_OCI_USERNAME and WASSETTE_OCI_PASSWORD with "
            f"WASSETTE_OCI_REGISTRY={self.ref.registry}, or `docker login {self.ref.registry}`",
        )

    def answer(self, challenge: str) -> None:
        """Answer a 401 challenge by setting the Authorization header for the retry."""
        scheme, params = parse_challenge(challenge)
        creds = self.credentials()
        if scheme == "basic":
            if creds is None:
                raise self.failed(401, had_credentials=False)
            self.header = self._basic(creds)
            return
        if scheme == "bearer" and params.get("realm"):
            self.header = f"Bearer {self._token(params, creds)}"
            return
        raise ComponentSourceError(
            f"{self.what} asks for an authentication scheme we do not speak",
            why=f"WWW-Authenticate: {scheme or '(empty)'}",
            fix="use a registry that supports Bearer tokens or Basic auth",
        )

    def _token(self, params: dict[str, str], creds: Credentials | None) -> str:
        realm = httpx.URL(params["realm"])
        query: dict[str, str] = {}
        if params.get("service"):
            query["service"] = params["service"]
        query["scope"] = params.get("scope") or f"repository:{self.ref.repository}:pull"
        headers = {"Accept": "application/json"}
        if creds is not None:
            headers["Authorization"] = self._basic(creds)
        url = realm.copy_merge_params(query)
        with self.session.open(url, headers=headers, phase="token") as resp:
            if resp.status_code in (401, 403):
                raise self.failed(resp.status_code, had_credentials=creds is not None)
            if resp.status_code != 200:
                raise ComponentSourceError(
                    f"the token service of {self.what} failed",
                    why=f"HTTP {resp.status_code} from {realm.host}",
                    fix="retry later",
                )
            body = self.session.read_body(resp, MAX_TOKEN_RESPONSE)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        token = None
        if isinstance(data, dict):
            token = data.get("token") or data.get("access_token")
        if not isinstance(token, str) or not token:
            raise ComponentSourceError(
                f"the token service of {self.what} sent no token",
                why="its answer has no 'token' or 'access_token'",
                fix="retry later",
            )
        return token
