"""Cancellation and progress through the official Python MCP client, in-process.

The client cancels a request by sending ``notifications/cancelled`` when the caller stops
waiting (a cancelled scope, or its own read timeout); the server must stop the guest, free the
worker and log the call as cancelled. Progress is sent while a call runs if the client passed a
progress token.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.conftest import Home
from tests.e2e.mcpserver import install_prepared
from wassette.config import load_settings
from wassette.manager import ComponentManager
from wassette.runtime.invoke import abandoned_calls
from wassette.secretstore.factory import open_backend
from wassette.server.app import WassetteMCP


def _mcp(home: Home, **kw: Any) -> WassetteMCP:
    settings = load_settings(plugin_dir=home.plugin_dir, environ=home.env)
    manager = ComponentManager(
        settings.plugin_dir, open_backend(settings, home.env), explicit_env={}, inherited_env={}
    )
    return WassetteMCP(manager, **kw)


def _call_records(caplog: pytest.LogCaptureFixture, tool: str) -> list[dict[str, Any]]:
    out = []
    for rec in caplog.records:
        fields = getattr(rec, "fields", None)
        if rec.getMessage() == "tools/call" and fields and fields.get("tool") == tool:
            out.append(fields)
    return out


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_cancelled_spin_stops_and_is_logged_as_cancelled(
    home: Home, prepared: Path, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    mcp = _mcp(home)
    caplog.set_level(logging.INFO, logger="wassette.server")

    async def go() -> None:
        async with Client(mcp.server, mode=mode) as c:  # type: ignore[arg-type]
            await c.list_tools()
            with anyio.move_on_after(0.8):
                await c.call_tool("spin", {})
                raise AssertionError("spin returned")
            cancelled_at = time.monotonic()
            cpu0 = time.process_time()
            await anyio.sleep(0.3)
            # Only the idle client and server remain: no guest is burning a core.
            assert time.process_time() - cpu0 < 0.06
            assert abandoned_calls("misbehaver") == 0
            assert time.monotonic() - cancelled_at < 1
            result = await c.call_tool("ok", {})
            assert not result.is_error and result.content[0].text == "ok"  # type: ignore[union-attr]

    anyio.run(go)
    spins = _call_records(caplog, "spin")
    assert len(spins) == 1
    assert spins[0]["ok"] is False and spins[0]["cancelled"] is True


def test_progress_is_reported_while_a_call_runs(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    mcp = _mcp(home, progress_interval=0.2)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async def go() -> None:
        async with Client(mcp.server, mode="legacy") as c:
            await c.list_tools()
            result = await c.call_tool("nap", {"seconds": 1.1}, progress_callback=on_progress)
            assert not result.is_error
            # No token, no progress.
            before = len(seen)
            await c.call_tool("nap", {"seconds": 0.5})
            assert len(seen) == before

    anyio.run(go)
    assert 3 <= len(seen) <= 6, seen
    values = [p for p, _t, _m in seen]
    assert values == sorted(values) and values[0] > 0
    assert all(m is not None and "nap still running" in m for _p, _t, m in seen)


@pytest.mark.parametrize("with_token", [False, True])
def test_a_failing_call_is_still_explained(home: Home, prepared: Path, with_token: bool) -> None:
    """The progress task group must not turn a tool's own error into an internal error."""
    install_prepared(home.plugin_dir, "misbehaver")
    mcp = _mcp(home, progress_interval=0.1)

    async def ignore(progress: float, total: float | None, message: str | None) -> None:
        return None

    async def go() -> None:
        async with Client(mcp.server, mode="legacy") as c:
            await c.list_tools()
            result = await c.call_tool(
                "crash", {"reason": "on purpose"}, progress_callback=ignore if with_token else None
            )
            assert result.is_error
            message = result.content[0].text  # type: ignore[union-attr]
            assert "crashed" in message and "internal error" not in message

    anyio.run(go)
