"""CLI parity with Wassette 0.8.0: `serve` defaults to streamable HTTP, `-o/--output-format`,
the global `--component-dir`, `autocomplete <shell>`, `--version` with build information,
`registry search/get` over the shipped catalogue (plus the operator's), `manifest check` and
`manifest export`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import Home, run_cli
from tests.e2e.mcpserver import free_port
from tests.manifest.watcomponents import write_answer

# The eleven entries of Wassette 0.8.0's `registry search` (names and URIs).
PEER_CATALOGUE = {
    "arXiv Research": "oci://ghcr.io/microsoft/arxiv-rs:latest",
    "GitHub API": "oci://ghcr.io/microsoft/github-js:latest",
    "Memory Server": "oci://ghcr.io/microsoft/memory-js:latest",
    "Weather Server": "oci://ghcr.io/microsoft/get-weather-js:latest",
    "Open-Meteo Weather": "oci://ghcr.io/microsoft/get-open-meteo-weather-js:latest",
    "Time Server": "oci://ghcr.io/microsoft/time-server-js:latest",
    "Python Eval": "oci://ghcr.io/microsoft/eval-py:latest",
    "Fetch": "oci://ghcr.io/microsoft/fetch-rs:latest",
    "Filesystem": "oci://ghcr.io/microsoft/filesystem-rs:latest",
    "Brave Search": "oci://ghcr.io/microsoft/brave-search-rs:latest",
    "Go Module Information": "oci://ghcr.io/microsoft/gomodule-go:latest",
}


def test_version_has_build_information(home: Home) -> None:
    out = run_cli(home, "--version", check=True).stdout
    assert out.startswith("wassette, version ")
    for part in ("python=", "wasmtime=", "mcp="):
        assert part in out


def test_registry_search_matches_wassettes_catalogue(home: Home) -> None:
    data = json.loads(run_cli(home, "registry", "search", check=True).stdout)
    assert data["status"] == "success"
    assert data["count"] == 11
    assert {c["name"]: c["uri"] for c in data["components"]} == PEER_CATALOGUE
    weather = json.loads(run_cli(home, "registry", "search", "WEATHER", check=True).stdout)
    assert [c["name"] for c in weather["components"]] == ["Weather Server", "Open-Meteo Weather"]
    missing = run_cli(home, "registry", "get", "nosuch")
    assert missing.returncode == 3
    assert "not in the catalogue" in missing.stderr


def test_operator_catalogue_file_extends_and_wins(home: Home, tmp_path: Path) -> None:
    wasm = write_answer(tmp_path / "mine.wasm", tool="mine")
    own = tmp_path / "catalogue.json"
    own.write_text(
        json.dumps(
            {
                "components": [
                    {"name": "Mine", "description": "ours", "uri": wasm.as_uri()},
                    {"name": "Fetch", "description": "our fetch", "uri": "oci://x.example/f:1"},
                ]
            }
        )
    )
    home.config_file.parent.mkdir(parents=True, exist_ok=True)
    home.config_file.write_text(f'catalogue_file = "{own}"\n')
    data = json.loads(run_cli(home, "registry", "search", check=True).stdout)
    assert data["count"] == 12
    assert data["components"][0]["name"] == "Mine"
    fetch = [c for c in data["components"] if c["name"] == "Fetch"]
    assert fetch == [{"name": "Fetch", "description": "our fetch", "uri": "oci://x.example/f:1"}]
    got = json.loads(run_cli(home, "registry", "get", "mine", check=True).stdout)
    assert got["id"] == "mine" and got["tools"] == ["mine"]


def test_output_format_long_option_and_global_component_dir(home: Home, tmp_path: Path) -> None:
    d = tmp_path / "elsewhere"
    write_answer(d / "answer.wasm")
    short = run_cli(home, "--component-dir", str(d), "component", "list", "-o", "yaml", check=True)
    long = run_cli(
        home, "--plugin-dir", str(d), "component", "list", "--output-format", "yaml", check=True
    )
    assert short.stdout == long.stdout
    assert "answer" in short.stdout
    # The command's own option wins over the global one.
    empty = tmp_path / "empty"
    own = run_cli(
        home, "--component-dir", str(d), "component", "list", "--component-dir", str(empty)
    )
    assert "answer" not in own.stdout


def test_autocomplete_scripts(home: Home) -> None:
    for shell, marker in (
        ("bash", "complete "),
        ("zsh", "#compdef wassette"),
        ("fish", "complete "),
    ):
        out = run_cli(home, "autocomplete", shell, check=True).stdout
        assert marker in out and "_WASSETTE_COMPLETE" in out
    assert run_cli(home, "autocomplete", "tcsh").returncode == 2


def test_serve_without_a_transport_flag_serves_streamable_http(home: Home) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wassette", "serve", "--bind-address", f"127.0.0.1:{port}"],
        env=home.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code
            except httpx.HTTPError:
                time.sleep(0.1)
        assert status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert b'"transport": "streamable-http"' in err


def test_manifest_check_and_export(home: Home, tmp_path: Path) -> None:
    wasm = write_answer(tmp_path / "answer.wasm")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        f"version: 1\ncomponents:\n  - uri: {wasm.as_uri()}\n    permissions:\n"
        "      network:\n        allow:\n          - host: api.example.com\n"
    )
    plan = json.loads(run_cli(home, "manifest", "check", str(manifest), check=True).stdout)
    assert plan["status"] == "valid"
    assert plan["changes"] == [
        {
            "component_id": "answer",
            "name": "answer",
            "action": "install",
            "policy_change": True,
            "reason": "not installed",
        }
    ]
    assert not home.plugin_dir.exists() or not list(home.plugin_dir.glob("*.wasm"))
    run_cli(home, "component", "load", wasm.as_uri(), check=True)
    run_cli(home, "permission", "grant", "network", "answer", "api.example.com", check=True)
    exported = run_cli(home, "manifest", "export", check=True).stdout
    assert "digest: sha256:" in exported and "api.example.com" in exported
    out = tmp_path / "exported.yaml"
    out.write_text(exported)
    again = json.loads(run_cli(home, "manifest", "check", str(out), check=True).stdout)
    assert again["changes"][0]["action"] == "unchanged"
    assert again["changes"][0]["policy_change"] is False
    assert again["problems"] == []
    # Resolving without fetching: a local file that does not match its pin is an error, a
    # value_from variable missing from this environment a warning.
    pinned = tmp_path / "pinned.yaml"
    pinned.write_text(
        f"version: 1\ncomponents:\n  - uri: {wasm.as_uri()}\n    digest: sha256:{'0' * 64}\n"
        "    permissions:\n      environment:\n        allow:\n"
        "          - key: API_KEY\n            value_from: NOT_SET_ANYWHERE\n"
    )
    checked = run_cli(home, "manifest", "check", str(pinned))
    assert checked.returncode == 7
    problems = json.loads(checked.stdout)["problems"]
    assert [p["level"] for p in problems] == ["error", "warning"]
    assert "does not match the digest" in problems[0]["message"]
    assert "NOT_SET_ANYWHERE" in problems[1]["message"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permisions: {}\n")
    failed = run_cli(home, "manifest", "check", str(bad))
    assert failed.returncode == 4
    assert "unknown field 'permisions' (line 4, column 5)" in failed.stderr
