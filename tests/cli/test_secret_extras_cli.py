"""The secret commands beyond the spec, as real subprocesses: encrypt/decrypt, key status and
rotate (with SIGKILL at random points), history/rollback, audit, import/export, safe input."""

from __future__ import annotations

import base64
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_secret_cli import install_fake_component, ok_json
from tests.conftest import CANARY, Home, run_cli, run_cli_in_pty
from tests.secretstore.openbao import BaoServer


def everything_under(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def audit_log(home: Home) -> Path:
    return home.root / "state" / "wassette" / "audit.log"


def show(home: Home, cid: str, env: dict[str, str] | None = None) -> dict[str, str]:
    out = ok_json(run_cli(home, "secret", "list", cid, "--show-values", "--yes", env=env))
    return out["secrets"]  # type: ignore[index,no-any-return]


def test_encrypt_then_every_command_reads_it_and_no_file_holds_the_canary(home: Home) -> None:
    install_fake_component(home, "c")
    ok_json(run_cli(home, "secret", "set", "c", f"API_KEY={CANARY}-1", "DB=x"))
    ok_json(run_cli(home, "secret", "set", "c", f"API_KEY={CANARY}-2"))
    out = ok_json(run_cli(home, "secret", "encrypt", "c"))
    assert out["components"] == {"c": 5}  # type: ignore[index]  # 2 live + 3 in history
    assert CANARY.encode() not in everything_under(home.secrets_dir)
    text = (home.secrets_dir / "c.secrets.yaml").read_text()
    assert text.startswith('API_KEY: "ENC[AES256_GCM,data:')  # keys stay readable
    assert show(home, "c") == {"API_KEY": f"{CANARY}-2", "DB": "x"}
    assert ok_json(run_cli(home, "secret", "list", "c"))["secret_keys"] == ["API_KEY", "DB"]  # type: ignore[index]
    # New values go in encrypted; history and rollback work on the encrypted store.
    ok_json(run_cli(home, "secret", "set", "c", f"NEW={CANARY}-3"))
    proc = run_cli(home, "secret", "history", "c", "-o", "table")
    assert proc.returncode == 0 and "API_KEY" in proc.stdout and CANARY not in proc.stdout
    hist = ok_json(run_cli(home, "secret", "history", "c", "API_KEY"))
    assert [v["version"] for v in hist["history"]["API_KEY"]] == [1, 2]  # type: ignore[index]
    proc = run_cli(home, "secret", "rollback", "c", "API_KEY")
    assert ok_json(proc)["restored_version"] == 1  # type: ignore[index]
    assert CANARY not in proc.stdout + proc.stderr
    assert show(home, "c")["API_KEY"] == f"{CANARY}-1"
    assert CANARY.encode() not in everything_under(home.secrets_dir)
    assert CANARY not in audit_log(home).read_text()
    status = ok_json(run_cli(home, "secret", "key", "status"))
    assert status["custody"] == "key-file" and status["encrypted_components"] == ["c"]  # type: ignore[index]
    key_text = (home.root / "config" / "wassette" / "secrets.key").read_text().strip()
    assert key_text not in json.dumps(status)
    # Decrypt brings plaintext back, file and history.
    ok_json(run_cli(home, "secret", "decrypt", "--all"))
    assert b"ENC[" not in everything_under(home.secrets_dir)
    assert show(home, "c")["NEW"] == f"{CANARY}-3"
    events = [e["event"] for e in ok_json(run_cli(home, "secret", "audit", "c"))["events"]]  # type: ignore[index]
    assert events == [
        "set",
        "set",
        "encrypt",
        "reveal",
        "set",
        "rollback",
        "reveal",
        "decrypt",
        "reveal",
    ]


def test_wrong_key_from_the_environment_fails_closed_with_a_clear_error(home: Home) -> None:
    key1 = base64.b64encode(bytes(32)).decode()
    key2 = base64.b64encode(bytes([1]) * 32).decode()
    ok_json(run_cli(home, "secret", "set", "c", f"A={CANARY}", "B=2", "--force"))
    ok_json(run_cli(home, "secret", "encrypt", "c", env={"WASSETTE_SECRETS_KEY": key1}))
    assert not (home.root / "config" / "wassette" / "secrets.key").exists()
    proc = run_cli(home, "secret", "list", "c", env={"WASSETTE_SECRETS_KEY": key2})
    assert proc.returncode == 5
    assert "cannot decrypt A, B" in proc.stderr and "different key" in proc.stderr
    assert "key status" in proc.stderr
    assert CANARY not in proc.stdout + proc.stderr
    status = ok_json(run_cli(home, "secret", "key", "status", env={"WASSETTE_SECRETS_KEY": key2}))
    assert status["custody"] == "env-key"  # type: ignore[index]
    assert key2 not in json.dumps(status)
    proc = run_cli(home, "secret", "key", "rotate", env={"WASSETTE_SECRETS_KEY": key1})
    assert proc.returncode == 4 and "from the environment" in proc.stderr
    assert show(home, "c", {"WASSETTE_SECRETS_KEY": key1})["A"] == CANARY


def test_encrypt_new_in_the_config_file(home: Home) -> None:
    home.config_file.parent.mkdir(parents=True)
    home.config_file.write_text("encrypt_new = true\nhistory_limit = 2\n")
    ok_json(run_cli(home, "secret", "set", "c", f"A={CANARY}", "--force"))
    assert CANARY.encode() not in everything_under(home.secrets_dir)
    for i in range(5):
        ok_json(run_cli(home, "secret", "set", "c", f"A={CANARY}{i}", "--force"))
    hist = ok_json(run_cli(home, "secret", "history", "c", "A"))["history"]["A"]  # type: ignore[index]
    assert len(hist) == 3
    proc = run_cli(home, "secret", "list", "c")
    assert "unknown key" not in proc.stderr


def _kill_during_rotate(home: Home, delay: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wassette", "secret", "key", "rotate"],
        env=home.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def test_a_kill_at_any_point_of_key_rotate_leaves_everything_readable(home: Home) -> None:
    from wassette.secretstore.keys import KeyCustody
    from wassette.secretstore.store import SecretStore

    config_dir = home.root / "config" / "wassette"

    def open_store() -> SecretStore:
        custody = KeyCustody(environ={}, config_dir=config_dir, secrets_dir=home.secrets_dir)
        return SecretStore(home.secrets_dir, custody=custody, encrypt_new=True)

    expected = {f"comp{i:02d}": {"A": f"{CANARY}-{i}", "B": f"b{i}"} for i in range(40)}
    s = open_store()
    for cid, values in expected.items():
        s.set_many(cid, values)
        s.set_many(cid, {"A": values["A"]})
    # Time one whole rotation, then kill others at random points inside that window.
    t0 = time.monotonic()
    ok_json(run_cli(home, "secret", "key", "rotate"))
    full = time.monotonic() - t0
    rng = random.Random(1234)
    key_before = (config_dir / "secrets.key").read_text()
    mid_rotation = 0
    for attempt in range(30):
        _kill_during_rotate(home, rng.uniform(0.1, full * 1.1))
        if (config_dir / "secrets.key.next").exists():
            mid_rotation += 1  # killed between "pending key stored" and "commit"
        fresh = open_store()  # a new process's view: only what is on disk
        for cid, values in expected.items():
            assert dict(fresh.get_all(cid)) == values, cid
            fresh.key_history(cid, "A")  # history stays decryptable too
        if attempt >= 7 and mid_rotation >= 2:
            break
    assert mid_rotation >= 2, "no kill landed inside the re-encryption phase"
    # Finishing (or re-running) the rotation leaves one key and nothing pending.
    ok_json(run_cli(home, "secret", "key", "rotate"))
    assert not (config_dir / "secrets.key.next").exists()
    final = open_store()
    assert final.custody is not None and len(final.custody.keys().decrypt_keys) == 1
    for cid, values in expected.items():
        assert dict(final.get_all(cid)) == values
    assert CANARY.encode() not in everything_under(home.secrets_dir)
    assert (config_dir / "secrets.key").read_text() != key_before  # the key really changed


def test_history_and_rollback_never_print_values(home: Home) -> None:
    ok_json(run_cli(home, "secret", "set", "c", f"K={CANARY}-a", "--force"))
    ok_json(run_cli(home, "secret", "set", "c", f"K={CANARY}-b", "--force"))
    ok_json(run_cli(home, "secret", "delete", "c", "K"))
    for fmt in ("json", "yaml", "table"):
        proc = run_cli(home, "secret", "history", "c", "-o", fmt)
        assert proc.returncode == 0 and CANARY not in proc.stdout + proc.stderr
    rows = ok_json(run_cli(home, "secret", "history", "c", "K"))["history"]["K"]  # type: ignore[index]
    assert [r["operation"] for r in rows] == ["set", "set", "delete"]
    assert rows[2]["fingerprint"] is None and rows[0]["fingerprint"] != rows[1]["fingerprint"]
    assert all(r["actor"] for r in rows)
    proc = run_cli(home, "secret", "rollback", "c", "K", "--to", "1")
    assert ok_json(proc)["restored_version"] == 1 and CANARY not in proc.stdout  # type: ignore[index]
    assert show(home, "c") == {"K": f"{CANARY}-a"}
    proc = run_cli(home, "secret", "rollback", "c", "K", "--to", "42")
    assert proc.returncode == 3 and "versions kept: 1, 2, 3, 4" in proc.stderr


def test_vault_history_and_rollback_use_kv2_versions(home: Home, bao_server: BaoServer) -> None:
    from tests.cli.test_secret_cli_backends import configure_vault

    configure_vault(home, bao_server)
    ok_json(run_cli(home, "secret", "set", "c", f"K={CANARY}-a", "OTHER=1", "--force"))
    ok_json(run_cli(home, "secret", "set", "c", "OTHER=2", "--force"))  # K unchanged
    ok_json(run_cli(home, "secret", "set", "c", f"K={CANARY}-b", "--force"))
    ok_json(run_cli(home, "secret", "delete", "c", "K"))
    proc = run_cli(home, "secret", "history", "c", "K")
    assert CANARY not in proc.stdout + proc.stderr
    rows = ok_json(proc)["history"]["K"]  # type: ignore[index]
    assert [(r["version"], r["operation"]) for r in rows] == [
        (1, "write"),
        (3, "write"),
        (4, "delete"),
    ]
    assert rows[-1]["current"] and rows[0]["fingerprint"] != rows[1]["fingerprint"]
    proc = run_cli(home, "secret", "rollback", "c", "K")
    assert ok_json(proc)["restored_version"] == 3 and CANARY not in proc.stdout  # type: ignore[index]
    assert show(home, "c") == {"K": f"{CANARY}-b", "OTHER": "2"}
    ok_json(run_cli(home, "secret", "rollback", "c", "K", "--to", "1"))
    assert show(home, "c")["K"] == f"{CANARY}-a"
    # Encryption at rest and key rotation are the file store's: Vault encrypts its storage.
    for args in (["encrypt", "c"], ["decrypt", "--all"], ["key", "status"], ["key", "rotate"]):
        proc = run_cli(home, "secret", *args)
        assert proc.returncode == 2, proc.stderr
        assert "not supported on this backend (vault)" in proc.stderr


def test_audit_verify_catches_an_edited_line(home: Home) -> None:
    for i in range(4):
        ok_json(run_cli(home, "secret", "set", "c", f"K{i}=v", "--force"))
    assert ok_json(run_cli(home, "secret", "audit", "--verify"))["lines"] == 4  # type: ignore[index]
    path = audit_log(home)
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"K1"', '"K7"')
    path.write_text("".join(lines))
    proc = run_cli(home, "secret", "audit", "--verify")
    assert proc.returncode == 5
    assert "fails verification at line 2" in proc.stderr and "edited" in proc.stderr


# ------------------------------------------------------------------------- import / export


def test_import_export_round_trip_and_dry_run(home: Home, tmp_path: Path) -> None:
    values = {"A": "yes", "B": "multi\nline $HOME `x` \"q\" 'q'", "C": "", "D": f"{CANARY} é\t"}
    for fmt in ("yaml", "json", "env"):
        src, dst = f"src-{fmt}", f"dst-{fmt}"
        ok_json(
            run_cli(home, "secret", "set", src, *[f"{k}={v}" for k, v in values.items()], "--force")
        )
        exported = run_cli(home, "secret", "export", src, "-o", fmt, "--yes")
        assert exported.returncode == 0 and exported.stderr == ""
        file = tmp_path / f"backup.{fmt}"
        file.write_text(exported.stdout)
        dry = ok_json(
            run_cli(home, "secret", "import", dst, str(file), "--format", fmt, "--dry-run")
        )
        assert dry["added"] == sorted(values) and dry["dry_run"] is True  # type: ignore[index]
        assert not (home.secrets_dir / f"{dst}.secrets.yaml").exists()
        out = ok_json(run_cli(home, "secret", "import", dst, str(file), "--format", fmt, "--force"))
        assert CANARY not in json.dumps(out)
        assert show(home, dst) == values
    # From stdin, with --replace removing keys the input does not have.
    proc = run_cli(
        home,
        "secret",
        "import",
        "dst-env",
        "-",
        "--format",
        "env",
        "--replace",
        "--force",
        input='A="yes"\nNEW=1\n',
    )
    out = ok_json(proc)
    assert out["removed"] == ["B", "C", "D"] and out["added"] == ["NEW"]  # type: ignore[index]
    assert show(home, "dst-env") == {"A": "yes", "NEW": "1"}
    assert CANARY not in audit_log(home).read_text()


def test_malformed_import_changes_nothing_and_never_echoes(home: Home, tmp_path: Path) -> None:
    ok_json(run_cli(home, "secret", "set", "c", "KEEP=1", "--force"))
    path = home.secrets_dir / "c.secrets.yaml"
    before = path.read_bytes()
    hist_before = (home.secrets_dir / ".history" / "c.history.json").read_bytes()
    audit_before = audit_log(home).read_bytes()
    bad = tmp_path / "bad.env"
    bad.write_text(f"GOOD=1\nOTHER=2\n{CANARY}\n")
    for extra in ([], ["--replace"]):
        proc = run_cli(home, "secret", "import", "c", str(bad), "--force", *extra)
        assert proc.returncode == 2
        assert "line 3" in proc.stderr and CANARY not in proc.stdout + proc.stderr
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(f'{{"GOOD": "1", "X": {{"nested": "{CANARY}"}}}}')
    proc = run_cli(home, "secret", "import", "c", str(bad_json), "--force")
    assert proc.returncode == 2 and CANARY not in proc.stderr
    assert path.read_bytes() == before
    assert (home.secrets_dir / ".history" / "c.history.json").read_bytes() == hist_before
    assert audit_log(home).read_bytes() == audit_before


def test_export_needs_the_same_confirmation_as_show_values(home: Home) -> None:
    ok_json(run_cli(home, "secret", "set", "c", f"A={CANARY}", "--force"))
    proc = run_cli(home, "secret", "export", "c", input="y\n")
    assert proc.returncode == 1 and "--yes" in proc.stderr
    assert CANARY not in proc.stdout + proc.stderr
    events = [e["event"] for e in ok_json(run_cli(home, "secret", "audit"))["events"]]  # type: ignore[index]
    assert "export" not in events
    code, out, err = run_cli_in_pty(home, ["secret", "export", "c", "-o", "env"], b"[y/N]", b"y\n")
    assert code == 0 and out == f'A="{CANARY}"\n' and "Export secret values of 'c'?" in err
    events = [e["event"] for e in ok_json(run_cli(home, "secret", "audit"))["events"]]  # type: ignore[index]
    assert events[-1] == "export"


# ------------------------------------------------------------------------- safe input


def test_set_without_value_prompts_with_echo_off_on_a_tty(home: Home) -> None:
    code, out, err = run_cli_in_pty(
        home,
        ["secret", "set", "c", "API_KEY", "OTHER=1", "--force"],
        b"(input hidden): ",
        f"{CANARY} x\n".encode(),
    )
    assert code == 0, err
    assert "Value for API_KEY (input hidden): " in err
    assert CANARY not in out + err  # not echoed by the terminal, not printed by us
    assert show(home, "c") == {"API_KEY": f"{CANARY} x", "OTHER": "1"}


@pytest.mark.parametrize(
    ("piped", "stored"),
    [
        (f"{CANARY}\n", CANARY),
        (f"{CANARY}\n\n", f"{CANARY}\n"),  # exactly one trailing newline is removed
        (f"{CANARY}", CANARY),
        (f" {CANARY} \r\nsecond line", f" {CANARY} \r\nsecond line"),
    ],
)
def test_set_without_value_reads_one_value_from_a_pipe(home: Home, piped: str, stored: str) -> None:
    proc = run_cli(home, "secret", "set", "c", "API_KEY", "--force", input=piped)
    assert ok_json(proc)["message"] == "Set 1 secret(s) for component c"  # type: ignore[index]
    assert CANARY not in proc.stdout + proc.stderr
    assert show(home, "c") == {"API_KEY": stored}


def test_set_without_value_and_empty_pipe_or_two_bare_keys_is_refused(home: Home) -> None:
    proc = run_cli(home, "secret", "set", "c", "API_KEY", "--force", input="")
    assert proc.returncode == 2 and "no value for API_KEY on standard input" in proc.stderr
    proc = run_cli(home, "secret", "set", "c", "A", "B", "--force", input="x\n")
    assert proc.returncode == 2 and "only one value" in proc.stderr
    assert not home.secrets_dir.exists()


def test_decrypt_and_rotate_on_a_plaintext_store_need_no_key(home: Home) -> None:
    ok_json(run_cli(home, "secret", "set", "c", "A=1", "--force"))
    out = ok_json(run_cli(home, "secret", "decrypt", "--all"))
    assert out["components"] == {"c": 0}  # type: ignore[index]
    assert not (home.root / "config").exists()  # no key was created for nothing
    proc = run_cli(home, "secret", "encrypt", "c", "--all")
    assert proc.returncode == 2 and "either a component id or --all" in proc.stderr
