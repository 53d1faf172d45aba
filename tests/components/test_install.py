"""install/uninstall in a real component directory, with real wasm bytes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.components.ocipush import with_custom_section
from wassette.components.registry import install, installed_ids, is_installed, uninstall
from wassette.components.sources import fetch
from wassette.errors import (
    ComponentError,
    ComponentNotFoundError,
    InvalidComponentIdError,
    SourceIntegrityError,
    StorageError,
)

POLICY_V1 = b'version: "1.0"\n# written by a person\n'
POLICY_V2 = b'version: "1.0"\npermissions: {}\n'


@pytest.fixture
def cdir(tmp_path: Path) -> Path:
    return tmp_path / "components"


@pytest.fixture
def v1(hello_wasm: bytes) -> bytes:
    return with_custom_section(hello_wasm, "version", b"1")


@pytest.fixture
def v2(hello_wasm: bytes) -> bytes:
    return with_custom_section(hello_wasm, "version", b"2")


def _entries(path: Path) -> set[str]:
    return {p.name for p in path.iterdir() if p.name != ".locks"}


def test_fresh_install(cdir: Path, v1: bytes) -> None:
    result = install(cdir, "hello", v1)
    assert result.reloaded is False
    assert result.wasm_path == cdir / "hello.wasm"
    assert result.wasm_path.read_bytes() == v1
    assert result.policy_path is None
    assert (result.wasm_path.stat().st_mode & 0o777) == 0o600
    assert (cdir.stat().st_mode & 0o777) == 0o700
    assert _entries(cdir) == {"hello.wasm"}, "no temp files may remain"
    assert installed_ids(cdir) == ["hello"]
    assert is_installed(cdir, "hello")


def test_install_from_fetched_file(cdir: Path, tmp_path: Path, v1: bytes) -> None:
    src = tmp_path / "my_tool.wasm"
    src.write_bytes(v1)
    with fetch(f"file://{src}") as got:
        result = install(cdir, got.component_id, got.wasm_path, policy_bytes=got.policy_bytes)
    assert result.wasm_path == cdir / "my_tool.wasm"
    assert result.wasm_path.read_bytes() == v1
    assert src.exists()


def test_reinstall_replaces_and_drops_stale_artifacts(cdir: Path, v1: bytes, v2: bytes) -> None:
    install(cdir, "hello", v1, policy_bytes=POLICY_V1)
    (cdir / "hello.compiled").write_bytes(b"compiled v1")
    (cdir / "hello.tools.json").write_text("{}")
    result = install(cdir, "hello", v2)
    assert result.reloaded is True
    assert (cdir / "hello.wasm").read_bytes() == v2
    assert set(result.removed) == {cdir / "hello.compiled", cdir / "hello.tools.json"}
    # No policy came with v2: the operator's policy stays.
    assert result.policy_path == cdir / "hello.policy.yaml"
    assert result.policy_replaced is False
    assert (cdir / "hello.policy.yaml").read_bytes() == POLICY_V1
    assert _entries(cdir) == {"hello.wasm", "hello.policy.yaml"}
    # A policy layer replaces it.
    result = install(cdir, "hello", v1, policy_bytes=POLICY_V2)
    assert result.policy_replaced is True
    assert (cdir / "hello.policy.yaml").read_bytes() == POLICY_V2
    assert ((cdir / "hello.policy.yaml").stat().st_mode & 0o777) == 0o600


def test_validate_sees_new_bytes_before_anything_is_replaced(
    cdir: Path, v1: bytes, v2: bytes
) -> None:
    install(cdir, "hello", v1)
    seen: dict[str, object] = {}

    def validate(path: Path) -> str:
        seen["staged"] = path.read_bytes() == v2
        seen["installed_still_v1"] = (cdir / "hello.wasm").read_bytes() == v1
        seen["same_dir"] = path.parent == cdir
        return "compiled-handle"

    result = install(cdir, "hello", v2, validate=validate)
    assert seen == {"staged": True, "installed_still_v1": True, "same_dir": True}
    assert result.validation == "compiled-handle"


def test_failed_validation_keeps_previous_version(cdir: Path, v1: bytes, v2: bytes) -> None:
    install(cdir, "hello", v1, policy_bytes=POLICY_V1)
    (cdir / "hello.compiled").write_bytes(b"compiled v1")
    (cdir / "hello.tools.json").write_text('{"v": 1}')
    before = {name: (cdir / name).read_bytes() for name in _entries(cdir)}

    def reject(path: Path) -> None:
        raise ComponentError("not a valid component", why="test says no")

    with pytest.raises(ComponentError, match="test says no"):
        install(cdir, "hello", v2, policy_bytes=POLICY_V2, validate=reject)
    after = {name: (cdir / name).read_bytes() for name in _entries(cdir)}
    assert after == before, "a failed load must leave every file of the old version intact"


def test_failed_policy_validation_keeps_previous_version(cdir: Path, v1: bytes, v2: bytes) -> None:
    install(cdir, "hello", v1)

    def bad_policy(data: bytes) -> None:
        raise ValueError("bad policy")

    with pytest.raises(ValueError, match="bad policy"):
        install(cdir, "hello", v2, policy_bytes=b"nonsense", validate_policy=bad_policy)
    assert (cdir / "hello.wasm").read_bytes() == v1
    assert _entries(cdir) == {"hello.wasm"}


def test_failed_fresh_install_leaves_nothing(cdir: Path, v1: bytes) -> None:
    def reject(path: Path) -> None:
        raise ComponentError("nope")

    with pytest.raises(ComponentError):
        install(cdir, "fresh", v1, policy_bytes=POLICY_V1, validate=reject)
    assert _entries(cdir) == set()
    assert not is_installed(cdir, "fresh")


def test_concurrent_installs_end_consistent(cdir: Path, v1: bytes, v2: bytes) -> None:
    errors: list[BaseException] = []

    def worker(data: bytes) -> None:
        try:
            for _ in range(5):
                install(cdir, "race", data)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(d,)) for d in (v1, v2, v1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert (cdir / "race.wasm").read_bytes() in (v1, v2)
    assert _entries(cdir) == {"race.wasm"}


def test_invalid_ids_refused(cdir: Path, v1: bytes) -> None:
    for bad in ("../evil", "a/b", ".hidden", ""):
        with pytest.raises(InvalidComponentIdError):
            install(cdir, bad, v1)
    assert not cdir.exists() or _entries(cdir) == set()


def test_uninstall_removes_artifacts_but_never_secrets(
    cdir: Path, tmp_path: Path, v1: bytes
) -> None:
    install(cdir, "hello", v1, policy_bytes=POLICY_V1)
    (cdir / "hello.compiled").write_bytes(b"c")
    (cdir / "hello.tools.json").write_text("{}")
    # Secrets normally live in their own dir; even one beside the wasm is never touched.
    (cdir / "hello.secrets.yaml").write_text("API_KEY: CANARY-keep-me\n")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "hello.secrets.yaml").write_text("API_KEY: CANARY-keep-me\n")
    install(cdir, "other", v1)

    removed = uninstall(cdir, "hello")
    assert {p.name for p in removed} == {
        "hello.wasm",
        "hello.compiled",
        "hello.tools.json",
        "hello.policy.yaml",
    }
    assert (cdir / "hello.secrets.yaml").exists()
    assert (secrets_dir / "hello.secrets.yaml").read_text() == "API_KEY: CANARY-keep-me\n"
    assert installed_ids(cdir) == ["other"]


def test_uninstall_unknown_lists_installed(cdir: Path, v1: bytes) -> None:
    install(cdir, "alpha", v1)
    install(cdir, "beta", v1)
    with pytest.raises(ComponentNotFoundError) as err:
        uninstall(cdir, "gamma")
    assert "alpha, beta" in str(err.value)
    assert "component list" in str(err.value)
    with pytest.raises(ComponentNotFoundError, match="no components are installed"):
        uninstall(cdir.parent / "empty", "gamma")


def test_uninstall_cleans_orphans(cdir: Path) -> None:
    cdir.mkdir()
    (cdir / "ghost.policy.yaml").write_bytes(POLICY_V1)
    assert [p.name for p in uninstall(cdir, "ghost")] == ["ghost.policy.yaml"]
    with pytest.raises(ComponentNotFoundError):
        uninstall(cdir, "ghost")


def test_install_where_a_file_blocks_the_dir(tmp_path: Path, v1: bytes) -> None:
    blocker = tmp_path / "components"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="cannot create the component directory"):
        install(blocker, "x", v1)


def test_real_compile_as_validation_hook(cdir: Path, v1: bytes) -> None:
    # The shape the lead wires: validate = compile with wasmtime. A broken component (here a
    # truncated one that still has the wasm magic) must not replace a working one.
    import wasmtime
    from wasmtime.component import Component

    engine = wasmtime.Engine()
    install(cdir, "hello", v1)

    def compile_it(path: Path) -> Component:
        try:
            return Component.from_file(engine, str(path))
        except wasmtime.WasmtimeError as exc:
            raise ComponentError("not a valid component", why=str(exc)[:200]) from None

    with pytest.raises(ComponentError, match="not a valid component"):
        install(cdir, "hello", v1[:4096], validate=compile_it)
    assert (cdir / "hello.wasm").read_bytes() == v1
    assert _entries(cdir) == {"hello.wasm"}


def test_expected_digest_guards_fetch_to_install(
    cdir: Path, tmp_path: Path, v1: bytes, v2: bytes
) -> None:
    src = tmp_path / "hello.wasm"
    src.write_bytes(v1)
    with fetch(str(src)) as got:
        src.write_bytes(v2)  # changed after it was fetched (and maybe pinned)
        with pytest.raises(SourceIntegrityError, match="changed between"):
            install(cdir, got.component_id, got.wasm_path, expected_digest=got.digest)
    assert not (cdir / "hello.wasm").exists()
    assert _entries(cdir) == set()
    with fetch(str(src)) as got:
        result = install(cdir, got.component_id, got.wasm_path, expected_digest=got.digest)
    assert result.wasm_path.read_bytes() == v2
