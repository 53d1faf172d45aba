"""The file source, scheme dispatch, and component id derivation (docs/spec.md section 4)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wassette.components.sources import FetchOptions, derive_component_id, fetch, source_for
from wassette.components.sources.base import sanitize_component_id
from wassette.errors import (
    ComponentSourceError,
    InvalidComponentIdError,
    SourceIntegrityError,
    SourceNotFoundError,
    UsageError,
    WassetteError,
)
from wassette.ids import validate_component_id


@pytest.fixture
def wasm_file(tmp_path: Path, hello_wasm: bytes) -> Path:
    path = tmp_path / "dir with space" / "fetch_rs.wasm"
    path.parent.mkdir()
    path.write_bytes(hello_wasm)
    return path


def test_reference_examples() -> None:
    assert derive_component_id("file:///x/fetch_rs.wasm") == "fetch_rs"
    assert derive_component_id("oci://ghcr.io/microsoft/time-server-js:1.0") == (
        "microsoft_time-server-js"
    )
    assert derive_component_id("https://h/p/weather.wasm") == "weather"


def test_file_forms(wasm_file: Path, hello_wasm: bytes) -> None:
    base = wasm_file.parent.parent
    digest = "sha256:" + hashlib.sha256(hello_wasm).hexdigest()
    forms = [
        str(wasm_file),  # bare absolute path, taken literally
        "file://" + str(wasm_file).replace(" ", "%20"),  # file URI, percent-decoded
        "file://localhost" + str(wasm_file),
        "file://dir%20with%20space/fetch_rs.wasm",  # relative file URI
        "dir with space/fetch_rs.wasm",  # bare relative path
    ]
    for uri in forms:
        got = fetch(uri, FetchOptions(base_dir=base))
        assert got.component_id == "fetch_rs", uri
        assert got.wasm_path == wasm_file, uri
        assert got.digest == digest
        assert got.size == len(hello_wasm)
        got.close()
        assert wasm_file.exists(), "close() must never delete the user's own file"


def test_file_errors(tmp_path: Path, wasm_file: Path, hello_wasm: bytes) -> None:
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        fetch(str(tmp_path / "absent.wasm"))
    not_wasm = tmp_path / "notes.wasm"
    not_wasm.write_text("hello")
    with pytest.raises(ComponentSourceError, match="not a WebAssembly binary"):
        fetch(str(not_wasm))
    with pytest.raises(ComponentSourceError, match="directory"):
        fetch(str(tmp_path) + "/dir with space")
    with pytest.raises(ComponentSourceError, match="too large"):
        fetch(str(wasm_file), FetchOptions(max_size=100))
    with pytest.raises(SourceIntegrityError, match="pinned"):
        fetch(str(wasm_file), FetchOptions(digest="sha256:" + "2" * 64))
    good = "sha256:" + hashlib.sha256(hello_wasm).hexdigest()
    assert fetch(str(wasm_file), FetchOptions(digest=good.upper().replace("SHA", "sha"))).size


def test_unknown_schemes() -> None:
    with pytest.raises(UsageError, match="unsupported"):
        source_for("ftp://host/x.wasm")
    with pytest.raises(UsageError, match="plain http"):
        source_for("http://host/x.wasm")


@pytest.mark.parametrize(
    ("uri", "expected", "note"),
    [
        ("file:///x/my%20tool.wasm", "my_tool", "became '_'"),
        ("https://h/p/caf%C3%A9.wasm", "caf_", "became '_'"),
        ("/x/.hidden.wasm", "hidden", "leading"),
        ("/x/" + "a" * 200 + ".wasm", "a" * 128, "cut"),
        ("/x/plain.component.wasm", "plain.component", None),
        ("oci://ghcr.io/org/sub/name:1", "org_sub_name", None),
    ],
)
def test_sanitised_ids_say_how(uri: str, expected: str, note: str | None) -> None:
    derived = source_for(uri).derived_id
    assert derived.component_id == expected
    if note is None:
        assert derived.note is None
    else:
        assert derived.note is not None and note in derived.note


@pytest.mark.parametrize("uri", ["/x/___.wasm", "https://h/", "https://h/p/-.wasm", ""])
def test_underivable_ids(uri: str) -> None:
    with pytest.raises(UsageError):
        source_for(uri)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_name_gives_a_valid_id_or_a_clear_error(raw: str) -> None:
    try:
        derived = sanitize_component_id(raw, uri=raw)
    except InvalidComponentIdError as exc:
        assert "cannot derive" in str(exc)
        return
    assert validate_component_id(derived.component_id) == derived.component_id
    assert (derived.note is None) == (derived.component_id == raw)


_URI = st.one_of(
    st.text(max_size=120),
    st.builds(lambda s: "file://" + s, st.text(max_size=80)),
    st.builds(lambda s: "https://h.example/" + s, st.text(max_size=80)),
    st.builds(lambda s: "oci://ghcr.io/" + s, st.text(max_size=80)),
    st.builds(
        lambda a, b: f"oci://{a}/{b}",
        st.from_regex(r"[a-z0-9.:-]{1,20}", fullmatch=True),
        st.from_regex(r"[a-z0-9._/-]{1,40}(:[A-Za-z0-9._-]{1,10})?", fullmatch=True),
    ),
)


@settings(max_examples=400, deadline=None)
@given(_URI)
def test_any_uri_gives_a_valid_id_or_a_wassette_error(uri: str) -> None:
    # Parsing untrusted input: either a valid id, or one of our errors (never a crash).
    try:
        cid = derive_component_id(uri)
    except WassetteError as exc:
        assert exc.what
        return
    assert validate_component_id(cid) == cid
    assert "/" not in cid and cid != ".."


def test_progress_printer() -> None:
    import io

    from wassette.components.sources.progress import stderr_progress

    out = io.StringIO()
    report = stderr_progress(out, "pulling x", threshold=1000)
    for done in range(0, 10_001, 100):
        report(done, 10_000)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("pulling x: 0%")
    assert lines[-1].startswith("pulling x: 100%")
    assert len(lines) == 11  # one per 10 %
    quiet = io.StringIO()
    small = stderr_progress(quiet, "x", threshold=1000)
    small(500, 999)
    assert quiet.getvalue() == ""
    unknown = io.StringIO()
    stream = stderr_progress(unknown, "y", threshold=10)
    stream(5, None)
    stream(20, None)
    assert unknown.getvalue().startswith("y: 0.0 MiB")


def test_options_from_environment(tmp_path: Path) -> None:
    from wassette.components.sources.base import Credentials
    from wassette.components.sources.environment import options_from_environment
    from wassette.errors import ConfigError

    env = {
        "SSL_CERT_FILE": "/etc/ca.pem",
        "WASSETTE_OCI_USERNAME": "u",
        "WASSETTE_OCI_PASSWORD": "CANARY-env-pw",
        "WASSETTE_OCI_REGISTRY": "ghcr.io",
        "HTTPS_PROXY": "http://proxy.invalid:3128",
    }
    opts = options_from_environment(env, tmp_path, digest="sha256:" + "a" * 64)
    assert opts.ca_file == Path("/etc/ca.pem")
    assert opts.credentials == Credentials("u", "CANARY-env-pw", "ghcr.io")
    assert opts.total_timeout == 120.0
    assert opts.docker_config == tmp_path / ".docker" / "config.json"
    assert opts.proxy is None
    assert "CANARY-env-pw" not in repr(opts)
    opts = options_from_environment({"DOCKER_CONFIG": "/d"}, tmp_path)
    assert opts.docker_config == Path("/d/config.json")
    assert opts.credentials is None and opts.ca_file is None
    with pytest.raises(ConfigError, match="WASSETTE_OCI_PASSWORD"):
        options_from_environment({"WASSETTE_OCI_USERNAME": "u"}, tmp_path)
