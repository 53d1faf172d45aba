"""load_component: fetch from a real registry / file, then install, end to end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.components.conftest import POLICY, Published
from tests.components.ocipush import WASM_LAYER, Pusher, with_custom_section
from tests.components.registry_server import RegistryServer
from wassette.approval import approve_all
from wassette.components.load import LOADED, RELOADED, load_component
from wassette.components.registry import installed_ids
from wassette.components.sources import FetchOptions
from wassette.errors import ComponentError, SourceIntegrityError
from wassette.policy.parser import parse_policy
from wassette.policy.store import PolicyStore


def test_load_from_registry_then_reload(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, tmp_path: Path
) -> None:
    cdir = tmp_path / "components"
    staging = tmp_path / "staging"
    staging.mkdir()
    opts = FetchOptions(temp_dir=staging)
    first = load_component(
        f"oci://{oci_registry.host}/test/with-policy:1.0",
        cdir,
        opts,
        approver=approve_all("operator"),
    )
    assert (first.status, first.component_id) == (LOADED, "test_with-policy")
    assert first.policy_installed
    # The approved proposal is written in canonical form, not the publisher's bytes.
    assert PolicyStore(cdir).load("test_with-policy") == parse_policy(POLICY)
    assert (cdir / "test_with-policy.wasm").read_bytes() == hello_wasm
    assert first.manifest_digest == published.with_policy.manifest_digest
    again = load_component(
        f"oci://{oci_registry.host}/test/with-policy@{published.with_policy.manifest_digest}",
        cdir,
        opts,
    )
    assert again.status == RELOADED
    assert installed_ids(cdir) == ["test_with-policy"]
    assert list(staging.iterdir()) == []


def test_failed_reload_keeps_the_working_version(
    oci_registry: RegistryServer, published: Published, hello_wasm: bytes, tmp_path: Path
) -> None:
    cdir = tmp_path / "components"
    load_component(f"oci://{oci_registry.host}/test/hello:v1", cdir)
    broken = with_custom_section(hello_wasm, "nonce", os.urandom(8))
    pusher = Pusher(oci_registry.url)
    try:
        pushed = pusher.push_artifact("test/hello", "broken", [(WASM_LAYER, broken)])
    finally:
        pusher.close()

    def refuse(path: Path) -> None:
        raise ComponentError("compile failed", why="simulated")

    with pytest.raises(ComponentError):
        load_component(f"oci://{oci_registry.host}/test/hello:broken", cdir, validate=refuse)
    assert (cdir / "test_hello.wasm").read_bytes() == hello_wasm
    # A tampered blob never even reaches validation.
    oci_registry.blob_file(pushed.layer_digests[0]).write_bytes(
        b"\0asm" + b"\0" * (len(broken) - 4)
    )
    calls: list[Path] = []
    with pytest.raises(SourceIntegrityError):
        load_component(f"oci://{oci_registry.host}/test/hello:broken", cdir, validate=calls.append)
    assert calls == []
    assert (cdir / "test_hello.wasm").read_bytes() == hello_wasm


def test_load_file_notes_sanitised_id(tmp_path: Path, hello_wasm: bytes) -> None:
    src = tmp_path / "my tool.wasm"
    src.write_bytes(hello_wasm)
    outcome = load_component(str(src), tmp_path / "components")
    assert outcome.component_id == "my_tool"
    assert outcome.id_note is not None and "'my tool'" in outcome.id_note
    assert src.exists()
