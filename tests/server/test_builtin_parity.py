"""Built-in tool results carry Wassette 0.8.0's fields and status strings (our extra fields are
additive), `details` schemas are strict, and string results travel as raw text.

The expected shapes were recorded from Wassette 0.8.0 with the same calls and arguments
(bench/builtins_parity.py prints the side-by-side table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from tests.conftest import Home
from tests.e2e.flows import text
from tests.manifest.watcomponents import write_answer
from wassette.config import load_settings
from wassette.manager import ComponentManager
from wassette.secretstore.factory import open_backend
from wassette.server.app import WassetteMCP
from wassette.server.builtin_tools import SCHEMAS

STRING_WAT = """(component
  (core module $m
    (memory (export "mem") 1)
    (data (i32.const 16) "ok\\n\\"x\\"")
    (data (i32.const 0) "\\10\\00\\00\\00\\06\\00\\00\\00")
    (func (export "f") (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (func $f (result string)
    (canon lift (core func $i "f") (memory (core memory $i "mem")) string-encoding=utf8))
  (export "say" (func $f)))"""


def _mcp(home: Home) -> WassetteMCP:
    settings = load_settings(plugin_dir=home.plugin_dir, environ=home.env)
    home.plugin_dir.mkdir(parents=True, exist_ok=True)
    manager = ComponentManager(
        settings.plugin_dir, open_backend(settings, home.env), inherited_env={}
    )
    return WassetteMCP(manager)


def test_details_schemas_are_strict() -> None:
    for name, (_desc, schema) in SCHEMAS.items():
        details = schema["properties"].get("details")
        if details is not None:
            assert details["additionalProperties"] is False, name
    access = SCHEMAS["grant-storage-permission"][1]["properties"]["details"]["properties"]
    assert access["access"]["type"] == "array"


def test_results_have_wassettes_fields_and_statuses(home: Home, tmp_path: Path) -> None:
    import wasmtime

    wasm = write_answer(tmp_path / "answer.wasm")
    (tmp_path / "say.wasm").write_bytes(bytes(wasmtime.wat2wasm(STRING_WAT)))
    work = tmp_path / "work"
    work.mkdir()
    mcp = _mcp(home)

    async def go() -> None:
        async with Client(mcp.server, mode="legacy") as c:

            async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
                result = await c.call_tool(name, args)
                assert not result.is_error, text(result)
                data = json.loads(text(result))
                assert isinstance(data, dict)
                return data

            async def refused(name: str, args: dict[str, Any]) -> str:
                result = await c.call_tool(name, args)
                assert result.is_error
                return text(result)

            cid = "answer"
            loaded = await call("load-component", {"path": wasm.as_uri()})
            assert (loaded["status"], loaded["id"], loaded["tools"]) == (
                "component loaded successfully",
                cid,
                ["answer"],
            )
            row = (await call("list-components", {}))["components"][0]
            assert row["id"] == cid and row["tools_count"] == 1
            (tool,) = row["schema"]["tools"]
            assert tool["name"] == "answer" and "inputSchema" in tool and "outputSchema" in tool

            none = await call("get-policy", {"component_id": cid})
            assert none["status"] == "no policy found" and "policy_info" not in none

            d = {"uri": f"fs://{work}", "access": ["read"]}
            g = await call("grant-storage-permission", {"component_id": cid, "details": d})
            assert (g["status"], g["permission_type"], g["details"]) == (
                "permission granted successfully",
                "storage",
                d,
            )
            g = await call(
                "grant-environment-variable-permission",
                {"component_id": cid, "details": {"key": "API_KEY"}},
            )
            assert g["permission_type"] == "environment variable"
            await call(
                "grant-network-permission",
                {"component_id": cid, "details": {"host": "example.com"}},
            )

            found = await call("get-policy", {"component_id": cid})
            info = found["policy_info"]
            assert found["status"] == "policy found"
            assert info["policy_id"] == f"{cid}-policy"
            assert info["local_path"].endswith(f"{cid}.policy.yaml")
            assert info["source_uri"].startswith("file://")
            assert isinstance(info["created_at"], int)

            r = await call(
                "revoke-storage-permission",
                {"component_id": cid, "details": {"uri": f"fs://{work}"}},
            )
            assert r["status"] == "permission revoked successfully"  # Wassette's wording here
            assert r["uri"] == f"fs://{work}" and "revoked" in r["message"]
            r = await call(
                "revoke-network-permission",
                {"component_id": cid, "details": {"host": "example.com"}},
            )
            assert (r["status"], r["permission_type"]) == ("permission revoked", "network")
            r = await call(
                "revoke-environment-variable-permission",
                {"component_id": cid, "details": {"key": "API_KEY"}},
            )
            assert (r["status"], r["permission_type"]) == (
                "permission revoked",
                "environment variable",
            )
            reset = await call("reset-permission", {"component_id": cid})
            assert reset["status"] == "permissions reset successfully"

            # Strict details: extra fields and a string where an array is declared are refused.
            extra = await refused(
                "grant-network-permission",
                {"component_id": cid, "details": {"host": "example.com", "hots": "x"}},
            )
            assert "unknown field" in extra and "'hots'" in extra
            as_string = await refused(
                "grant-storage-permission",
                {"component_id": cid, "details": {"uri": f"fs://{work}", "access": "read"}},
            )
            assert "must be an array" in as_string
            assert mcp.manager.policy(cid) is None  # nothing was granted by either

            searched = await call("search-components", {"query": "time"})
            assert searched["status"] == "Component list found"
            assert [e["name"] for e in searched["components"]] == ["Time Server"]
            assert set(searched["components"][0]) >= {"name", "description", "uri", "loaded"}
            assert searched["components"][0]["loaded"] is False
            # The id oci://ghcr.io/microsoft/time-server-js:latest yields, once installed.
            write_answer(home.plugin_dir / "microsoft_time-server-js.wasm", tool="now")
            searched = await call("search-components", {"query": "time"})
            assert searched["components"][0]["loaded"] is True
            assert searched["components"][0]["component_id"] == "microsoft_time-server-js"

            # A string result is its raw text in content; structuredContent is unchanged.
            await call("load-component", {"path": (tmp_path / "say.wasm").as_uri()})
            said = await c.call_tool("say", {})
            assert text(said) == 'ok\n"x"'
            assert said.structured_content == {"result": 'ok\n"x"'}
            number = await c.call_tool("answer", {})
            assert text(number) == "42"

            gone = await call("unload-component", {"id": cid})
            assert gone["status"] == "component unloaded successfully"

    anyio.run(go)
