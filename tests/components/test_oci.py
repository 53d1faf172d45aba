"""The OCI source against a real docker-registry on 127.0.0.1 (anonymous, htpasswd, Bearer)."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from pathlib import Path

import pytest

from tests.components.conftest import OCI_PASSWORD, OCI_USER, POLICY, Published
from tests.components.ocipush import (
    WASM_LAYER,
    Pushed,
    Pusher,
    sha256,
    with_custom_section,
)
from tests.components.registry_server import RegistryServer
from tests.components.servers import TokenFront
from wassette.components.sources import Credentials, FetchOptions, fetch
from wassette.components.sources.oci import OciReference, credentials_from_docker_config
from wassette.errors import (
    ComponentSourceError,
    SourceAuthError,
    SourceIntegrityError,
    SourceNotFoundError,
    SourceUnreachableError,
    UsageError,
)


def _opts(staging: Path, **kw: object) -> FetchOptions:
    return FetchOptions(temp_dir=staging, **kw)  # type: ignore[arg-type]


def test_pull_by_tag(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, staging: Path
) -> None:
    uri = f"oci://{oci_registry.host}/test/hello:v1"
    with fetch(uri, _opts(staging)) as got:
        assert got.component_id == "test_hello"
        assert got.read_wasm() == hello_wasm
        assert got.digest == sha256(hello_wasm)
        assert got.manifest_digest == published.plain.manifest_digest
        assert got.policy_bytes is None
        staged = got.wasm_path
        assert staged.parent == staging
        assert staged.stat().st_mode & 0o777 == 0o600
    assert not staged.exists(), "close() must delete the staged download"
    assert list(staging.iterdir()) == []


def test_pull_by_digest(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, staging: Path
) -> None:
    uri = f"oci://{oci_registry.host}/test/hello@{published.plain.manifest_digest}"
    with fetch(uri, _opts(staging)) as got:
        assert got.read_wasm() == hello_wasm
        assert got.manifest_digest == published.plain.manifest_digest


def test_pull_with_policy_layer(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, staging: Path
) -> None:
    with fetch(f"oci://{oci_registry.host}/test/with-policy:1.0", _opts(staging)) as got:
        assert got.component_id == "test_with-policy"
        assert got.policy_bytes == POLICY
        assert got.read_wasm() == hello_wasm
    by_digest = (
        f"oci://{oci_registry.host}/test/with-policy@{published.with_policy.manifest_digest}"
    )
    with fetch(by_digest, _opts(staging)) as got:
        assert got.policy_bytes == POLICY


def test_plain_application_wasm_media_type(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, staging: Path
) -> None:
    with fetch(f"oci://{oci_registry.host}/test/plain-media:v1", _opts(staging)) as got:
        assert got.read_wasm() == hello_wasm


def test_progress_reports_every_byte(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, staging: Path
) -> None:
    seen: list[tuple[int, int | None]] = []
    opts = _opts(staging, progress=lambda done, total: seen.append((done, total)))
    with fetch(f"oci://{oci_registry.host}/test/hello:v1", opts):
        pass
    assert len(seen) > 1
    assert seen[-1] == (len(hello_wasm), len(hello_wasm))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def _push_unique(registry: RegistryServer, hello_wasm: bytes, repo: str) -> tuple[Pushed, bytes]:
    wasm = with_custom_section(hello_wasm, "nonce", os.urandom(16))
    pusher = Pusher(registry.url)
    try:
        return pusher.push_artifact(repo, "v1", [(WASM_LAYER, wasm)]), wasm
    finally:
        pusher.close()


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))


def test_tampered_blob_is_refused(
    oci_registry: RegistryServer, hello_wasm: bytes, staging: Path
) -> None:
    pushed, _ = _push_unique(oci_registry, hello_wasm, "test/tampered-blob")
    _flip_bytes(oci_registry.blob_file(pushed.layer_digests[0]))
    with pytest.raises(SourceIntegrityError) as err:
        fetch(f"oci://{oci_registry.host}/test/tampered-blob:v1", _opts(staging))
    assert pushed.layer_digests[0] in str(err.value)
    assert list(staging.iterdir()) == [], "a refused blob must not stay on disk"


def test_tampered_manifest_is_refused(
    oci_registry: RegistryServer, hello_wasm: bytes, staging: Path
) -> None:
    pushed, _ = _push_unique(oci_registry, hello_wasm, "test/tampered-manifest")
    manifest_file = oci_registry.blob_file(pushed.manifest_digest)
    text = manifest_file.read_text()
    manifest_file.write_text(text.replace('"schemaVersion":2', '"schemaVersion":2 '))
    for ref in (":v1", f"@{pushed.manifest_digest}"):
        with pytest.raises(SourceIntegrityError, match="manifest"):
            fetch(f"oci://{oci_registry.host}/test/tampered-manifest{ref}", _opts(staging))


def test_pinned_digest_mismatch(
    oci_registry: RegistryServer, published: Published, staging: Path
) -> None:
    wrong = "sha256:" + "0" * 64
    with pytest.raises(SourceIntegrityError, match="pinned"):
        fetch(f"oci://{oci_registry.host}/test/hello:v1", _opts(staging, digest=wrong))
    assert list(staging.iterdir()) == []


def test_unknown_tag_and_repo(
    oci_registry: RegistryServer, published: Published, staging: Path
) -> None:
    with pytest.raises(SourceNotFoundError, match="not found"):
        fetch(f"oci://{oci_registry.host}/test/hello:nope", _opts(staging))
    with pytest.raises(SourceNotFoundError):
        fetch(f"oci://{oci_registry.host}/test/absent:v1", _opts(staging))


def test_artifact_without_wasm_layer(oci_registry: RegistryServer, staging: Path) -> None:
    pusher = Pusher(oci_registry.url)
    try:
        pusher.push_artifact(
            "test/no-wasm", "v1", [("application/vnd.oci.image.layer.v1.tar", b"not wasm")]
        )
    finally:
        pusher.close()
    with pytest.raises(ComponentSourceError, match="0 wasm layers") as err:
        fetch(f"oci://{oci_registry.host}/test/no-wasm:v1", _opts(staging))
    assert "application/vnd.oci.image.layer.v1.tar" in str(err.value)


def test_wasm_layer_that_is_not_wasm(oci_registry: RegistryServer, staging: Path) -> None:
    pusher = Pusher(oci_registry.url)
    try:
        pusher.push_artifact("test/html", "v1", [(WASM_LAYER, b"<html>oops</html>")])
    finally:
        pusher.close()
    with pytest.raises(ComponentSourceError, match="not a WebAssembly binary"):
        fetch(f"oci://{oci_registry.host}/test/html:v1", _opts(staging))
    assert list(staging.iterdir()) == []


def test_size_limit(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, staging: Path
) -> None:
    with pytest.raises(ComponentSourceError, match="too large"):
        fetch(
            f"oci://{oci_registry.host}/test/hello:v1", _opts(staging, max_size=len(hello_wasm) - 1)
        )
    assert list(staging.iterdir()) == []


def test_image_index_with_one_wasm_manifest(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, staging: Path
) -> None:
    pusher = Pusher(oci_registry.url)
    manifest = pusher.client.get(
        f"{oci_registry.url}/v2/test/hello/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).content
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha256(manifest),
                "size": len(manifest),
                "platform": {"os": "wasip2", "architecture": "wasm"},
            }
        ],
    }
    try:
        pusher.push_manifest(
            "test/hello", "indexed", index, media_type="application/vnd.oci.image.index.v1+json"
        )
    finally:
        pusher.close()
    with fetch(f"oci://{oci_registry.host}/test/hello:indexed", _opts(staging)) as got:
        assert got.read_wasm() == hello_wasm
        assert got.manifest_digest == published.plain.manifest_digest


# ---- auth --------------------------------------------------------------------------------


def test_htpasswd_registry_needs_credentials(
    auth_registry: RegistryServer, auth_published: Pushed, staging: Path
) -> None:
    uri = f"oci://{auth_registry.host}/private/hello:v1"
    with pytest.raises(SourceAuthError, match="requires credentials") as err:
        fetch(uri, _opts(staging))
    assert "WASSETTE_OCI_USERNAME" in str(err.value)


def test_htpasswd_wrong_password(
    auth_registry: RegistryServer, auth_published: Pushed, staging: Path
) -> None:
    uri = f"oci://{auth_registry.host}/private/hello:v1"
    wrong = "CANARY-wrong-pass-5512"
    with pytest.raises(SourceAuthError, match="rejected the credentials") as err:
        fetch(uri, _opts(staging, credentials=Credentials(OCI_USER, wrong, auth_registry.host)))
    text = f"{err.value} {err.value!r}"
    assert wrong not in text
    assert OCI_PASSWORD not in text


def test_htpasswd_right_credentials(
    auth_registry: RegistryServer, auth_published: Pushed, hello_wasm: bytes, staging: Path
) -> None:
    uri = f"oci://{auth_registry.host}/private/hello:v1"
    opts = _opts(
        staging, credentials=Credentials(OCI_USER, OCI_PASSWORD, registry=auth_registry.host)
    )
    with fetch(uri, opts) as got:
        assert got.read_wasm() == hello_wasm
        assert got.component_id == "private_hello"
    assert OCI_PASSWORD not in repr(opts)


def _docker_config(tmp_path: Path, key: str, user: str, password: str) -> Path:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"auths": {key: {"auth": auth}}}))
    return path


def test_credentials_from_docker_config(
    auth_registry: RegistryServer,
    auth_published: Pushed,
    hello_wasm: bytes,
    staging: Path,
    tmp_path: Path,
) -> None:
    config = _docker_config(tmp_path, f"http://{auth_registry.host}", OCI_USER, OCI_PASSWORD)
    uri = f"oci://{auth_registry.host}/private/hello:v1"
    with fetch(uri, _opts(staging, docker_config=config)) as got:
        assert got.read_wasm() == hello_wasm
    # Explicit credentials (the WASSETTE_OCI_* pair) beat the config file.
    with pytest.raises(SourceAuthError):
        fetch(
            uri,
            _opts(
                staging,
                docker_config=config,
                credentials=Credentials(OCI_USER, "CANARY-bad-1", auth_registry.host),
            ),
        )


def test_docker_config_only_matches_its_registry(tmp_path: Path) -> None:
    config = _docker_config(tmp_path, "https://ghcr.io", "bob", "CANARY-pw-2")
    assert credentials_from_docker_config(config, "ghcr.io") == Credentials(
        "bob", "CANARY-pw-2", "ghcr.io"
    )
    assert credentials_from_docker_config(config, "ghcr.io.evil.example") is None
    assert credentials_from_docker_config(config, "127.0.0.1:5000") is None
    assert credentials_from_docker_config(tmp_path / "absent.json", "ghcr.io") is None


def test_bearer_token_flow_anonymous(
    token_front: TokenFront, hello_wasm: bytes, staging: Path
) -> None:
    with fetch(f"oci://{token_front.host}/test/hello:v1", _opts(staging)) as got:
        assert got.read_wasm() == hello_wasm
    assert "repository:test/hello:pull" in token_front.scopes
    assert token_front.v2_auth[0] is None  # anonymous first
    assert all(h.startswith("Bearer ") for h in token_front.v2_auth[1:] if h)


def test_bearer_token_flow_with_credentials(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, staging: Path
) -> None:
    front = TokenFront(oci_registry.url, users={OCI_USER: OCI_PASSWORD})
    try:
        uri = f"oci://{front.host}/test/hello:v1"
        good = Credentials(OCI_USER, OCI_PASSWORD, registry=front.host)
        with fetch(uri, _opts(staging, credentials=good)) as got:
            assert got.read_wasm() == hello_wasm
        bad = Credentials(OCI_USER, "CANARY-nope-9", registry=front.host)
        with pytest.raises(SourceAuthError, match="rejected") as err:
            fetch(uri, _opts(staging, credentials=bad))
        assert "CANARY-nope-9" not in str(err.value)
        with pytest.raises(SourceAuthError, match="requires credentials"):
            fetch(uri, _opts(staging))
    finally:
        front.close()


def test_token_realm_over_plain_http_to_remote_host_refused(
    oci_registry: RegistryServer, published: Published, staging: Path
) -> None:
    # A registry that sends us to a non-loopback http realm would get credentials in clear.
    front = TokenFront(oci_registry.url, realm=lambda _port: "http://192.0.2.10/token")
    try:
        with pytest.raises(ComponentSourceError, match="insecure"):
            fetch(
                f"oci://{front.host}/test/hello:v1",
                _opts(
                    staging,
                    credentials=Credentials(OCI_USER, OCI_PASSWORD, registry=front.host),
                ),
            )
    finally:
        front.close()


# ---- failure modes -----------------------------------------------------------------------


def test_unreachable_registry_fails_fast(staging: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connection refused
        start = time.monotonic()
        with pytest.raises(SourceUnreachableError) as err:
            fetch(f"oci://127.0.0.1:{port}/test/hello:v1", _opts(staging))
        elapsed = time.monotonic() - start
    assert elapsed < 2.0
    assert f"127.0.0.1:{port}" in str(err.value)
    assert "cannot connect" in str(err.value)


def test_scheme_rules(oci_registry: RegistryServer, published: Published, staging: Path) -> None:
    from wassette.components.sources.oci import _RegistryClient

    # A remote registry: https only, decided up front.
    remote = _RegistryClient(OciReference.parse("oci://192.0.2.10:5000/x/y:1"), FetchOptions())
    assert remote.base == "https://192.0.2.10:5000" and remote._scheme_known
    # --insecure or loopback: https first, plain http only if the port does not speak TLS.
    insecure = _RegistryClient(
        OciReference.parse("oci://192.0.2.10:5000/x/y:1"), FetchOptions(insecure=True)
    )
    assert insecure.base.startswith("https://") and not insecure._scheme_known
    for host in ("127.0.0.1:5000", "127.8.9.10", "localhost:5000", "[::1]:5000"):
        loop = _RegistryClient(OciReference.parse(f"oci://{host}/x/y:1"), FetchOptions())
        assert loop.may_use_http
    # Against the real plain-http registry the probe falls back to http.
    client = _RegistryClient(
        OciReference.parse(f"oci://{oci_registry.host}/test/hello:v1"),
        FetchOptions(temp_dir=staging),
    )
    try:
        client.get_manifest("v1")
        assert client.base == oci_registry.url
    finally:
        client.close()


def test_tls_registry_on_loopback(
    tls_registry: tuple[RegistryServer, Path], hello_wasm: bytes, staging: Path
) -> None:
    server, ca_file = tls_registry
    uri = f"oci://{server.host}/test/hello:v1"
    with fetch(uri, _opts(staging, ca_file=ca_file)) as got:
        assert got.read_wasm() == hello_wasm
    # An untrusted certificate is an error, never a reason to fall back to plain http.
    with pytest.raises(SourceUnreachableError, match="not trusted"):
        fetch(uri, _opts(staging))


# ---- references --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "registry", "repo", "tag", "digest"),
    [
        (
            "oci://ghcr.io/microsoft/time-server-js:1.0",
            "ghcr.io",
            "microsoft/time-server-js",
            "1.0",
            None,
        ),
        ("oci://ghcr.io/a/b", "ghcr.io", "a/b", "latest", None),
        (
            "oci://localhost:5000/x@sha256:" + "a" * 64,
            "localhost:5000",
            "x",
            None,
            "sha256:" + "a" * 64,
        ),
        (
            "oci://127.0.0.1:5000/a/b/c:v1@sha256:" + "b" * 64,
            "127.0.0.1:5000",
            "a/b/c",
            "v1",
            "sha256:" + "b" * 64,
        ),
        ("oci://busybox", "docker.io", "library/busybox", "latest", None),
        ("oci://me/tool:2", "docker.io", "me/tool", "2", None),
    ],
)
def test_reference_parsing(
    uri: str, registry: str, repo: str, tag: str | None, digest: str | None
) -> None:
    ref = OciReference.parse(uri)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)


@pytest.mark.parametrize(
    "uri",
    [
        "oci://ghcr.io/UPPER/case:1",
        "oci://ghcr.io/a/b:bad tag",
        "oci://ghcr.io/a/b@sha256:short",
        "oci://ghcr.io/../etc:1",
        "oci://ghcr.io/a//b:1",
        "oci://",
    ],
)
def test_bad_references(uri: str) -> None:
    with pytest.raises(UsageError):
        OciReference.parse(uri)


def test_reference_with_digest_fetches_by_digest(
    oci_registry: RegistryServer, published: Published, staging: Path
) -> None:
    # tag + digest: the digest decides (the tag may have moved since).
    uri = f"oci://{oci_registry.host}/test/with-policy:1.0@{published.plain.manifest_digest}"
    with pytest.raises(SourceNotFoundError):
        # the plain manifest does not exist in the with-policy repository
        fetch(uri, _opts(staging))
