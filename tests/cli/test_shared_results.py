"""The CLI and the MCP built-ins answer the same change with the same document (built by
``wassette.results``): a grant, a revoke, a policy view, a reset and an unload, side by side.

Each pair runs the CLI as a subprocess and the built-in in-process against the same
component directory, undoing the change in between, so the documents must be equal field for
field (``created_at`` aside: the file's mtime differs between the two writes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Home, run_cli
from wassette.approval import ApprovalRequest, Decision
from wassette.config import load_settings
from wassette.manager import ComponentManager
from wassette.secretstore.factory import open_backend
from wassette.server.builtin_tools import BuiltinContext, run_builtin

CID = "hello"


@pytest.fixture
def ctx(home: Home) -> BuiltinContext:
    home.plugin_dir.mkdir(parents=True)
    (home.plugin_dir / f"{CID}.wasm").write_bytes(b"\0asm")  # policy tools only check it exists
    settings = load_settings(plugin_dir=home.plugin_dir, environ=home.env)
    manager = ComponentManager(
        settings.plugin_dir, open_backend(settings, home.env), inherited_env={}
    )

    def approve(_request: ApprovalRequest) -> Decision:
        return Decision(True, "operator")

    return BuiltinContext(manager, fetch_options=lambda _uri: None, approver=approve)


def _cli(home: Home, *args: str) -> dict[str, Any]:
    proc = run_cli(home, *args)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert isinstance(out, dict)
    return out


def _undated(doc: dict[str, Any]) -> dict[str, Any]:
    info = doc.get("policy_info")
    if isinstance(info, dict):
        doc = {**doc, "policy_info": {k: v for k, v in info.items() if k != "created_at"}}
    return doc


def test_grants_revokes_views_and_resets_are_the_same_document(
    home: Home, ctx: BuiltinContext, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    uri = f"fs://{data}"
    pairs: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
        (
            ("permission", "grant", "storage", CID, uri, "--access", "read,write"),
            "grant-storage-permission",
            {"component_id": CID, "details": {"uri": uri, "access": ["read", "write"]}},
        ),
        (
            ("permission", "grant", "network", CID, "api.example.com"),
            "grant-network-permission",
            {"component_id": CID, "details": {"host": "api.example.com"}},
        ),
        (
            ("permission", "grant", "environment-variable", CID, "API_KEY"),
            "grant-environment-variable-permission",
            {"component_id": CID, "details": {"key": "API_KEY"}},
        ),
        (("policy", "get", CID), "get-policy", {"component_id": CID}),
        (
            ("permission", "revoke", "network", CID, "api.example.com"),
            "revoke-network-permission",
            {"component_id": CID, "details": {"host": "api.example.com"}},
        ),
        (
            ("permission", "revoke", "environment-variable", CID, "API_KEY"),
            "revoke-environment-variable-permission",
            {"component_id": CID, "details": {"key": "API_KEY"}},
        ),
        (
            ("permission", "revoke", "storage", CID, uri),
            "revoke-storage-permission",
            {"component_id": CID, "details": {"uri": uri}},
        ),
        (("permission", "reset", CID), "reset-permission", {"component_id": CID}),
        (("policy", "get", CID), "get-policy", {"component_id": CID}),
    ]
    policy_file = home.plugin_dir / f"{CID}.policy.yaml"
    for cli_args, tool, args in pairs:
        before = policy_file.read_bytes() if policy_file.exists() else None
        from_cli = _cli(home, *cli_args)
        # Back to the state the CLI started from, then the same change through MCP.
        if before is None:
            policy_file.unlink(missing_ok=True)
        else:
            policy_file.write_bytes(before)
        from_mcp = run_builtin(ctx, tool, args)
        assert _undated(from_cli) == _undated(from_mcp), tool
    # Wassette's wording holds on both sides.
    assert from_mcp["status"] == "no policy found"


def test_unload_is_the_same_document(home: Home, ctx: BuiltinContext) -> None:
    (home.plugin_dir / "other.wasm").write_bytes(b"\0asm")
    run_cli(home, "secret", "set", CID, "API_KEY=canary-value-123", check=True)
    run_cli(home, "secret", "set", "other", "API_KEY=canary-value-123", check=True)
    from_cli = _cli(home, "component", "unload", CID)
    from_mcp = run_builtin(ctx, "unload-component", {"id": "other"})
    # The same document but for the id (and the file names and command that carry it).
    assert json.loads(json.dumps(from_cli).replace(CID, "other")) == from_mcp
    assert from_mcp["secrets_kept"] == ["API_KEY"]
    assert "wassette secret delete other API_KEY" in from_mcp["message"]
    assert "canary-value-123" not in json.dumps([from_cli, from_mcp])
