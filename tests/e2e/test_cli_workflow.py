"""The command line end to end, as real subprocesses: the spec's workflow, component lifecycle,
tools and inspection, against a real OCI registry (Debian's docker-registry on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.componentbuild import build_component, install_component
from tests.components.conftest import oci_registry  # noqa: F401 - a session fixture
from tests.components.ocipush import WASM_LAYER, Pusher
from tests.components.registry_server import RegistryServer
from tests.conftest import CANARY, Home, run_cli


def ok(home: Home, *args: str) -> dict[str, object]:
    proc = run_cli(home, *args)
    assert proc.returncode == 0, f"wassette {' '.join(args[:2])}: {proc.stderr}"
    out = json.loads(proc.stdout)
    assert isinstance(out, dict)
    return out


@pytest.fixture(scope="module")
def api_client_ref(oci_registry: RegistryServer) -> str:  # noqa: F811
    """The env-reader component pushed as `example/api-client:latest`."""
    pusher = Pusher(oci_registry.url)
    try:
        pusher.push_artifact(
            "example/api-client",
            "latest",
            [(WASM_LAYER, build_component("env-reader").read_bytes())],
        )
    finally:
        pusher.close()
    return f"oci://{oci_registry.url.split('://', 1)[1]}/example/api-client:latest"


def test_the_specs_first_workflow_end_to_end(home: Home, api_client_ref: str) -> None:
    # 1. Load the component (from the local registry).
    out = ok(home, "component", "load", api_client_ref)
    assert out["status"] == "component loaded successfully"
    assert out["id"] == "example_api-client"
    assert out["tools"] == ["get-var", "list-vars"]
    cid = str(out["id"])
    # 3. Set required secrets.
    out = ok(
        home, "secret", "set", cid, "API_KEY=sk_live_abc123", "API_ENDPOINT=https://api.example.com"
    )
    assert out["message"] == f"Set 2 secret(s) for component {cid}"
    # 4. Verify secrets were set.
    assert ok(home, "secret", "list", cid)["secret_keys"] == ["API_ENDPOINT", "API_KEY"]
    # Without a grant the component sees nothing.
    assert ok(home, "tool", "invoke", "list-vars")["result"] == []
    # Grant the environment variable; the tool sees the secret (redacted on the way out).
    ok(home, "permission", "grant", "environment-variable", cid, "API_KEY")
    got = ok(home, "tool", "invoke", "get-var", "--args", '{"key": "API_KEY"}')
    assert got["result"] == "[REDACTED:API_KEY]"  # the exact injected value came back
    ok(home, "permission", "grant", "environment-variable", cid, "API_ENDPOINT", "--no-redact")
    got = ok(home, "tool", "invoke", "get-var", "--args", '{"key": "API_ENDPOINT"}')
    assert got["result"] == "https://api.example.com"
    # Example 2: rotate; the next invoke sees the new value (opted out to show it).
    ok(home, "secret", "set", cid, "API_ENDPOINT=https://api2.example.com")
    got = ok(home, "tool", "invoke", "get-var", "--args", '{"key": "API_ENDPOINT"}')
    assert got["result"] == "https://api2.example.com"
    ok(home, "secret", "set", cid, f"API_KEY={CANARY}")
    proc = run_cli(home, "tool", "invoke", "list-vars")
    assert CANARY not in proc.stdout + proc.stderr
    assert "[REDACTED:API_KEY]" in proc.stdout  # the rotated value was injected
    # Status shows where each value comes from, never the value.
    status = run_cli(home, "secret", "status", cid)
    assert CANARY not in status.stdout
    assert json.loads(status.stdout)["environment"][0] == {
        "key": "API_KEY",
        "source": "secret",
        "required": False,
    }
    # Example 3: clean up.
    ok(home, "secret", "delete", cid, "API_KEY", "API_ENDPOINT")
    assert ok(home, "secret", "list", cid)["secret_keys"] == []
    out = ok(home, "component", "unload", cid)
    assert out["status"] == "component unloaded successfully"
    assert ok(home, "component", "list")["components"] == []
    # The (now empty) secrets file survives the unload, as the spec's clean-up expects.
    assert (home.secrets_dir / f"{cid}.secrets.yaml").exists()
    # The audit trail saw the injections, with key names and tiers only.
    audit = (home.root / "state" / "wassette" / "audit.log").read_text()
    assert '"event":"inject"' in audit and CANARY not in audit


def test_component_lifecycle_from_a_file(home: Home, tmp_path: Path) -> None:
    wasm = tmp_path / "fetch_rs.wasm"
    wasm.write_bytes(build_component("hello").read_bytes())
    out = ok(home, "component", "load", f"file://{wasm}")
    assert (out["status"], out["id"], out["tools"]) == (
        "component loaded successfully",
        "fetch_rs",
        ["greet"],
    )
    digest = out["digest"]
    # A bare path names the same file: a reload, not a replacement.
    assert ok(home, "component", "load", str(wasm))["status"] == "component reloaded successfully"
    listing = ok(home, "component", "list")
    assert listing == {
        "components": [
            {
                "id": "fetch_rs",
                "tools": 1,
                "policy": False,
                "source": wasm.as_uri(),
                "digest": digest,
            }
        ],
        "total": 1,
    }
    table = run_cli(home, "component", "list", "-o", "table").stdout.splitlines()
    assert table[0].split() == ["ID", "TOOLS", "POLICY", "SOURCE", "DIGEST"]
    assert table[1].split() == ["fetch_rs", "1", "no", wasm.as_uri(), str(digest)[:19]]
    assert ok(home, "tool", "invoke", "greet", "--args", '{"name": "spec"}')["result"] == (
        "hello, spec"
    )
    read = ok(home, "tool", "read", "greet")
    assert read["inputSchema"] == {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    assert read["outputSchema"] == {
        "type": "object",
        "properties": {"result": {"type": "string"}},
        "required": ["result"],
        "additionalProperties": False,
    }
    info = ok(home, "inspect", "fetch_rs")
    assert info["component_id"] == "fetch_rs" and info["policy"] is None
    assert info["source"]["uri"] == wasm.as_uri()  # type: ignore[index]
    assert [t["name"] for t in info["tools"]] == ["greet"]  # type: ignore[index, union-attr]
    files = {p.name for p in home.plugin_dir.iterdir() if not p.name.startswith(".")}
    assert {"fetch_rs.wasm", "fetch_rs.compiled", "fetch_rs.tools.json"} <= files
    out = ok(home, "component", "unload", "fetch_rs")
    assert "fetch_rs.wasm" in out["removed"]  # type: ignore[operator]
    assert not [p for p in home.plugin_dir.iterdir() if p.name.startswith("fetch_rs")]


@pytest.mark.parametrize(
    ("args", "code", "needles"),
    [
        (["component", "load", "file:///nonexistent/x.wasm"], 3, ["x.wasm"]),
        (["component", "unload", "ghost"], 3, ["not loaded"]),
        (["tool", "invoke", "nope"], 3, ["no tool named 'nope'", "wassette tool list"]),
        (["tool", "invoke", "greet", "--args", f'{{"name": "{CANARY}"'], 2, ["not valid JSON"]),
        (["tool", "invoke", "greet", "--args", "[1]"], 2, ["JSON object"]),
        (["tool", "invoke", "greet", "--args", '{"nom": "x"}'], 2, ["name"]),
        (["inspect", "ghost"], 3, ["not loaded"]),
    ],
)
def test_errors_are_clear(home: Home, args: list[str], code: int, needles: list[str]) -> None:
    install_component("hello", home.plugin_dir)
    proc = run_cli(home, *args)
    assert proc.returncode == code, proc.stderr
    for needle in needles:
        assert needle in proc.stderr
    assert "hint:" in proc.stderr
    assert CANARY not in proc.stderr


def test_a_broken_download_leaves_the_installed_version(home: Home, tmp_path: Path) -> None:
    good = tmp_path / "comp.wasm"
    good.write_bytes(build_component("hello").read_bytes())
    ok(home, "component", "load", str(good))
    before = (home.plugin_dir / "comp.wasm").read_bytes()
    good.write_bytes(b"\0asm\x0d\x00\x01\x00garbage")  # a component header, then junk
    proc = run_cli(home, "component", "load", str(good))
    assert proc.returncode == 7, proc.stderr
    assert (home.plugin_dir / "comp.wasm").read_bytes() == before
    assert ok(home, "tool", "invoke", "greet", "--args", '{"name": "still"}')["result"] == (
        "hello, still"
    )
