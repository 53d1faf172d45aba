"""The https source against a real TLS server on 127.0.0.1 with a private trustme CA."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.components.servers import TlsFileServer
from wassette.components.sources import FetchOptions, fetch, source_for
from wassette.errors import (
    ComponentSourceError,
    SourceAuthError,
    SourceIntegrityError,
    SourceNotFoundError,
    SourceUnreachableError,
    UsageError,
)


@pytest.fixture
def server(tls_server: TlsFileServer, hello_wasm: bytes) -> TlsFileServer:
    tls_server.files["weather.wasm"] = hello_wasm
    tls_server.files["page.html"] = b"<!doctype html><html>login</html>"
    return tls_server


def _opts(server: TlsFileServer, staging: Path, **kw: object) -> FetchOptions:
    return FetchOptions(ca_file=server.ca_file, temp_dir=staging, **kw)  # type: ignore[arg-type]


def test_download_with_private_ca(server: TlsFileServer, hello_wasm: bytes, staging: Path) -> None:
    with fetch(f"{server.base}/f/weather.wasm", _opts(server, staging)) as got:
        assert got.component_id == "weather"
        assert got.read_wasm() == hello_wasm
        assert got.digest == "sha256:" + hashlib.sha256(hello_wasm).hexdigest()
        assert got.policy_bytes is None
    assert list(staging.iterdir()) == []


def test_chunked_download(server: TlsFileServer, hello_wasm: bytes, staging: Path) -> None:
    with fetch(f"{server.base}/chunked/weather.wasm", _opts(server, staging)) as got:
        assert got.read_wasm() == hello_wasm


def test_digest_pin(server: TlsFileServer, hello_wasm: bytes, staging: Path) -> None:
    pin = "sha256:" + hashlib.sha256(hello_wasm).hexdigest()
    with fetch(f"{server.base}/f/weather.wasm", _opts(server, staging, digest=pin)) as got:
        assert got.digest == pin
    pin512 = "sha512:" + hashlib.sha512(hello_wasm).hexdigest()
    with fetch(f"{server.base}/f/weather.wasm", _opts(server, staging, digest=pin512)):
        pass


def test_digest_mismatch_refused(server: TlsFileServer, staging: Path) -> None:
    wrong = "sha256:" + "1" * 64
    with pytest.raises(SourceIntegrityError, match="pinned digest") as err:
        fetch(f"{server.base}/f/weather.wasm", _opts(server, staging, digest=wrong))
    assert wrong in str(err.value)
    assert list(staging.iterdir()) == [], "a refused download must not stay on disk"


def test_malformed_digest_pin(server: TlsFileServer, staging: Path) -> None:
    with pytest.raises(UsageError, match="invalid digest"):
        fetch(f"{server.base}/f/weather.wasm", _opts(server, staging, digest="md5:abc"))


def test_untrusted_certificate_refused(server: TlsFileServer, staging: Path) -> None:
    # No CA given: the default bundle does not know the trustme CA.
    with pytest.raises(SourceUnreachableError, match="not trusted") as err:
        fetch(f"{server.base}/f/weather.wasm", FetchOptions(temp_dir=staging))
    assert "SSL_CERT_FILE" in str(err.value)
    assert server.files  # the server was up; only trust failed


def test_wrong_host_name_refused(server: TlsFileServer, staging: Path) -> None:
    # The cert names 127.0.0.1 and localhost, not 127.0.0.2.
    url = f"https://127.0.0.2:{server.port}/f/weather.wasm"
    with pytest.raises(SourceUnreachableError):
        fetch(url, _opts(server, staging))


def test_size_limit(server: TlsFileServer, hello_wasm: bytes, staging: Path) -> None:
    small = len(hello_wasm) // 2
    for path in ("f", "chunked"):  # declared length, and streamed without one
        with pytest.raises(ComponentSourceError, match="too large"):
            fetch(f"{server.base}/{path}/weather.wasm", _opts(server, staging, max_size=small))
        assert list(staging.iterdir()) == []


def test_html_instead_of_wasm(server: TlsFileServer, staging: Path) -> None:
    with pytest.raises(ComponentSourceError, match="not a WebAssembly binary"):
        fetch(f"{server.base}/f/page.html", _opts(server, staging))
    assert list(staging.iterdir()) == []


def test_not_found_and_denied(server: TlsFileServer, staging: Path) -> None:
    with pytest.raises(SourceNotFoundError):
        fetch(f"{server.base}/f/missing.wasm", _opts(server, staging))
    with pytest.raises(SourceAuthError):
        fetch(f"{server.base}/status/403", _opts(server, staging))
    with pytest.raises(ComponentSourceError, match="HTTP 500"):
        fetch(f"{server.base}/status/500", _opts(server, staging))


def test_redirect_followed_but_never_to_plain_http(
    server: TlsFileServer, hello_wasm: bytes, staging: Path
) -> None:
    target = f"{server.base}/f/weather.wasm"
    with fetch(f"{server.base}/redirect/x.wasm?to={target}", _opts(server, staging)) as got:
        assert got.read_wasm() == hello_wasm
        assert got.component_id == "x"  # the id comes from the URI the user gave
    downgrade = f"http://127.0.0.1:{server.port}/f/weather.wasm"
    with pytest.raises(ComponentSourceError, match="insecure"):
        fetch(f"{server.base}/redirect/x.wasm?to={downgrade}", _opts(server, staging))


def test_plain_http_and_credentials_in_url_refused() -> None:
    with pytest.raises(UsageError, match="plain http"):
        source_for("http://example.com/x.wasm")
    with pytest.raises(UsageError, match="credentials"):
        source_for("https://user:CANARY-url-pw@example.com/x.wasm")


def test_query_string_not_echoed(server: TlsFileServer, staging: Path) -> None:
    # Signed URLs carry tokens in the query: keep them out of messages.
    with pytest.raises(SourceNotFoundError) as err:
        fetch(f"{server.base}/f/missing.wasm?sig=CANARY-sig-42", _opts(server, staging))
    assert "CANARY-sig-42" not in str(err.value)


def test_bad_ca_file(server: TlsFileServer, staging: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="CA bundle"):
        fetch(
            f"{server.base}/f/weather.wasm",
            FetchOptions(ca_file=tmp_path / "nope.pem", temp_dir=staging),
        )
