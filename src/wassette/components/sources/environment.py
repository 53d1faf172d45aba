"""Build :class:`FetchOptions` from an environment mapping, for the CLI and server start-up.

Library code never reads ``os.environ``; the caller passes it here explicitly. Read:
``SSL_CERT_FILE`` (CA bundle for https and registries), ``WASSETTE_OCI_USERNAME`` /
``WASSETTE_OCI_PASSWORD`` (registry credentials, both or neither) with ``WASSETTE_OCI_REGISTRY``
(the one registry host[:port] they belong to: without it they are ignored, with a warning, so
that no registry a client or publisher names can collect them), ``DOCKER_CONFIG`` (else
``~/.docker/config.json``). Proxy variables are deliberately not read: an httpx proxy applies
to every host, loopback registries included; pass ``proxy=`` explicitly to use one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from wassette.components.sources.base import (
    DEFAULT_FETCH_TIMEOUT,
    DEFAULT_MAX_SIZE,
    Credentials,
    FetchOptions,
    ProgressCallback,
)
from wassette.components.sources.oci_auth import docker_config_path
from wassette.errors import ConfigError

USERNAME_ENV = "WASSETTE_OCI_USERNAME"
PASSWORD_ENV = "WASSETTE_OCI_PASSWORD"  # noqa: S105 (a variable name, not a password)
REGISTRY_ENV = "WASSETTE_OCI_REGISTRY"

log = logging.getLogger(__name__)


def options_from_environment(
    environ: Mapping[str, str],
    home: Path,
    *,
    digest: str | None = None,
    insecure: bool = False,
    progress: ProgressCallback | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
    proxy: str | None = None,
    total_timeout: float = DEFAULT_FETCH_TIMEOUT,
    warn: Callable[[str], None] | None = None,
) -> FetchOptions:
    """FetchOptions for a ``component load``: flags as arguments, the rest from ``environ``."""
    user = environ.get(USERNAME_ENV) or None
    password = environ.get(PASSWORD_ENV) or None
    if (user is None) != (password is None):
        missing = PASSWORD_ENV if password is None else USERNAME_ENV
        raise ConfigError(
            f"{missing} is not set",
            why=f"registry credentials need both {USERNAME_ENV} and {PASSWORD_ENV}",
            fix=f"set {missing} too, or unset the other",
        )
    registry = (environ.get(REGISTRY_ENV) or "").strip() or None
    credentials = None
    if user and password:
        if registry is None:
            (warn or log.warning)(
                f"{USERNAME_ENV}/{PASSWORD_ENV} are ignored: {REGISTRY_ENV} is not set, and "
                "credentials not bound to one registry would go to any registry that asks; "
                f"set {REGISTRY_ENV} to the registry host[:port] they are for "
                "(e.g. ghcr.io)"
            )
        else:
            credentials = Credentials(user, password, registry=registry)
    ca = environ.get("SSL_CERT_FILE") or None
    return FetchOptions(
        max_size=max_size,
        digest=digest,
        ca_file=Path(ca) if ca else None,
        insecure=insecure,
        credentials=credentials,
        docker_config=docker_config_path(environ, home),
        proxy=proxy,
        progress=progress,
        total_timeout=total_timeout,
    )
