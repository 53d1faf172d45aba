"""Every `wassette secret` command behaves identically on the file and the Vault backend."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import CANARY, Home, run_cli
from tests.secretstore.openbao import ROOT_TOKEN, BaoServer

SCRIPT: list[list[str]] = [
    ["list", "svc"],
    ["set", "svc", "API_KEY=sk_live_abc123", "URL=postgresql://u:p@h/db?x=1", "--force"],
    ["list", "svc"],
    ["list", "svc", "--show-values", "--yes"],
    ["list", "svc", "--show-values", "--yes", "-o", "yaml"],
    ["list", "svc", "--show-values", "--yes", "-o", "table"],
    ["set", "svc", "API_KEY=rotated", "EMPTY=", "--force"],
    ["list", "svc", "--show-values", "--yes"],
    ["delete", "svc", "API_KEY", "MISSING"],
    ["delete", "svc", "URL", "EMPTY"],
    ["list", "svc"],
    ["delete", "ghost", "X"],
    ["set", "svc", "1BAD=x", "--force"],
    ["set", "svc", "A=1"],  # not loaded, not forced
    ["list", "../escape"],
    ["list", "svc", "--show-values"],  # no TTY, no --yes
]


def configure_vault(home: Home, server: BaoServer) -> None:
    token_file = home.root / "vault-token"
    token_file.write_text(ROOT_TOKEN)
    home.config_file.parent.mkdir(parents=True, exist_ok=True)
    home.config_file.write_text(
        'secrets_backend = "vault"\n[vault]\n'
        f'address = "{server.address}"\ntoken_file = "{token_file}"\n'
        f'path_prefix = "wassette-cli-{uuid.uuid4().hex[:8]}"\n'
    )


def run_script(home: Home) -> list[tuple[int, str]]:
    return [(p.returncode, p.stdout) for p in (run_cli(home, "secret", *a) for a in SCRIPT)]


def test_same_outputs_and_exit_codes_on_file_and_vault(
    home: Home, tmp_path: Path, bao_server: BaoServer
) -> None:
    file_results = run_script(home)
    assert not (home.root / "config").exists()

    vault_home = Home(tmp_path / "vault-home", {**home.env})
    vault_home.root.mkdir()
    for key in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        vault_home.env[key] = home.env[key].replace(str(home.root), str(vault_home.root))
    configure_vault(vault_home, bao_server)
    vault_results = run_script(vault_home)

    for args, got_file, got_vault in zip(SCRIPT, file_results, vault_results, strict=True):
        assert got_file == got_vault, f"secret {' '.join(args[:2])} differs between backends"
    # ...and the script did what it says on both.
    assert json.loads(file_results[3][1])["secrets"]["URL"] == "postgresql://u:p@h/db?x=1"
    assert [code for code, _ in file_results[-4:]] == [2, 3, 2, 1]
    assert not (vault_home.root / "data" / "wassette" / "secrets").exists()  # nothing local


def test_vault_errors_are_clear_and_never_echo_values(home: Home, bao_server: BaoServer) -> None:
    home.config_file.parent.mkdir(parents=True)
    home.config_file.write_text(
        'secrets_backend = "vault"\n[vault]\naddress = "http://127.0.0.1:9"\n'
        "timeout = 0.5\nretries = 0\n"
    )
    proc = run_cli(
        home,
        "secret",
        "set",
        "svc",
        f"K={CANARY}",
        "--force",
        env={"VAULT_TOKEN": "not-a-real-token"},
    )
    assert proc.returncode != 0
    assert "127.0.0.1:9" in proc.stderr
    assert CANARY not in proc.stderr + proc.stdout
    assert "not-a-real-token" not in proc.stderr


@pytest.mark.parametrize("backend", ["nope", "vault"])
def test_backend_misconfiguration_is_a_config_error(home: Home, backend: str) -> None:
    home.config_file.parent.mkdir(parents=True)
    home.config_file.write_text(f'secrets_backend = "{backend}"\n')
    proc = run_cli(home, "secret", "list", "svc", env={"VAULT_ADDR": "", "VAULT_TOKEN": ""})
    assert proc.returncode == 4
    assert "hint:" in proc.stderr
