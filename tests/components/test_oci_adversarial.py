"""Hostile registries: fuzzed manifests, odd challenges, malformed configs, CDN redirects.

Everything a registry sends is untrusted input: the client must either succeed or raise one of
our errors, never crash with a stray exception, never leave a staged file behind, and never
send credentials to an origin other than the registry's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.components.conftest import OCI_PASSWORD, OCI_USER, Published
from tests.components.registry_server import RegistryServer
from tests.components.servers import FakeRegistry, RecordingProxy, TokenFront
from wassette.components.sources import Credentials, FetchOptions, fetch
from wassette.components.sources.oci import (
    credentials_from_docker_config,
    parse_challenge,
)
from wassette.errors import ComponentSourceError, SourceUnreachableError, WassetteError


def test_blob_redirect_to_another_origin_drops_credentials(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, tmp_path: Path
) -> None:
    cdn = RecordingProxy(oci_registry.url)
    front = TokenFront(oci_registry.url, users={OCI_USER: OCI_PASSWORD}, blob_redirect=cdn.url)
    try:
        creds = Credentials(OCI_USER, OCI_PASSWORD, registry=front.host)
        opts = FetchOptions(credentials=creds, temp_dir=tmp_path)
        with fetch(f"oci://{front.host}/test/hello:v1", opts) as got:
            assert got.read_wasm() == hello_wasm
        assert cdn.seen, "the blob must have come through the redirect"
        assert all("authorization" not in headers for headers in cdn.seen)
    finally:
        front.close()
        cdn.close()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**40) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "mediaType",
                    "layers",
                    "digest",
                    "size",
                    "manifests",
                    "platform",
                    "config",
                    "schemaVersion",
                    "architecture",
                    "os",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)
_MEDIA = st.sampled_from(
    [
        "application/vnd.wasm.content.layer.v1+wasm",
        "application/wasm",
        "application/vnd.wassette.policy+yaml",
        "application/vnd.oci.image.index.v1+json",
        "text/plain",
    ]
)


@st.composite
def _manifests(draw: Any) -> Any:
    """Manifest-shaped JSON: plausible layers with random digests, sizes and types."""
    if draw(st.booleans()):
        return draw(_JSON)
    layers = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "mediaType": _MEDIA,
                    "digest": st.one_of(
                        st.just("sha256:" + "a" * 64),
                        st.text(max_size=30),
                        st.from_regex(r"sha(256|512):[0-9a-f]{1,130}", fullmatch=True),
                    ),
                    "size": st.one_of(st.integers(-3, 2**34), st.text(max_size=3), st.none()),
                }
            ),
            max_size=4,
        )
    )
    return {
        "schemaVersion": 2,
        "mediaType": draw(_MEDIA | st.none()),
        "layers": layers,
        "manifests": draw(st.lists(_JSON, max_size=2)),
    }


@pytest.fixture(scope="module")
def fake_registry() -> Any:
    server = FakeRegistry()
    yield server
    server.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(manifest=_manifests(), lie_about_digest=st.booleans())
def test_fuzzed_manifests_never_crash(
    fake_registry: FakeRegistry, tmp_path_factory: Any, manifest: Any, lie_about_digest: bool
) -> None:
    body = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(body + (b"x" if lie_about_digest else b"")).hexdigest()
    fake_registry.routes.clear()
    fake_registry.routes["/v2/fuzz/app/manifests/v1"] = (
        200,
        {"Docker-Content-Digest": digest, "Content-Type": "application/json"},
        body,
    )
    staging = tmp_path_factory.mktemp("fuzz")
    with contextlib.suppress(WassetteError):
        fetch(
            f"oci://{fake_registry.host}/fuzz/app:v1",
            FetchOptions(temp_dir=staging, max_size=1 << 20),
        ).close()
    assert list(staging.iterdir()) == []


def test_blob_bigger_than_declared_is_cut_off(fake_registry: FakeRegistry, tmp_path: Path) -> None:
    blob = b"\0asm" + b"\1" * 5000
    declared = 100
    layer = {
        "mediaType": "application/wasm",
        "digest": "sha256:" + hashlib.sha256(blob[:declared]).hexdigest(),
        "size": declared,
    }
    body = json.dumps({"schemaVersion": 2, "layers": [layer]}).encode()
    fake_registry.routes.clear()
    fake_registry.routes["/v2/big/app/manifests/v1"] = (200, {}, body)
    fake_registry.routes[f"/v2/big/app/blobs/{layer['digest']}"] = (200, {}, blob)
    with pytest.raises(ComponentSourceError, match="larger than its declared size"):
        fetch(f"oci://{fake_registry.host}/big/app:v1", FetchOptions(temp_dir=tmp_path))
    assert list(tmp_path.iterdir()) == []


@given(st.text(max_size=200))
def test_challenge_parser_total(header: str) -> None:
    scheme, params = parse_challenge(header)
    assert isinstance(scheme, str)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())


def test_challenge_parser_examples() -> None:
    assert parse_challenge(
        'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull,push"'
    ) == (
        "bearer",
        {
            "realm": "https://ghcr.io/token",
            "service": "ghcr.io",
            "scope": "repository:a/b:pull,push",
        },
    )
    assert parse_challenge('Basic realm="x\\"y"') == ("basic", {"realm": 'x"y'})


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_JSON)
def test_docker_config_fuzz(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"127.0.0.1:5000": data}}))
    try:
        creds = credentials_from_docker_config(path, "127.0.0.1:5000")
    except ComponentSourceError as exc:
        assert "malformed" in str(exc) or "cannot read" in str(exc)
        return
    assert creds is None or isinstance(creds, Credentials)


def _non_loopback_ipv4() -> str | None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.254", 9))  # UDP: picks a source address, sends nothing
        except OSError:
            return None
        addr = str(sock.getsockname()[0])
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr  # noqa: S104


def test_plain_http_to_a_remote_registry_needs_insecure(hello_wasm: bytes, tmp_path: Path) -> None:
    addr = _non_loopback_ipv4()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address to serve from")
    server = FakeRegistry(bind=addr)
    try:
        layer = {
            "mediaType": "application/wasm",
            "digest": "sha256:" + hashlib.sha256(hello_wasm).hexdigest(),
            "size": len(hello_wasm),
        }
        body = json.dumps({"schemaVersion": 2, "layers": [layer]}).encode()
        server.routes["/v2/remote/app/manifests/v1"] = (200, {}, body)
        server.routes[f"/v2/remote/app/blobs/{layer['digest']}"] = (200, {}, hello_wasm)
        uri = f"oci://{server.host}/remote/app:v1"
        with pytest.raises(SourceUnreachableError, match="TLS"):
            fetch(uri, FetchOptions(temp_dir=tmp_path))
        with fetch(uri, FetchOptions(temp_dir=tmp_path, insecure=True)) as got:
            assert got.read_wasm() == hello_wasm
    finally:
        server.close()
