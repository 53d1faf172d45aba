"""Fixtures for component source tests: a real docker-registry (anonymous and htpasswd), the
hello component pushed to it, a Bearer-token front, and an https server with a trustme CA."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.componentbuild import build_component
from tests.components.ocipush import (
    PLAIN_WASM_LAYER,
    POLICY_LAYER,
    WASM_LAYER,
    Pushed,
    Pusher,
)
from tests.components.registry_server import INSTALL_HINT, RegistryServer, registry_binary
from tests.components.servers import TlsFileServer, TokenFront

OCI_USER = "alice"
OCI_PASSWORD = "CANARY-oci-pass-7731"  # noqa: S105 (a test canary, asserted absent from errors)
POLICY = b'version: "1.0"\npermissions:\n  environment:\n    allow:\n      - key: API_KEY\n'


@pytest.fixture(scope="session")
def hello_wasm() -> bytes:
    """The real hello component (componentize-py, cached by source hash)."""
    return build_component("hello").read_bytes()


def _start(
    users: dict[str, str] | None = None, tls: tuple[Path, Path, Path] | None = None
) -> RegistryServer:
    try:
        registry_binary()
    except RuntimeError:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return RegistryServer(users, tls).start()


@pytest.fixture(scope="session")
def oci_registry() -> Iterator[RegistryServer]:
    """An anonymous docker-registry on a random 127.0.0.1 port."""
    server = _start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[RegistryServer]:
    """A docker-registry with htpasswd (bcrypt) Basic auth for alice."""
    server = _start({OCI_USER: OCI_PASSWORD})
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def tls_registry(
    tmp_path_factory: pytest.TempPathFactory, hello_wasm: bytes
) -> Iterator[tuple[RegistryServer, Path]]:
    """A docker-registry serving https on 127.0.0.1 with a trustme cert; (server, CA file)."""
    import trustme

    tmp = tmp_path_factory.mktemp("tls-registry")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    paths = (tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem")
    cert.cert_chain_pems[0].write_to_path(str(paths[0]))
    cert.private_key_pem.write_to_path(str(paths[1]))
    ca.cert_pem.write_to_path(str(paths[2]))
    server = _start(tls=paths)
    try:
        pusher = Pusher(server.url, ca_file=str(paths[2]))
        try:
            pusher.push_artifact("test/hello", "v1", [(WASM_LAYER, hello_wasm)])
        finally:
            pusher.close()
        yield server, paths[2]
    finally:
        server.cleanup()


@dataclass
class Published:
    plain: Pushed  # test/hello:v1, wasm layer only
    with_policy: Pushed  # test/with-policy:1.0, wasm + policy layers
    plain_media: Pushed  # test/plain-media:v1, layer type application/wasm


@pytest.fixture(scope="session")
def published(oci_registry: RegistryServer, hello_wasm: bytes) -> Published:
    pusher = Pusher(oci_registry.url)
    try:
        return Published(
            plain=pusher.push_artifact("test/hello", "v1", [(WASM_LAYER, hello_wasm)]),
            with_policy=pusher.push_artifact(
                "test/with-policy", "1.0", [(WASM_LAYER, hello_wasm), (POLICY_LAYER, POLICY)]
            ),
            plain_media=pusher.push_artifact(
                "test/plain-media", "v1", [(PLAIN_WASM_LAYER, hello_wasm)]
            ),
        )
    finally:
        pusher.close()


@pytest.fixture(scope="session")
def auth_published(auth_registry: RegistryServer, hello_wasm: bytes) -> Pushed:
    pusher = Pusher(auth_registry.url, auth=(OCI_USER, OCI_PASSWORD))
    try:
        return pusher.push_artifact("private/hello", "v1", [(WASM_LAYER, hello_wasm)])
    finally:
        pusher.close()


@pytest.fixture
def token_front(oci_registry: RegistryServer, published: Published) -> Iterator[TokenFront]:
    """A Bearer-token front (anonymous tokens) for the anonymous registry."""
    front = TokenFront(oci_registry.url)
    try:
        yield front
    finally:
        front.close()


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsFileServer]:
    server = TlsFileServer(tmp_path_factory.mktemp("tls"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    """A private staging dir for downloads, to check nothing is left behind."""
    path = tmp_path / "staging"
    path.mkdir()
    return path
