"""`wassette serve --streamable-http` / `--sse` as a real subprocess: the official client in
both protocol eras, auth token, Host/Origin checks, health, clean shutdown, and an independent
client (the MCP Inspector CLI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.sse import sse_client

from tests.componentbuild import JS_TOOLCHAIN, build_component
from tests.conftest import Home
from tests.e2e.flows import BUILTINS, Changes, assert_no_canary, listening, main_flow, text
from tests.e2e.mcpserver import POST_HEADERS, HttpServer, initialize, install_prepared

CANARY = "CANARY-mcp-http-93ac"
INIT = initialize()


@pytest.mark.parametrize(
    ("mode", "load"), [("auto", True), ("legacy", False)], ids=["modern-load", "legacy-unload"]
)
def test_main_flow_over_streamable_http(home: Home, prepared: Path, mode: str, load: bool) -> None:
    install_prepared(home.plugin_dir, *(["misbehaver"] if load else ["env-reader", "misbehaver"]))
    with HttpServer(home, args=("--env", f"OPERATOR_ONLY={CANARY}-op")) as server:
        changes = Changes()

        async def go() -> None:
            async with server.client(mode=mode, message_handler=changes.handler) as c:
                assert c.server_capabilities.tools is not None
                assert c.server_capabilities.tools.list_changed
                await listening(
                    c, changes, lambda: main_flow(c, changes, home, load=load, canary=CANARY)
                )

        anyio.run(go)
        assert server.stop() == 0
        assert '"msg": "stopped"' in server.stderr()
        assert_no_canary(server.stderr(), CANARY)


def test_background_compile_notifies_both_eras(home: Home, prepared: Path) -> None:
    """tools/list answers at once while an uncached component compiles; when it is ready a
    handshake-era client gets notifications/tools/list_changed and a 2026-07-28 client gets
    a ToolsListChanged event on its listen stream."""
    install_prepared(home.plugin_dir, "misbehaver")
    home.plugin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(build_component("env-reader"), home.plugin_dir / "env-reader.wasm")
    with HttpServer(home) as server:
        legacy_changes, modern_changes = Changes(), Changes()

        async def go() -> None:
            async with (
                server.client(mode="legacy", message_handler=legacy_changes.handler) as old,
                server.client(mode="auto") as new,
            ):
                assert new.protocol_version == "2026-07-28"
                started = time.monotonic()
                first = {t.name for t in (await old.list_tools()).tools}
                assert time.monotonic() - started < 2  # no compile on the request path
                assert first >= BUILTINS | {"ok"}
                # A componentize-py component takes seconds to compile: not ready yet.
                assert "get-var" not in first

                async def body() -> None:
                    await legacy_changes.wait_beyond(0, timeout=120)
                    await modern_changes.wait_beyond(0, timeout=30)

                await listening(new, modern_changes, body)
                assert "get-var" in {t.name for t in (await old.list_tools()).tools}
                listed = await new.list_tools(cache_mode="refresh")
                assert "get-var" in {t.name for t in listed.tools}

        anyio.run(go)
        assert (home.plugin_dir / "env-reader.tools.json").exists()
        assert server.stop() == 0


def test_bearer_token_is_required_on_every_request(home: Home) -> None:
    token = "tok-" + "x" * 40
    with HttpServer(home, token=token) as server:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-value-000000"},
            {"Authorization": f"Basic {token}"},
        ):
            for method, path in (("GET", "/health"), ("POST", "/mcp")):
                response = httpx.request(
                    method,
                    server.base + path,
                    headers={**POST_HEADERS, **headers},
                    content=json.dumps(INIT),
                    timeout=5,
                )
                assert response.status_code == 401, (method, path, headers.keys())
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert token not in response.text

        async def go() -> None:
            async with server.client(mode="legacy") as c:
                assert {t.name for t in (await c.list_tools()).tools} >= BUILTINS

        anyio.run(go)
        assert token not in server.stderr()
        assert server.stop() == 0


def test_host_and_origin_checks_stop_dns_rebinding(home: Home) -> None:
    with HttpServer(home, args=("--allowed-host", "wassette.test")) as server:

        def post(**headers: str) -> int:
            return httpx.post(
                server.base + "/mcp",
                headers={**POST_HEADERS, **headers},
                content=json.dumps(INIT),
                timeout=5,
            ).status_code

        assert post() == 200
        assert post(host=f"localhost:{server.port}") == 200
        assert post(host=f"evil.example:{server.port}") == 421
        assert post(origin="http://evil.example") == 403
        assert post(host=f"wassette.test:{server.port}") == 200  # --allowed-host
        assert post(origin=f"http://wassette.test:{server.port}") == 200
        assert server.stop() == 0


def test_legacy_sse_transport(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    with HttpServer(home, transport="--sse") as server:

        async def go() -> None:
            async with Client(sse_client(server.url), mode="legacy") as c:
                assert c.server_capabilities.tools is not None
                assert c.server_capabilities.tools.list_changed
                names = {t.name for t in (await c.list_tools()).tools}
                assert names >= BUILTINS | {"ok", "spin"}
                result = await c.call_tool("ok", {})
                assert result.structured_content == {"result": "ok"}
                missing = await c.call_tool("get-policy", {"component_id": "ghost"})
                assert missing.is_error and "not loaded" in text(missing)

        anyio.run(go)
        assert server.stop() == 0


def test_mcp_inspector_cli_black_box(home: Home, prepared: Path, tmp_path: Path) -> None:
    """An independent client (npm @modelcontextprotocol/inspector CLI) lists and calls."""
    inspector = JS_TOOLCHAIN / "node_modules" / ".bin" / "mcp-inspector"
    if not inspector.exists():
        pytest.fail(f"{inspector} is missing: run `make js-toolchain` (make test does it)")
    install_prepared(home.plugin_dir, "misbehaver")
    env = {**os.environ, "MCP_CATALOG_PATH": str(tmp_path / "catalog.json")}
    with HttpServer(home) as server:

        def inspect(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(inspector), "--cli", server.url, *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                check=False,
                cwd=tmp_path,
            )

        listed = inspect("--method", "tools/list")
        assert listed.returncode == 0, listed.stderr
        names = {t["name"] for t in json.loads(listed.stdout)["tools"]}
        assert names >= BUILTINS | {"ok", "chatter"}
        called = inspect(
            "--method", "tools/call", "--tool-name", "chatter", "--tool-arg", "text=hi there"
        )
        assert called.returncode == 0, called.stderr
        assert json.loads(called.stdout)["structuredContent"] == {"result": "hi there"}
        failed = inspect(
            "--method",
            "tools/call",
            "--tool-name",
            "get-policy",
            "--tool-arg",
            "component_id=ghost",
        )
        assert "not loaded" in failed.stdout
        assert server.stop() == 0
