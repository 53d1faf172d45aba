"""Stateless 2026-07-28 serving beside the session lifecycle, `--legacy-sessions`,
`--json-response`, `/ready` and `/info`, driven by the official Python client and the
official TypeScript SDK (npm @modelcontextprotocol/client, installed into tests/toolchain)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import anyio
import httpx
import pytest

from tests.componentbuild import JS_TOOLCHAIN
from tests.conftest import Home
from tests.e2e.mcpserver import POST_HEADERS, HttpServer, initialize
from tests.manifest.watcomponents import write_answer

TS_CLIENT = Path(__file__).with_name("ts_client.mjs")
TS_MODULE = JS_TOOLCHAIN / "node_modules/@modelcontextprotocol/client/dist/index.mjs"
MODERN = "2026-07-28"
HEADERS = POST_HEADERS


def _modern_call(tool: str) -> dict[str, object]:
    # A self-contained 2026-07-28 request: no initialize, no session; who the client is and
    # which revision it speaks travel in _meta and the MCP-Protocol-Version header.
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }


def _modern_headers(tool: str) -> dict[str, str]:
    return {
        **HEADERS,
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": tool,
    }


@pytest.fixture
def answer_home(home: Home) -> Home:
    write_answer(home.plugin_dir / "answer.wasm", tool="answer", value=42)
    return home


def _wait_ready(server: HttpServer, timeout: float = 60) -> None:
    """Until /ready says 200: the component's first compile runs in the background, and
    tools/list answers at once without it (that is the point of /ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(server.base + "/ready", timeout=5).status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError("the server did not become ready: " + server.stderr())


def test_python_client_stateless_session(answer_home: Home) -> None:
    with HttpServer(answer_home) as server:
        _wait_ready(server)

        async def go() -> None:
            async with server.client(mode="auto") as c:
                assert c.protocol_version == MODERN
                names = {t.name for t in (await c.list_tools()).tools}
                assert "answer" in names
                result = await c.call_tool("answer", {})
                assert result.structured_content == {"result": 42}

        anyio.run(go)
        ready = httpx.get(server.base + "/ready", timeout=5)
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        info = httpx.get(server.base + "/info", timeout=5).json()
        assert MODERN in info["protocol_revisions"]["stateless"]
        assert "2025-11-25" in info["protocol_revisions"]["sessions"]
        # The warm-instance pool is reported: the component that answered has a pool.
        pool = info["instance_pool"]
        assert pool["size_per_component"] >= 0 and pool["resident_estimate_bytes"] >= 0
        assert "answer" in pool["components"]
        assert pool["warm_hits"] + pool["misses"] >= 1


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_typescript_sdk_stateless_session(answer_home: Home) -> None:
    if not TS_MODULE.exists():
        pytest.fail("run `make js-toolchain` (installs @modelcontextprotocol/client)")
    with HttpServer(answer_home) as server:
        _wait_ready(server)
        done = subprocess.run(
            ["node", str(TS_CLIENT), str(TS_MODULE), server.url, "answer", "{}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert seen["protocol"] == MODERN
        assert seen["sessionId"] is None  # stateless: no session was created
        assert "answer" in seen["tools"]
        assert seen["structured"] == {"result": 42}
        assert seen["text"] == "42"
        assert seen["isError"] is False


def test_raw_modern_request_json_response_and_no_legacy_sessions(answer_home: Home) -> None:
    args = ("--json-response", "--legacy-sessions", "false")
    with HttpServer(answer_home, args=args) as server:
        json_only = {**_modern_headers("answer"), "accept": "application/json"}
        r = httpx.post(server.url, json=_modern_call("answer"), headers=json_only, timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert "mcp-session-id" not in r.headers
        assert r.json()["result"]["structuredContent"] == {"result": 42}
        # Handshake-era clients are still answered, but without a session.
        r = httpx.post(server.url, json=initialize(), headers=HEADERS, timeout=30)
        assert r.status_code == 200, r.text
        assert "mcp-session-id" not in r.headers


def test_default_keeps_legacy_sessions_and_event_streams(answer_home: Home) -> None:
    with HttpServer(answer_home) as server:
        _wait_ready(server)
        r = httpx.post(server.url, json=initialize(), headers=HEADERS, timeout=30)
        assert r.status_code == 200
        assert r.headers.get("mcp-session-id")
        r = httpx.post(
            server.url, json=_modern_call("answer"), headers=_modern_headers("answer"), timeout=30
        )
        assert r.status_code == 200
        assert r.json()["result"]["structuredContent"] == {"result": 42}
        # Without --json-response a client must accept an event stream (a slow call commits
        # to one); a JSON-only client is refused.
        json_only = {**_modern_headers("answer"), "accept": "application/json"}
        r = httpx.post(server.url, json=_modern_call("answer"), headers=json_only, timeout=30)
        assert r.status_code == 406, r.text


def test_ready_is_503_until_the_first_metadata_load_is_done(home: Home) -> None:
    from tests.componentbuild import build_component

    # A component without metadata: the server compiles it in the background after it
    # starts listening, and is not ready until that is done.
    home.plugin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(build_component("hello"), home.plugin_dir / "hello.wasm")
    with HttpServer(home) as server:
        first = httpx.get(server.base + "/ready", timeout=5)
        assert first.status_code == 503, first.text
        assert first.json()["compiling"] == ["hello"]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            r = httpx.get(server.base + "/ready", timeout=5)
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert (r.status_code, r.json()) == (200, {"status": "ready"})
