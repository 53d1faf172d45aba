"""`mcp_grants` end to end over real transports: the official client's elicitation callback
answers a real `wassette serve` subprocess (streamable HTTP, 2026-07-28 era, multi-round-trip;
stdio, handshake era, elicitation/create mid-call)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types

from tests.conftest import Home
from tests.e2e.flows import text
from tests.e2e.mcpserver import HttpServer, install_prepared, stdio_client

GRANT = (
    "grant-network-permission",
    {"component_id": "env-reader", "details": {"host": "api.example.com"}},
)


def _person(answer: str, asked: list[str]) -> Any:
    async def callback(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        asked.append(params.message)
        if answer == "accept":
            return types.ElicitResult(action="accept", content={"approve": True})
        return types.ElicitResult(action="decline")

    return callback


def test_http_modern_client_approves(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "env-reader")
    asked: list[str] = []
    with HttpServer(home) as server:

        async def go() -> types.CallToolResult:
            async with server.client(
                mode="auto", elicitation_callback=_person("accept", asked)
            ) as c:
                assert c.protocol_version == "2026-07-28"
                return await c.call_tool(*GRANT)

        result = anyio.run(go)
        assert not result.is_error, text(result)
    assert len(asked) == 1 and "api.example.com" in asked[0]
    assert "api.example.com" in (home.plugin_dir / "env-reader.policy.yaml").read_text()


def test_stdio_legacy_client_declines(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "env-reader")
    asked: list[str] = []

    async def go() -> types.CallToolResult:
        async with stdio_client(
            home,
            log=home.root / "stdio.log",
            mode="legacy",
            elicitation_callback=_person("decline", asked),
        ) as c:
            return await c.call_tool(*GRANT)

    result = anyio.run(go)
    assert result.is_error and "not approved" in text(result)
    assert len(asked) == 1
    assert not (home.plugin_dir / "env-reader.policy.yaml").exists()
    log = home.root / "state" / "wassette" / "audit.log"
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["event"] == "mcp-change" and record["outcome"] == "refused"
    assert record["approval"] == [{"action": "grant", "approved": False, "how": "declined"}]
