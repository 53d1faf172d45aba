"""The secrets service layer and the honest outcomes of the local store.

Oversize and disk-full writes leave every file byte-for-byte as it was (a real tmpfs where we
can mount one, an injected write failure otherwise); history only ever holds values that were
stored; a failed audit append after a change says the change stands (and never looks like
tampering); ownership by another user is refused; a plaintext value inside an encrypted file
is found and sealed; purging history leaves no trace of a leaked value in any file.
"""

from __future__ import annotations

import base64
import errno
import inspect
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CANARY, Home
from tests.secretstore.tmpfs import fill, small_tmpfs, snapshot
from wassette import fsutil
from wassette.config import load_settings
from wassette.errors import (
    AuditLogError,
    ChangedButNotAuditedError,
    SecretsFileError,
    StorageError,
    UsageError,
)
from wassette.secretstore import yamlfile
from wassette.secretstore.audit import AuditLog
from wassette.secretstore.keys import KeyCustody
from wassette.secretstore.operations import CHANGED_NOT_AUDITED, SecretOperations
from wassette.secretstore.sealing import Sealer, is_sealed, plaintext_among_sealed
from wassette.secretstore.store import SecretStore
from wassette.wiring import System

SRC = Path(__file__).resolve().parents[2] / "src" / "wassette"
NOBODY = 65534


@pytest.fixture(autouse=True)
def _isolated_home(home: Home) -> None:
    """Every path (data, config, state) under the test's own home, never the real one."""


def system(tmp_path: Path) -> System:
    env = dict(os.environ)  # the `home` fixture points HOME and XDG_* into tmp_path
    assert env["XDG_DATA_HOME"].startswith(str(tmp_path))
    return System(load_settings(environ=env), env)


def ops_of(tmp_path: Path) -> tuple[SecretOperations, SecretStore]:
    sysm = system(tmp_path)
    store = sysm.backend
    assert isinstance(store, SecretStore)
    return sysm.secrets, store


def everything_under(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- structure


def test_no_module_outside_the_factory_names_or_checks_a_backend() -> None:
    allowed = {
        "secretstore/factory.py",
        "secretstore/store.py",  # defines SecretStore
        "secretstore/backends/vault/backend.py",  # defines VaultBackend
        "secretstore/backends/vault/__init__.py",  # re-exports it
        "secretstore/__init__.py",  # re-exports the store class for library users
    }
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = str(path.relative_to(SRC))
        if rel in allowed:
            continue
        text = path.read_text()
        if re.search(r"\b(SecretStore|VaultBackend)\b|\.name == \"(vault|file)\"", text):
            offenders.append(rel)
    assert offenders == []


def test_key_custody_is_constructed_only_by_the_composition_root() -> None:
    sites = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if re.search(r"\bKeyCustody\(", p.read_text()) and p.name != "keys.py"
    ]
    assert sites == ["wiring.py"]


def test_history_methods_have_one_meaning_on_both_backends() -> None:
    from wassette.secretstore.backends.vault import VaultBackend

    for name in ("key_history", "rollback_key", "purge_key_history"):
        file_params = list(inspect.signature(getattr(SecretStore, name)).parameters)
        vault_params = list(inspect.signature(getattr(VaultBackend, name)).parameters)
        assert file_params == vault_params, name
    # The old names, which meant different things on each backend, are gone from both.
    for old in ("history", "rollback"):
        assert not hasattr(SecretStore, old) and not hasattr(VaultBackend, old)


def test_system_builds_custody_once_and_the_operations_share_it(tmp_path: Path) -> None:
    sysm = system(tmp_path)
    store = sysm.backend
    assert isinstance(store, SecretStore)
    assert store.custody is sysm.custody
    assert sysm.secrets.backend is store and sysm.secrets.audit is sysm.audit


def test_sealer_binds_scope_and_name_and_plaintext_among_sealed_is_found(tmp_path: Path) -> None:
    sysm = system(tmp_path)
    a = Sealer(lambda: sysm.custody.keys(create=True), "vault-cache:p")
    token = a.seal("K", CANARY)
    assert is_sealed(token) and CANARY not in token
    assert a.open("K", token) == CANARY
    from wassette.secretstore.crypto import TokenError

    with pytest.raises(TokenError):
        a.open("OTHER", token)
    with pytest.raises(TokenError):
        Sealer(lambda: sysm.custody.keys(create=True), "vault-cache:q").open("K", token)
    assert plaintext_among_sealed({"A": token, "B": "clear"}) == ["B"]
    assert plaintext_among_sealed({"A": "x", "B": "y"}) == []  # a plaintext file is fine


# --------------------------------------------------------------------------- sizes


def test_a_value_that_would_push_the_file_past_the_read_limit_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    ops, store = ops_of(tmp_path)
    ops.set("c", {"A": f"{CANARY}-small"})
    ops.set("c", {"A": f"{CANARY}-second"})
    before = snapshot(store.secrets_dir)
    audit_before = ops.audit.path.read_bytes()
    big = "x" * (yamlfile.MAX_FILE_BYTES + 1000)
    with pytest.raises(UsageError) as info:
        ops.set("c", {"BIG": big})
    text = str(info.value)
    size = int(re.search(r"the file would be ([\d,]+) bytes", text)[1].replace(",", ""))  # type: ignore[index]
    assert len(big) < size < len(big) + 200  # the real size of the file
    assert f"the value of BIG alone is {len(big):,} bytes" in text
    assert f"{yamlfile.MAX_FILE_BYTES:,}" in text
    assert snapshot(store.secrets_dir) == before  # byte-for-byte, history included
    assert ops.audit.path.read_bytes() == audit_before  # nothing changed, nothing audited
    assert store.get_all("c") == {"A": f"{CANARY}-second"}  # still readable


def test_many_values_together_over_the_limit_are_refused_too(tmp_path: Path) -> None:
    ops, store = ops_of(tmp_path)
    chunk = "y" * (yamlfile.MAX_FILE_BYTES // 3)
    ops.set("c", {"A": chunk, "B": chunk})
    before = snapshot(store.secrets_dir)
    with pytest.raises(UsageError, match="too large to read back"):
        ops.set("c", {"C": chunk, "D": chunk})
    assert snapshot(store.secrets_dir) == before
    assert sorted(store.get_all("c")) == ["A", "B"]


def test_an_oversize_file_on_disk_is_reported_with_its_real_size(tmp_path: Path) -> None:
    _ops, store = ops_of(tmp_path)
    store.ensure_dir()
    path = store.path_for("c")
    real = 13 * 1024 * 1024
    path.write_bytes(b"A: " + b"z" * (real - 3))
    path.chmod(0o600)
    with pytest.raises(SecretsFileError) as info:
        store.get_all("c")
    assert f"({real:,} bytes" in str(info.value)
    assert f"{yamlfile.MAX_FILE_BYTES + 1:,} bytes" not in str(info.value)


# --------------------------------------------------------------------------- disk full


def _fail_secrets_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fsutil.write_atomic

    def failing(path: Path, data: bytes, mode: int = 0o600) -> None:
        if path.name.endswith(".secrets.yaml"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, data, mode)

    monkeypatch.setattr(fsutil, "write_atomic", failing)


def test_injected_write_failure_leaves_no_history_and_no_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops, store = ops_of(tmp_path)
    ops.set("c", {"A": "old"})
    before = snapshot(store.secrets_dir)
    _fail_secrets_writes(monkeypatch)
    with pytest.raises(StorageError, match="No space left"):
        ops.set("c", {"A": CANARY})
    assert snapshot(store.secrets_dir) == before  # no staged history left behind either
    assert CANARY.encode() not in everything_under(store.secrets_dir)
    rows = ops.history("c", "A")["A"]
    assert [r.operation for r in rows] == ["set"] and rows[0].current
    with pytest.raises(Exception, match="no earlier value"):
        ops.rollback("c", "A", None)  # nothing that was never stored can be restored
    assert CANARY not in ops.audit.path.read_text()
    assert ops.audit.verify().ok


def test_disk_full_on_a_real_tmpfs_leaves_every_file_byte_for_byte(tmp_path: Path) -> None:
    sysm = system(tmp_path)
    secrets_dir = sysm.settings.secrets_dir
    with small_tmpfs(secrets_dir, 128):
        ops = sysm.secrets
        ops.set("c", {"A": "old", "B": "keep"})
        ops.set("c", {"A": "older-than-new"})
        before = snapshot(secrets_dir)
        filler = fill(secrets_dir)
        for value in (CANARY, CANARY * 2000):  # small (fits a page) and large
            with pytest.raises(StorageError, match="No space left"):
                ops.set("c", {"A": value})
            assert snapshot(secrets_dir) == before
            assert not [p for p in secrets_dir.rglob("*.tmp")]
        assert CANARY.encode() not in everything_under(secrets_dir)
        filler.unlink()
        rows = ops.history("c", "A")["A"]
        assert [r.operation for r in rows] == ["set", "set"]
        ops.set("c", {"A": "after"})  # space again: works, history continues
        assert [r.version for r in ops.history("c", "A")["A"]] == [1, 2, 3]


# --------------------------------------------------------------------------- audit


def test_a_failed_audit_append_after_a_change_says_the_change_stands(tmp_path: Path) -> None:
    sysm = system(tmp_path)
    ops = sysm.secrets
    ops.set("c", {"A": "1"})
    with small_tmpfs(sysm.audit.path.parent, 64):
        sysm.audit.record("set", "c", ["A"])  # the log now lives on the small fs
        filler = fill(sysm.audit.path.parent)
        many = [f"K{i:05d}" for i in range(600)]  # a record bigger than any free page
        with pytest.raises(ChangedButNotAuditedError) as info:
            ops.set("c", dict.fromkeys(many, "v"))
        assert str(info.value).startswith(f"{CHANGED_NOT_AUDITED}: cannot append")
        assert info.value.exit_code == 9
        assert "No space left" in str(info.value)
        assert sysm.backend.get("c", "K00000") == "v"  # it WAS changed
        assert sysm.audit.verify().ok  # a clean failure is not tampering
        filler.unlink()
        ops.set("c", {"A": "2"})
        result = sysm.audit.verify()
        assert result.ok and result.lines == 2


def test_partial_audit_writes_are_cut_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog(tmp_path / "state" / "audit.log")
    log.record("set", "c", ["A"])
    before = log.path.read_bytes(), log.head_path.read_bytes()
    real_write = os.write

    def torn(fd: int, data: bytes) -> int:
        real_write(fd, data[: len(data) // 2])  # half a line reaches the disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", torn)
    with pytest.raises(AuditLogError):
        log.record("delete", "c", ["A"])
    monkeypatch.undo()
    assert (log.path.read_bytes(), log.head_path.read_bytes()) == before
    assert log.verify().ok
    log.record("delete", "c", ["A"])
    assert log.verify().ok and log.verify().lines == 2


def test_a_failed_head_write_rolls_the_line_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(tmp_path / "audit.log")
    log.record("set", "c", ["A"])
    before = log.path.read_bytes()

    def no_head(seq: int, digest: str) -> None:
        raise OSError(errno.EIO, "injected")

    monkeypatch.setattr(log, "_write_head", no_head)
    for _ in range(3):  # repeated failures never drift the head away from the log
        with pytest.raises(AuditLogError):
            log.record("set", "c", ["B"])
    monkeypatch.undo()
    assert log.path.read_bytes() == before
    assert log.verify().ok


def test_disclosure_is_refused_when_it_cannot_be_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops, _store = ops_of(tmp_path)
    ops.set("c", {"A": CANARY})

    def broken(*_a: Any, **_k: Any) -> Any:
        raise AuditLogError("cannot append to the audit log", why="injected")

    monkeypatch.setattr(ops.audit, "record", broken)
    with pytest.raises(AuditLogError) as info:
        ops.disclose("reveal", "c", ops.read("c"), via="list")
    assert not isinstance(info.value, ChangedButNotAuditedError)
    assert CANARY not in str(info.value)


# --------------------------------------------------------------------------- ownership


def test_a_secrets_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")
    ops, store = ops_of(tmp_path)
    ops.set("c", {"A": CANARY})
    path = store.path_for("c")
    os.chown(path, NOBODY, -1)
    fresh = system(tmp_path).secrets  # a new process: nothing cached
    with pytest.raises(SecretsFileError) as info:
        fresh.read("c")
    err = info.value
    assert "owned by" in str(err) and f"uid {NOBODY}" in str(err)
    assert err.fix is not None and f"chown root {path}" in err.fix
    assert CANARY not in str(err)
    with pytest.raises(SecretsFileError, match="owned by"):
        fresh.set("c", {"B": "x"})  # writes read the file first: refused too
    # The store that cached the file sees the chown (ctime changes) and refuses as well.
    with pytest.raises(SecretsFileError, match="owned by"):
        store.get_all("c")
    os.chown(path, 0, -1)
    assert fresh.read("c") == {"A": CANARY}


def test_a_secrets_dir_or_history_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")
    ops, store = ops_of(tmp_path)
    ops.set("c", {"A": "1"})
    ops.set("c", {"A": "2"})
    os.chown(store.secrets_dir, NOBODY, -1)
    with pytest.raises(SecretsFileError, match=r"directory is owned by .*uid 65534") as info:
        system(tmp_path).secrets.read("c")
    assert info.value.fix is not None and "and the files in it" in info.value.fix
    os.chown(store.secrets_dir, 0, -1)
    os.chown(store.history_path("c"), NOBODY, -1)
    with pytest.raises(SecretsFileError, match="owned by"):
        system(tmp_path).secrets.history("c", "A")
    with pytest.raises(SecretsFileError, match="owned by"):
        system(tmp_path).secrets.set("c", {"A": "3"})


# --------------------------------------------------------------------------- plaintext


def test_a_plaintext_value_in_an_encrypted_file_is_flagged_and_encrypt_seals_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ops, store = ops_of(tmp_path)
    ops.set("c", {"A": "1", "B": "2"})
    assert ops.reseal(["c"], "encrypt") == {"c": 4}
    path = store.path_for("c")
    with path.open("a") as fh:
        fh.write(f'PASTED: "{CANARY}"\n')
    assert ops.plaintext_keys("c") == ["PASTED"]
    assert ops.plaintext_report() == {"c": ["PASTED"]}
    with caplog.at_level("WARNING"):
        assert system(tmp_path).secrets.read("c")["PASTED"] == CANARY  # still served
    assert "PASTED" in caplog.text and CANARY not in caplog.text
    assert ops.reseal(["c"], "encrypt") == {"c": 1}
    assert ops.plaintext_keys("c") == [] and ops.plaintext_report() == {}
    assert CANARY.encode() not in path.read_bytes()
    assert system(tmp_path).secrets.read("c")["PASTED"] == CANARY


# --------------------------------------------------------------------------- purge


def test_delete_with_purge_history_leaves_no_trace_of_the_value(tmp_path: Path) -> None:
    ops, store = ops_of(tmp_path)
    ops.set("c", {"LEAKED": f"{CANARY}-1", "OTHER": "keep"})
    ops.set("c", {"LEAKED": f"{CANARY}-2"})
    ops.set("c", {"OTHER": "keep-2"})
    removed, purged = ops.delete("c", ["LEAKED"], purge_history=True)
    assert removed == ["LEAKED"] and purged == ["LEAKED"]
    assert CANARY.encode() not in everything_under(store.secrets_dir)
    assert "LEAKED" not in ops.history("c", None)
    assert [r.operation for r in ops.history("c", "OTHER")["OTHER"]] == ["set", "set"]
    last = ops.audit.events("c")[-1]
    assert last["event"] == "delete" and last["purged_history"] == ["LEAKED"]
    assert ops.audit.verify().ok


def test_purge_history_keeps_the_current_value_and_can_purge_everything(tmp_path: Path) -> None:
    ops, store = ops_of(tmp_path)
    ops.set("c", {"A": f"{CANARY}-old", "B": "b1"})
    ops.set("c", {"A": "new", "B": "b2"})
    assert ops.purge_history("c", ["A"]) == ["A"]
    assert store.get_all("c") == {"A": "new", "B": "b2"}
    assert f"{CANARY}-old".encode() not in everything_under(store.secrets_dir)
    assert ops.purge_history("c", ["A"]) == []  # nothing left: no change, no audit record
    assert ops.purge_history("c", None) == ["B"]
    assert not store.history_path("c").exists()
    events = [e["event"] for e in ops.audit.events("c")]
    assert events.count("purge-history") == 2


def test_purge_is_refused_before_deleting_on_a_backend_without_versions(tmp_path: Path) -> None:
    ops, store = ops_of(tmp_path)
    ops.set("c", {"A": "1"})

    class NoVersions(SecretStore):
        def versions(self) -> None:  # type: ignore[override]
            return None

    bare = SecretOperations(
        NoVersions(store.secrets_dir, custody=store.custody), ops.audit, lambda: store.custody
    )  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="not supported on this backend"):
        bare.delete("c", ["A"], purge_history=True)
    assert store.get_all("c") == {"A": "1"}


def test_encrypt_that_would_outgrow_the_read_limit_changes_neither_file(tmp_path: Path) -> None:
    ops, store = ops_of(tmp_path)
    ops.set("c", {"A": "w" * (yamlfile.MAX_FILE_BYTES - 100_000)})  # fits as plaintext
    ops.set("c", {"B": "1"})
    before = snapshot(store.secrets_dir)
    with pytest.raises(UsageError, match="too large to read back"):
        ops.reseal(["c"], "encrypt")  # base64 ciphertext is a third longer
    assert snapshot(store.secrets_dir) == before
    assert [e["event"] for e in ops.audit.events("c")] == ["set", "set"]


def test_a_key_file_or_history_dir_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")
    from wassette.errors import SecretsKeyError

    ops, store = ops_of(tmp_path)
    ops.set("c", {"A": "1"})
    ops.set("c", {"A": "2"})
    assert ops.reseal(["c"], "encrypt") == {"c": 3}
    sysm = system(tmp_path)
    key_file = sysm.custody.key_file
    os.chown(key_file, NOBODY, -1)
    with pytest.raises(SecretsKeyError, match="refusing to read the encryption key") as info:
        system(tmp_path).secrets.read("c")
    assert info.value.fix is not None and f"chown root {key_file}" in info.value.fix
    os.chown(key_file, 0, -1)
    os.chown(store.history_path("c").parent, NOBODY, -1)
    with pytest.raises(SecretsFileError, match="directory is owned by"):
        system(tmp_path).secrets.history("c", "A")
    os.chown(store.history_path("c").parent, 0, -1)
    assert len(system(tmp_path).secrets.history("c", "A")["A"]) == 2


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    extra=st.integers(min_value=-300, max_value=300),
    encrypted=st.booleans(),
)
def test_a_write_near_the_limit_either_reads_back_or_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, extra: int, encrypted: bool
) -> None:
    root = tmp_path_factory.mktemp("near")
    custody = KeyCustody(
        environ={"WASSETTE_SECRETS_KEY": base64.b64encode(b"z" * 32).decode()},
        config_dir=root / "cfg",
        secrets_dir=root / "secrets",
    )
    store = SecretStore(root / "secrets", custody=custody, encrypt_new=encrypted)
    store.set_many("c", {"A": "1"})
    before = snapshot(store.secrets_dir)
    # Plaintext: the file is ~ the value; sealed: base64 makes it 4/3 of it.
    size = yamlfile.MAX_FILE_BYTES * (3 if encrypted else 4) // 4 - 20 + extra
    try:
        store.set_many("c", {"BIG": "v" * size})
    except UsageError:
        assert snapshot(store.secrets_dir) == before
        assert SecretStore(root / "secrets", custody=custody).get_all("c") == {"A": "1"}
    else:
        assert store.path_for("c").stat().st_size <= yamlfile.MAX_FILE_BYTES
        got = SecretStore(root / "secrets", custody=custody).get_all("c")
        assert len(got["BIG"]) == size
