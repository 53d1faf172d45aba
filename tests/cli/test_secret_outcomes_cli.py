"""Honest outcomes of `wassette secret ...`, as real subprocesses: the exit code and the message
say what happened, failed writes change nothing (byte for byte), and leaked values can be
purged. Disk-full cases run on a real, small tmpfs (skipped where it cannot be mounted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli.test_secret_cli import install_fake_component, ok_json
from tests.cli.test_secret_cli_backends import configure_vault
from tests.conftest import CANARY, Home, run_cli
from tests.secretstore.openbao import BaoServer
from tests.secretstore.tmpfs import fill, small_tmpfs, snapshot

NOBODY = 65534
MAX_FILE_BYTES = 4 * 1024 * 1024


def state_dir(home: Home) -> Path:
    return home.root / "state" / "wassette"


def everything_under(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def test_a_failed_audit_append_after_set_exits_8_and_says_the_secret_was_changed(
    home: Home,
) -> None:
    install_fake_component(home, "c")
    with small_tmpfs(state_dir(home), 64):
        filler = fill(state_dir(home))
        proc = run_cli(home, "secret", "set", "c", f"API_KEY={CANARY}")
        assert proc.returncode == 9, proc.stderr
        assert proc.stderr.startswith(
            "error: the secret WAS changed; its audit record could not be written: "
            "cannot append to the audit log "
        )
        assert "No space left on device" in proc.stderr
        assert CANARY not in proc.stdout + proc.stderr
        assert ok_json(run_cli(home, "secret", "list", "c"))["secret_keys"] == ["API_KEY"]  # type: ignore[index]
        # A clean failure is not tampering: verify passes, before and after more appends.
        ok_json(run_cli(home, "secret", "audit", "--verify"))
        filler.unlink()
        ok_json(run_cli(home, "secret", "set", "c", "OTHER=1"))
        out = ok_json(run_cli(home, "secret", "audit", "--verify"))
        assert out["verified"] is True and out["lines"] == 1  # type: ignore[index]
        # Other changes say the same, each in its own words and with the same code.
        fill(state_dir(home))
        proc = run_cli(home, "secret", "delete", "c", "OTHER")
        assert proc.returncode == 9 and "WAS changed" in proc.stderr
        proc = run_cli(home, "secret", "rollback", "c", "OTHER")
        assert proc.returncode == 9, proc.stderr
        # Reveals are refused instead (exit 5): nothing is shown without its record.
        proc = run_cli(home, "secret", "list", "c", "--show-values", "--yes")
        assert proc.returncode == 5 and CANARY not in proc.stdout + proc.stderr
        assert "WAS changed" not in proc.stderr


def test_a_set_on_a_full_disk_exits_5_and_changes_nothing(home: Home) -> None:
    install_fake_component(home, "c")
    with small_tmpfs(home.secrets_dir, 128):
        ok_json(run_cli(home, "secret", "set", "c", "API_KEY=first"))
        ok_json(run_cli(home, "secret", "set", "c", "API_KEY=second"))
        before = snapshot(home.secrets_dir)
        hist_before = ok_json(run_cli(home, "secret", "history", "c"))
        audit_before = (state_dir(home) / "audit.log").read_bytes()
        fill(home.secrets_dir)
        proc = run_cli(home, "secret", "set", "c", f"API_KEY={CANARY}")
        assert proc.returncode == 5, proc.stderr
        assert "No space left on device" in proc.stderr and "unchanged" in proc.stderr
        assert CANARY not in proc.stdout + proc.stderr
        assert snapshot(home.secrets_dir) == before
        assert CANARY.encode() not in everything_under(home.secrets_dir)
        assert ok_json(run_cli(home, "secret", "history", "c")) == hist_before
        assert (state_dir(home) / "audit.log").read_bytes() == audit_before


def test_an_oversize_value_is_refused_before_writing_with_the_real_sizes(home: Home) -> None:
    install_fake_component(home, "c")
    ok_json(run_cli(home, "secret", "set", "c", "SMALL=1"))
    ok_json(run_cli(home, "secret", "set", "c", "SMALL=2"))
    before = snapshot(home.secrets_dir)
    big = "Q" * (MAX_FILE_BYTES + 12_345)
    proc = run_cli(home, "secret", "set", "c", "BIG", input=big)
    assert proc.returncode == 2, proc.stderr
    assert "too large to read back" in proc.stderr
    assert f"the value of BIG alone is {len(big):,} bytes" in proc.stderr
    assert f"{MAX_FILE_BYTES:,} bytes" in proc.stderr
    assert "QQQQ" not in proc.stderr
    assert snapshot(home.secrets_dir) == before
    # Everything still works afterwards (before the fix, every command failed "too large").
    assert ok_json(run_cli(home, "secret", "list", "c"))["secret_keys"] == ["SMALL"]  # type: ignore[index]
    assert run_cli(home, "secret", "export", "c", "--yes", "-o", "json").returncode == 0
    ok_json(run_cli(home, "secret", "delete", "c", "SMALL"))


def test_secrets_owned_by_another_user_are_refused_with_the_chown_fix(home: Home) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")
    install_fake_component(home, "c")
    ok_json(run_cli(home, "secret", "set", "c", f"API_KEY={CANARY}"))
    path = home.secrets_dir / "c.secrets.yaml"
    os.chown(path, NOBODY, -1)
    proc = run_cli(home, "secret", "list", "c")
    assert proc.returncode == 5
    assert f"refusing to read secrets from {path}" in proc.stderr
    assert "uid 65534" in proc.stderr
    assert f"hint: if you trust its content, take it over: chown root {path}" in proc.stderr
    assert CANARY not in proc.stdout + proc.stderr
    os.chown(path, 0, -1)
    os.chown(home.secrets_dir, NOBODY, -1)
    proc = run_cli(home, "secret", "set", "c", "B=1")
    assert proc.returncode == 5 and f"chown root {home.secrets_dir}" in proc.stderr
    os.chown(home.secrets_dir, 0, -1)
    ok_json(run_cli(home, "secret", "list", "c"))


def test_a_plaintext_value_in_an_encrypted_file_is_flagged_and_encrypt_fixes_it(
    home: Home,
) -> None:
    install_fake_component(home, "c")
    ok_json(run_cli(home, "secret", "set", "c", "A=1"))
    ok_json(run_cli(home, "secret", "encrypt", "c"))
    path = home.secrets_dir / "c.secrets.yaml"
    with path.open("a") as fh:
        fh.write(f'PASTED: "{CANARY}"\n')
    proc = run_cli(home, "secret", "list", "c")
    out = ok_json(proc)
    assert out["plaintext_in_encrypted_file"] == ["PASTED"]  # type: ignore[index]
    assert "PASTED of c stored in plaintext" in proc.stderr
    assert "wassette secret encrypt c" in proc.stderr and CANARY not in proc.stderr
    proc = run_cli(home, "secret", "status", "c")
    assert ok_json(proc)["plaintext_in_encrypted_file"] == ["PASTED"]  # type: ignore[index]
    proc = run_cli(home, "secret", "audit")
    assert ok_json(proc)["plaintext_in_encrypted_files"] == {"c": ["PASTED"]}  # type: ignore[index]
    proc = run_cli(home, "secret", "audit", "--verify")
    assert ok_json(proc)["plaintext_in_encrypted_files"] == {"c": ["PASTED"]}  # type: ignore[index]
    assert CANARY not in proc.stdout + proc.stderr

    assert ok_json(run_cli(home, "secret", "encrypt", "c"))["components"] == {"c": 1}  # type: ignore[index]
    assert CANARY.encode() not in path.read_bytes()
    for args in (["list", "c"], ["status", "c"], ["audit"]):
        proc = run_cli(home, "secret", *args)
        assert "plaintext" not in proc.stdout + proc.stderr, args
    # Unchanged output shape when nothing is wrong.
    assert ok_json(run_cli(home, "secret", "list", "c")) == {
        "status": "success",
        "component_id": "c",
        "secret_keys": ["A", "PASTED"],
    }


def test_delete_purge_history_and_purge_history_leave_no_trace(home: Home) -> None:
    install_fake_component(home, "c")
    ok_json(run_cli(home, "secret", "set", "c", f"LEAKED={CANARY}-1", "KEEP=k1"))
    ok_json(run_cli(home, "secret", "set", "c", f"LEAKED={CANARY}-2", "KEEP=k2"))
    out = ok_json(run_cli(home, "secret", "delete", "c", "LEAKED", "--purge-history"))
    assert out == {
        "status": "success",
        "component_id": "c",
        "message": "Deleted 1 secret(s) from component c",
        "deleted_keys": ["LEAKED"],
        "purged_history": ["LEAKED"],
    }
    assert CANARY.encode() not in everything_under(home.secrets_dir)
    hist = ok_json(run_cli(home, "secret", "history", "c"))["history"]  # type: ignore[index]
    assert sorted(hist) == ["KEEP"]
    proc = run_cli(home, "secret", "rollback", "c", "LEAKED")
    assert proc.returncode == 3  # nothing to roll back to any more

    # A value leaked while still current: rotate it, then purge the old one.
    ok_json(run_cli(home, "secret", "set", "c", f"KEEP={CANARY}-3"))
    ok_json(run_cli(home, "secret", "set", "c", "KEEP=rotated"))
    proc = run_cli(home, "secret", "purge-history", "c", "KEEP")  # no TTY, no --yes
    assert proc.returncode == 1 and "without confirmation" in proc.stderr
    assert CANARY.encode() in everything_under(home.secrets_dir)
    out = ok_json(run_cli(home, "secret", "purge-history", "c", "KEEP", "--yes"))
    assert out["purged_keys"] == ["KEEP"]  # type: ignore[index]
    assert CANARY.encode() not in everything_under(home.secrets_dir)
    shown = ok_json(run_cli(home, "secret", "list", "c", "--show-values", "--yes"))
    assert shown["secrets"] == {"KEEP": "rotated"}  # type: ignore[index]
    events = [
        json.loads(line)["event"]
        for line in (state_dir(home) / "audit.log").read_text().splitlines()
    ]
    assert events.count("purge-history") == 1 and events.count("delete") == 1
    ok_json(run_cli(home, "secret", "audit", "--verify"))
    assert CANARY not in (state_dir(home) / "audit.log").read_text()


def test_purge_history_on_vault_destroys_the_old_versions(
    home: Home, bao_server: BaoServer
) -> None:
    configure_vault(home, bao_server)
    ok_json(run_cli(home, "secret", "set", "svc", f"LEAKED={CANARY}", "KEEP=1", "--force"))
    ok_json(run_cli(home, "secret", "set", "svc", "KEEP=2", "--force"))
    out = ok_json(run_cli(home, "secret", "delete", "svc", "LEAKED", "--purge-history"))
    assert out["purged_history"] == ["LEAKED"]  # type: ignore[index]
    hist = ok_json(run_cli(home, "secret", "history", "svc"))["history"]  # type: ignore[index]
    assert "LEAKED" not in hist or all(v["fingerprint"] is None for v in hist["LEAKED"])
    proc = run_cli(home, "secret", "rollback", "svc", "LEAKED")
    assert proc.returncode == 3, proc.stderr
    shown = ok_json(run_cli(home, "secret", "list", "svc", "--show-values", "--yes"))
    assert shown["secrets"] == {"KEEP": "2"}  # type: ignore[index]
    # Encryption at rest is the local store's: refused before anything changes.
    proc = run_cli(home, "secret", "encrypt", "svc")
    assert proc.returncode == 2 and "not supported on this backend (vault)" in proc.stderr
