"""`wassette secret list | set | delete` as real subprocesses, exactly as the spec writes them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml as pyyaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CANARY, Home, run_cli, run_cli_in_pty


def install_fake_component(home: Home, component_id: str) -> None:
    """`secret set` only checks that <id>.wasm exists; the runtime tests use real ones."""
    home.plugin_dir.mkdir(parents=True, exist_ok=True)
    (home.plugin_dir / f"{component_id}.wasm").write_bytes(b"\0asm")


def ok_json(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_list_of_a_component_without_secrets_is_empty(home: Home) -> None:
    out = ok_json(run_cli(home, "secret", "list", "time-component"))
    assert out == {"status": "success", "component_id": "time-component", "secret_keys": []}
    assert not home.secrets_dir.exists()  # listing creates nothing


def test_set_list_delete_walkthrough(home: Home) -> None:
    install_fake_component(home, "api-client-abc123")
    proc = run_cli(
        home,
        "secret",
        "set",
        "api-client-abc123",
        "API_KEY=sk_live_abc123",
        "API_ENDPOINT=https://api.example.com/?a=b&c=d",
    )
    assert ok_json(proc) == {
        "status": "success",
        "component_id": "api-client-abc123",
        "message": "Set 2 secret(s) for component api-client-abc123",
    }
    assert proc.stdout.startswith('{\n  "status": "success",\n')  # pretty, 2-space indent
    path = home.secrets_dir / "api-client-abc123.secrets.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.secrets_dir.stat().st_mode) == 0o700

    out = ok_json(run_cli(home, "secret", "list", "api-client-abc123"))
    assert out == {
        "status": "success",
        "component_id": "api-client-abc123",
        "secret_keys": ["API_ENDPOINT", "API_KEY"],
    }
    out = ok_json(run_cli(home, "secret", "list", "api-client-abc123", "--show-values", "--yes"))
    assert out == {
        "status": "success",
        "component_id": "api-client-abc123",
        "secrets": {
            "API_ENDPOINT": "https://api.example.com/?a=b&c=d",  # split on the first '=' only
            "API_KEY": "sk_live_abc123",
        },
    }
    # Rotation: update in place.
    ok_json(run_cli(home, "secret", "set", "api-client-abc123", "API_KEY=sk_live_new_key_xyz"))
    out = ok_json(run_cli(home, "secret", "list", "api-client-abc123", "--show-values", "-y"))
    assert out["secrets"]["API_KEY"] == "sk_live_new_key_xyz"  # type: ignore[index]

    out = ok_json(run_cli(home, "secret", "delete", "api-client-abc123", "API_KEY", "NOPE"))
    assert out == {
        "status": "success",
        "component_id": "api-client-abc123",
        "message": "Deleted 1 secret(s) from component api-client-abc123",
        "deleted_keys": ["API_KEY"],
    }
    ok_json(run_cli(home, "secret", "delete", "api-client-abc123", "API_ENDPOINT"))
    assert path.exists()  # the file is preserved even when empty
    out = ok_json(run_cli(home, "secret", "list", "api-client-abc123"))
    assert out["secret_keys"] == []  # type: ignore[index]
    # Deleting from a component that never had secrets is not an error.
    ok_json(run_cli(home, "secret", "delete", "never-had-any", "X"))


def test_set_requires_a_loaded_component_unless_forced(home: Home) -> None:
    install_fake_component(home, "weather")
    install_fake_component(home, "fetch_rs")
    proc = run_cli(home, "secret", "set", "wether", "API_KEY=x")
    assert proc.returncode == 3
    assert "component 'wether' is not loaded" in proc.stderr
    assert "loaded: fetch_rs, weather" in proc.stderr
    assert "--force" in proc.stderr
    assert not home.secrets_dir.exists()
    ok_json(run_cli(home, "secret", "set", "wether", "API_KEY=x", "--force"))
    assert (home.secrets_dir / "wether.secrets.yaml").exists()


@pytest.mark.parametrize("flag", ["--plugin-dir", "--component-dir"])
def test_plugin_dir_and_its_alias_select_the_component_dir(
    home: Home, tmp_path: Path, flag: str
) -> None:
    custom = tmp_path / "custom-components"
    custom.mkdir()
    (custom / "mine.wasm").write_bytes(b"\0asm")
    assert run_cli(home, "secret", "set", "mine", "A=1").returncode == 3
    ok_json(run_cli(home, "secret", "set", "mine", "A=1", flag, str(custom)))
    out = ok_json(run_cli(home, "secret", "list", "mine", flag, str(custom)))
    assert out["secret_keys"] == ["A"]  # type: ignore[index]
    ok_json(run_cli(home, "secret", "delete", "mine", "A", flag, str(custom)))


def test_secrets_dir_from_config_file_and_environment(home: Home, tmp_path: Path) -> None:
    from_config = tmp_path / "from-config"
    from_env = tmp_path / "from-env"
    home.config_file.parent.mkdir(parents=True)
    home.config_file.write_text(f'secrets_dir = "{from_config}"\n')
    ok_json(run_cli(home, "secret", "set", "c", "A=1", "--force"))
    assert (from_config / "c.secrets.yaml").exists()
    # WASSETTE_SECRETS_DIR beats the config file.
    ok_json(
        run_cli(
            home,
            "secret",
            "set",
            "c",
            "B=2",
            "--force",
            env={"WASSETTE_SECRETS_DIR": str(from_env)},
        )
    )
    assert (from_env / "c.secrets.yaml").exists()
    assert "B" not in (from_config / "c.secrets.yaml").read_text()
    # WASSETTE_CONFIG_FILE points at another config file.
    other = tmp_path / "other.toml"
    other.write_text(f'secrets_dir = "{tmp_path / "other"}"\n')
    ok_json(
        run_cli(
            home, "secret", "set", "c", "C=3", "--force", env={"WASSETTE_CONFIG_FILE": str(other)}
        )
    )
    assert (tmp_path / "other" / "c.secrets.yaml").exists()


def test_broken_config_file_is_a_clear_error(home: Home) -> None:
    home.config_file.parent.mkdir(parents=True)
    home.config_file.write_text(f'secrets_dir = "unterminated\nkey = "{CANARY}"\n')
    proc = run_cli(home, "secret", "list", "c")
    assert proc.returncode == 4
    assert str(home.config_file) in proc.stderr
    assert "line 1" in proc.stderr
    assert CANARY not in proc.stderr


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "a" * 129, "-x"])
def test_invalid_ids_are_refused_and_create_nothing(home: Home, bad: str) -> None:
    # `--` so that an id starting with '-' reaches the id check rather than option parsing.
    for args in (
        ["set", "--force", "--", bad, "A=1"],
        ["list", "--", bad],
        ["delete", "--", bad, "A"],
    ):
        proc = run_cli(home, "secret", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "invalid component id" in proc.stderr
    assert not (home.root / "data").exists()


@pytest.mark.parametrize(
    ("arg", "expect"),
    [
        (f"sk_live_{CANARY}", "is not KEY=VALUE"),
        (f"={CANARY}", "has an empty key"),
        (f"1BAD={CANARY}", "has an invalid key"),
        (f"{CANARY}-x={CANARY}", "has an invalid key"),
    ],
)
def test_malformed_assignments_never_echo_the_argument(home: Home, arg: str, expect: str) -> None:
    proc = run_cli(home, "secret", "set", "c", "GOOD=1", arg, "--force")
    assert proc.returncode == 2
    assert "secret argument 2" in proc.stderr
    assert expect in proc.stderr
    assert CANARY not in proc.stderr + proc.stdout
    assert not home.secrets_dir.exists()  # all-or-nothing: GOOD was not written either


def test_show_values_without_a_terminal_refuses_and_names_yes(home: Home) -> None:
    install_fake_component(home, "c")
    ok_json(run_cli(home, "secret", "set", "c", f"API_KEY={CANARY}"))
    proc = run_cli(home, "secret", "list", "c", "--show-values", input="y\n")
    assert proc.returncode == 1
    assert "--yes" in proc.stderr
    assert CANARY not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("answer", "shown"),
    [(b"y\n", True), (b"YES\n", True), (b"n\n", False), (b"\n", False), (b"sure\n", False)],
)
def test_show_values_prompts_on_stderr_and_honours_the_answer(
    home: Home, answer: bytes, shown: bool
) -> None:
    install_fake_component(home, "c")
    ok_json(run_cli(home, "secret", "set", "c", f"API_KEY={CANARY}"))
    code, out, err = run_cli_in_pty(
        home, ["secret", "list", "c", "--show-values"], b"[y/N]", answer
    )
    assert "Show secret values for 'c'? [y/N]" in err
    assert CANARY not in err
    if shown:
        assert code == 0
        assert json.loads(out)["secrets"] == {"API_KEY": CANARY}
    else:
        assert code == 1
        assert out == ""
        assert "aborted" in err


def test_yaml_output_is_a_clean_backup_any_yaml_reader_restores(home: Home) -> None:
    install_fake_component(home, "my-component")
    values = {
        "A": "yes",
        "B": "0123",
        "C": "null",
        "D": "multi\nline",
        "E": "",
        "ON": "~",
        "F": "x: y # z",
        "G": "日本",
    }
    ok_json(
        run_cli(home, "secret", "set", "my-component", *[f"{k}={v}" for k, v in values.items()])
    )
    proc = run_cli(home, "secret", "list", "my-component", "--show-values", "--yes", "-o", "yaml")
    assert proc.returncode == 0
    assert proc.stderr == ""  # nothing but data on stdout, nothing extra anywhere
    backup = pyyaml.safe_load(proc.stdout)  # YAML 1.1 reader: the strictest about `yes`/`ON`
    assert backup == {"status": "success", "component_id": "my-component", "secrets": values}
    keys_only = pyyaml.safe_load(
        run_cli(home, "secret", "list", "my-component", "-o", "yaml").stdout
    )
    assert keys_only["secret_keys"] == sorted(values)


def test_table_output_is_aligned(home: Home) -> None:
    install_fake_component(home, "c")
    ok_json(run_cli(home, "secret", "set", "c", "A=1", "LONGER_KEY=two\nlines"))
    proc = run_cli(home, "secret", "list", "c", "-o", "table")
    assert proc.stdout.splitlines() == ["KEY", "A", "LONGER_KEY"]
    proc = run_cli(home, "secret", "list", "c", "-o", "table", "--show-values", "--yes")
    assert proc.stdout.splitlines() == [
        "KEY         VALUE",
        "A           1",
        "LONGER_KEY  two\\nlines",
    ]


def test_corrupt_file_is_reported_with_position_and_left_untouched(home: Home) -> None:
    home.secrets_dir.mkdir(parents=True)
    path = home.secrets_dir / "c.secrets.yaml"
    path.write_text(f'GOOD: "1"\nBAD: "{CANARY}\n')
    os.chmod(path, 0o600)
    before = path.read_bytes()
    for args in (["list", "c"], ["set", "c", "X=1", "--force"], ["delete", "c", "GOOD"]):
        proc = run_cli(home, "secret", *args)
        assert proc.returncode == 5, proc.stderr
        assert str(path) in proc.stderr
        assert "line" in proc.stderr
        assert CANARY not in proc.stderr + proc.stdout
    assert path.read_bytes() == before


def test_loose_permissions_warn_on_stderr(home: Home) -> None:
    home.secrets_dir.mkdir(parents=True)
    os.chmod(home.secrets_dir, 0o755)  # noqa: S103 - the loose mode under test
    proc = run_cli(home, "secret", "set", "c", "A=1", "--force")
    assert proc.returncode == 0
    assert f"chmod 700 {home.secrets_dir}" in proc.stderr


def test_secret_commands_import_neither_wasmtime_nor_mcp(home: Home) -> None:
    code = (
        "import sys\n"
        "from wassette.cli import main\n"
        "try:\n"
        "    main(['secret', 'set', 'c', 'A=1', '--force'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "try:\n"
        "    main(['secret', 'list', 'c', '--show-values', '--yes'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('wasmtime', 'mcp'))\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=home.env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=\n" in proc.stdout


def test_concurrent_cli_processes_lose_no_update(home: Home) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "wassette", "secret", "set", "c", f"K{i}=v{i}", "--force"],
            env=home.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(12)
    ]
    for p in procs:
        # communicate(), not wait(): it drains and closes the stderr pipe (no unclosed-file
        # warning, no deadlock on a chatty child) and shows the child's error on failure.
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    out = ok_json(run_cli(home, "secret", "list", "c"))
    assert out["secret_keys"] == sorted(f"K{i}" for i in range(12))  # type: ignore[index]


def test_help_and_version(home: Home) -> None:
    proc = run_cli(home, "--help")
    assert proc.returncode == 0 and "secret" in proc.stdout
    proc = run_cli(home, "secret", "set", "--help")
    assert "--force" in proc.stdout and "--plugin-dir" in proc.stdout
    assert run_cli(home, "--version").stdout.startswith("wassette, version")


argv_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=80,
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(value=argv_text)
def test_any_text_round_trips_through_set_then_list(home: Home, value: str) -> None:
    from click.testing import CliRunner

    from wassette.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["secret", "set", "c", f"K={value}", "--force"], env=home.env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["secret", "list", "c", "--show-values", "--yes"], env=home.env)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["secrets"]["K"] == value
