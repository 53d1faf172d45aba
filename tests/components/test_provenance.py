"""A component's policy and secrets are bound to its source: recording, comparing, replacing.

Tiny component-model binaries (WAT, compiled by wasmtime in milliseconds) stand in for real
components: what is tested here is which bytes get installed under which id, not what they do.
The OCI cases run against a real docker-registry.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import wasmtime
from hypothesis import given
from hypothesis import strategies as st

from tests.components.ocipush import push_component
from tests.components.registry_server import RegistryServer
from wassette import layout
from wassette.approval import ApprovalRequest, Decision, approve_all, refuse_all
from wassette.components import provenance
from wassette.components.load import load_component
from wassette.components.registry import install
from wassette.components.sources import FetchOptions
from wassette.errors import NotApprovedError
from wassette.policy.store import PolicyStore


def tiny(export: str) -> bytes:
    """A valid component exporting one function ``export`` (distinct bytes per name)."""
    wat = f"""(component
      (core module $m (func (export "f")))
      (core instance $i (instantiate $m))
      (func $g (canon lift (core func $i "f")))
      (export "{export}" (func $g)))"""
    return bytes(wasmtime.wat2wasm(wat))


class Recorder:
    """An approver that records every request and answers as told."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.requests: list[ApprovalRequest] = []

    def __call__(self, request: ApprovalRequest) -> Decision:
        self.requests.append(request)
        return Decision(self.answer, "operator" if self.answer else "declined", "test")


@pytest.fixture
def cdir(tmp_path: Path) -> Path:
    return tmp_path / "components"


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _state(cdir: Path, cid: str) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in cdir.iterdir() if p.is_file() and p.name.startswith(cid)
    }


def test_source_names_per_scheme(tmp_path: Path) -> None:
    a = provenance.name_source(str(tmp_path / "x.wasm"))
    b = provenance.name_source((tmp_path / "x.wasm").as_uri())
    c = provenance.name_source("x.wasm", FetchOptions(base_dir=tmp_path))
    assert a == b == c and a.uri == (tmp_path / "x.wasm").as_uri()
    tag = provenance.name_source("oci://ghcr.io/acme/victim:1.0")
    pinned = provenance.name_source("oci://ghcr.io/acme/victim@sha256:" + "a" * 64)
    assert tag.identity == pinned.identity == "oci://ghcr.io/acme/victim"
    assert tag.uri == "oci://ghcr.io/acme/victim:1.0"
    assert provenance.name_source("oci://evil.example/acme/victim:1.0").identity != tag.identity
    signed = provenance.name_source("https://CDN.example.com/v1/victim.wasm?sig=SECRET#frag")
    assert signed.uri == signed.identity == "https://cdn.example.com/v1/victim.wasm"


def test_load_records_source_and_digest_then_reload_and_upgrade(cdir: Path, tmp_path: Path) -> None:
    src = _write(tmp_path / "src" / "victim.wasm", tiny("one"))
    first = load_component(str(src), cdir)
    assert first.change == "new" and first.source is not None
    sidecar = json.loads((cdir / "victim.source.json").read_text())
    assert sidecar["uri"] == src.as_uri() and sidecar["digest"] == first.digest
    assert ((cdir / "victim.source.json").stat().st_mode & 0o777) == 0o600
    again = load_component(src.as_uri(), cdir)
    assert again.change == "reload" and "upgrade" not in again.to_json([])
    src.write_bytes(tiny("two"))  # the same file, rebuilt: an upgrade, allowed
    upgraded = load_component(str(src), cdir)
    assert upgraded.change == "upgrade"
    shown = upgraded.to_json([])["upgrade"]
    assert (shown["from_digest"], shown["to_digest"]) == (first.digest, upgraded.digest)
    assert provenance.read_record(cdir, "victim") == upgraded.source


def test_another_source_is_refused_before_fetching(cdir: Path, tmp_path: Path) -> None:
    victim = _write(tmp_path / "a" / "victim.wasm", tiny("victim"))
    load_component(str(victim), cdir)
    PolicyStore(cdir).grant_environment_variable("victim", "API_KEY")
    before = _state(cdir, "victim")
    # The attacker's "file" does not even exist: refused before anything is fetched.
    elsewhere = tmp_path / "elsewhere" / "victim.wasm"
    asked = Recorder(False)
    with pytest.raises(NotApprovedError) as err:
        load_component(
            elsewhere.as_uri(), cdir, approver=asked, secret_keys=lambda cid: ["API_KEY"]
        )
    assert err.value.exit_code == 8  # ApprovalRefusedError
    assert "--replace" in str(err.value) and victim.as_uri() in str(err.value)
    assert _state(cdir, "victim") == before
    [request] = asked.requests
    assert request.action == "replace-component" and request.component_id == "victim"
    text = request.text()
    assert victim.as_uri() in text and elsewhere.as_uri() in text
    assert "environment API_KEY" in text and "keys: API_KEY" in text
    # The default approver (nobody to ask) refuses the same way.
    _write(elsewhere, tiny("attacker"))
    with pytest.raises(NotApprovedError):
        load_component(elsewhere.as_uri(), cdir)
    assert _state(cdir, "victim") == before


def test_an_approved_replacement_says_what_now_applies(cdir: Path, tmp_path: Path) -> None:
    victim = _write(tmp_path / "a" / "victim.wasm", tiny("victim"))
    old = load_component(str(victim), cdir)
    PolicyStore(cdir).grant_environment_variable("victim", "API_KEY")
    PolicyStore(cdir).grant_network("victim", "api.example.com")
    other = _write(tmp_path / "b" / "victim.wasm", tiny("other"))
    out = load_component(
        str(other), cdir, approver=approve_all("operator"), secret_keys=lambda c: ["API_KEY"]
    )
    assert out.change == "replace"
    replaced = out.to_json([])["replaced"]
    assert replaced["previous_source"] == victim.as_uri()
    assert replaced["previous_digest"] == old.digest
    assert replaced["now_applies"] == {
        "policy": ["network api.example.com", "environment API_KEY"],
        "secret_keys": ["API_KEY"],
    }
    assert other.as_uri() in replaced["message"] and "API_KEY" in replaced["message"]
    assert (cdir / "victim.wasm").read_bytes() == other.read_bytes()
    assert provenance.read_record(cdir, "victim").uri == other.as_uri()  # type: ignore[union-attr]


def test_unknown_source_same_bytes_adopted_other_bytes_refused(cdir: Path, tmp_path: Path) -> None:
    # Installed before sources were recorded: a wasm with no record.
    install(cdir, "legacy", tiny("legacy"))
    assert provenance.read_record(cdir, "legacy") is None
    same = _write(tmp_path / "legacy.wasm", tiny("legacy"))
    out = load_component(str(same), cdir, approver=refuse_all("unavailable", "test"))
    assert out.change == "adopt" and provenance.read_record(cdir, "legacy") is not None
    # Now the record is dropped and the bytes differ: a replacement, refused without approval.
    (cdir / "legacy.source.json").unlink()
    other = _write(tmp_path / "x" / "legacy.wasm", tiny("different"))
    with pytest.raises(NotApprovedError, match="unknown source"):
        load_component(str(other), cdir)
    assert (cdir / "legacy.wasm").read_bytes() == tiny("legacy")


def test_a_record_that_no_longer_matches_the_wasm_is_ignored(cdir: Path, tmp_path: Path) -> None:
    src = _write(tmp_path / "c.wasm", tiny("c"))
    load_component(str(src), cdir)
    record = provenance.read_record(cdir, "c")
    assert record is not None
    # A copy without preserving mtime: same bytes, the record still holds (checked by hash).
    wasm = cdir / "c.wasm"
    os.utime(wasm, ns=(1, 1))
    assert provenance.read_record(cdir, "c") == record
    # Bytes replaced by hand: the record is not believed any more.
    wasm.write_bytes(tiny("swapped"))
    assert provenance.read_record(cdir, "c") is None
    # A damaged or planted sidecar is ignored, never trusted.
    for junk in (b"{", b"[]", b'{"format": 1}', b"\xff" * 10):
        (cdir / "c.source.json").write_bytes(junk)
        assert provenance.read_record(cdir, "c") is None
    # A FIFO planted in its place neither hangs the reader nor counts as a record.
    (cdir / "c.source.json").unlink()
    os.mkfifo(cdir / "c.source.json")
    assert provenance.read_record(cdir, "c") is None


def test_unload_removes_the_record_and_the_proposal(cdir: Path, tmp_path: Path) -> None:
    from wassette.components.registry import uninstall

    src = _write(tmp_path / "u.wasm", tiny("u"))
    load_component(str(src), cdir)
    (cdir / "u.proposal.json").write_text("{}")
    removed = {p.name for p in uninstall(cdir, "u")}
    assert {"u.wasm", "u.source.json", "u.proposal.json"} <= removed
    assert not [p for p in cdir.iterdir() if p.name.startswith("u.")]


def test_layout_suffixes_never_collide() -> None:
    for a in layout.ALL:
        for b in layout.ALL:
            assert a == b or not a.endswith(b)


# --------------------------------------------------------------------------- OCI registry


def test_moved_tag_is_an_upgrade_other_registry_path_is_a_replacement(
    oci_registry: RegistryServer, cdir: Path, tmp_path: Path
) -> None:
    host = oci_registry.host
    push_component(oci_registry, "prov/moving", "latest", tiny("v1"), None)
    first = load_component(f"oci://{host}/prov/moving:latest", cdir)
    push_component(oci_registry, "prov/moving", "latest", tiny("v2"), None)
    moved = load_component(f"oci://{host}/prov/moving:latest", cdir)
    assert moved.change == "upgrade"
    assert moved.to_json([])["upgrade"]["from_digest"] == first.digest
    assert moved.source is not None and moved.source.manifest_digest is not None
    # Another tag of the same repository is the same publisher: an upgrade too.
    push_component(oci_registry, "prov/moving", "2.0", tiny("v3"), None)
    assert load_component(f"oci://{host}/prov/moving:2.0", cdir).change == "upgrade"
    # The same id from a local file is another source: refused.
    local = _write(tmp_path / "prov_moving.wasm", tiny("local"))
    with pytest.raises(NotApprovedError):
        load_component(str(local), cdir)
    assert (cdir / "prov_moving.wasm").read_bytes() == tiny("v3")
    shutil.rmtree(cdir)


_text = st.text(min_size=1, max_size=40)
_records = st.builds(
    provenance.SourceRecord,
    uri=_text,
    identity=_text,
    digest=st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h),
    size=st.integers(0, 2**40),
    mtime_ns=st.integers(0, 2**62),
    loaded_at=_text,
    manifest_digest=st.none() | _text,
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


@given(_records)
def test_records_round_trip(record: provenance.SourceRecord) -> None:
    assert provenance.SourceRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


@given(_json)
def test_any_json_is_a_record_or_none_never_an_error(data: object) -> None:
    parsed = provenance.SourceRecord.from_json(data)
    assert parsed is None or parsed.digest.startswith("sha256:")
