"""`wassette policy get` and `wassette permission grant|revoke|reset` as real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Home, run_cli


@pytest.fixture
def hello(home: Home) -> str:
    home.plugin_dir.mkdir(parents=True)
    (home.plugin_dir / "hello.wasm").write_bytes(b"\0asm")  # policy commands only check it exists
    return "hello"


def ok(home: Home, *args: str) -> dict[str, object]:
    proc = run_cli(home, *args)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert isinstance(out, dict)
    return out


def test_no_policy_means_deny_everything(home: Home, hello: str) -> None:
    out = ok(home, "policy", "get", hello)
    assert out["policy"] is None
    assert "denied everything" in str(out["message"])


def test_grant_revoke_reset_round_trip(home: Home, hello: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    out = ok(
        home, "permission", "grant", "storage", hello, f"fs://{data}", "--access", "read,write"
    )
    assert out["status"] == "permission granted successfully"
    assert out["permission_type"] == "storage"
    assert out["details"] == {"uri": f"fs://{data}", "access": ["read", "write"]}
    ok(home, "permission", "grant", "network", hello, "api.example.com")
    ok(home, "permission", "grant", "network", hello, "api.example.com")  # grants dedupe
    ok(home, "permission", "grant", "environment-variable", hello, "API_KEY")
    ok(home, "permission", "grant", "memory", hello, "512Mi")
    policy = ok(home, "policy", "get", hello)["policy"]
    assert policy == {
        "version": "1.0",
        "permissions": {
            "storage": {"allow": [{"uri": f"fs://{data}", "access": ["read", "write"]}]},
            "network": {"allow": [{"host": "api.example.com"}]},
            "environment": {"allow": [{"key": "API_KEY"}]},
            "resources": {"limits": {"memory": "512Mi"}},
        },
    }
    out = ok(home, "permission", "revoke", "storage", hello, f"fs://{data}")
    assert out["status"] == "permission revoked successfully"
    ok(home, "permission", "revoke", "network", hello, "api.example.com")
    ok(home, "permission", "revoke", "environment-variable", hello, "API_KEY")
    ok(home, "permission", "revoke", "memory", hello)
    assert ok(home, "policy", "get", hello)["policy"] == {"version": "1.0", "permissions": {}}
    ok(home, "permission", "reset", hello)
    assert not (home.plugin_dir / "hello.policy.yaml").exists()
    assert ok(home, "policy", "get", hello)["policy"] is None


def test_comments_a_person_wrote_survive_grants(home: Home, hello: str) -> None:
    path = home.plugin_dir / "hello.policy.yaml"
    path.write_text(
        '# owned by the platform team\nversion: "1.0"\npermissions:\n  network:\n'
        '    allow:\n      - host: "a.example.com"  # the upstream API\n'
    )
    ok(home, "permission", "grant", "network", hello, "b.example.com")
    text = path.read_text()
    assert "# owned by the platform team" in text
    assert "# the upstream API" in text
    assert "b.example.com" in text


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (
            [
                "permission",
                "grant",
                "storage",
                "hello",
                "fs:///nonexistent-dir",
                "--access",
                "exec",
            ],
            2,
            "--access",
        ),
        (
            ["permission", "grant", "storage", "hello", "relative/path", "--access", "read"],
            6,
            "storage",
        ),
        (["permission", "grant", "network", "hello", "not a host"], 6, "host"),
        (["permission", "grant", "memory", "hello", "lots"], 6, "memory"),
        (["permission", "grant", "environment-variable", "hello", "1BAD"], 6, "1BAD"),
        (["permission", "grant", "network", "ghost", "a.example.com"], 3, "not loaded"),
        (["policy", "get", "ghost"], 3, "loaded: hello"),
    ],
)
def test_invalid_grants_are_clear_errors_and_change_nothing(
    home: Home, hello: str, args: list[str], code: int, needle: str
) -> None:
    proc = run_cli(home, *args)
    assert proc.returncode == code, proc.stderr
    assert needle in proc.stderr
    assert "hint:" in proc.stderr
    assert not (home.plugin_dir / "hello.policy.yaml").exists()
    assert not (home.plugin_dir / "ghost.policy.yaml").exists()


def test_policy_get_yaml_and_table(home: Home, hello: str) -> None:
    ok(home, "permission", "grant", "network", hello, "api.example.com")
    proc = run_cli(home, "policy", "get", hello, "-o", "yaml")
    assert 'host: "api.example.com"' in proc.stdout
    proc = run_cli(home, "policy", "get", hello, "-o", "table")
    assert proc.stdout.splitlines()[0].split() == ["KEY", "VALUE"]
