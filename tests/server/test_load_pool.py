"""Loads run on their own bounded pool: many loads stalled by a slowloris registry never take
the slots tool calls use, each fails at its deadline, and the excess is refused at once."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
from mcp import Client

from tests.components.hostile import Slowloris
from tests.conftest import Home
from tests.e2e.flows import text
from tests.e2e.mcpserver import install_prepared
from wassette.components.sources import FetchOptions
from wassette.config import load_settings
from wassette.manager import ComponentManager
from wassette.secretstore.factory import open_backend
from wassette.server.app import WassetteMCP

STALLED_LOADS = 100
DEADLINE = 1.0


def test_tool_calls_are_served_while_many_loads_stall(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "env-reader")
    settings = load_settings(plugin_dir=home.plugin_dir, environ=home.env)
    manager = ComponentManager(settings.plugin_dir, open_backend(settings, home.env))
    slow = Slowloris("blob", drip=0.2)
    mcp = WassetteMCP(
        manager,
        fetch_options=lambda _uri: FetchOptions(total_timeout=DEADLINE),
        max_concurrent_loads=4,
        max_waiting_loads=16,
    )
    outcomes: list[str] = []
    latencies: list[float] = []

    async def go() -> None:
        async with Client(mcp.server, mode="legacy") as c:
            warm = await c.call_tool("get-var", {"key": "HOME"})  # compile/cache outside timing
            assert not warm.is_error or "HOME" in text(warm)

            async def load(i: int) -> None:
                result = await c.call_tool(
                    "load-component", {"path": f"oci://{slow.host}/slow/c{i}:v1"}
                )
                assert result.is_error
                outcomes.append(text(result))

            async with anyio.create_task_group() as tg:
                for i in range(STALLED_LOADS):
                    tg.start_soon(load, i)
                await anyio.sleep(0.3)  # the loads are in flight (running or queued)
                for _ in range(10):
                    started = time.monotonic()
                    listed = await c.call_tool("list-components", {})
                    called = await c.call_tool("get-var", {"key": "HOME"})
                    latencies.append(time.monotonic() - started)
                    assert not listed.is_error
                    assert called is not None
                    await anyio.sleep(0.1)

    started = time.monotonic()
    try:
        anyio.run(go)
    finally:
        slow.close()
    total = time.monotonic() - started
    assert len(outcomes) == STALLED_LOADS
    timed_out = [o for o in outcomes if "did not finish in time" in o]
    busy = [o for o in outcomes if "busy" in o]
    assert len(timed_out) + len(busy) == STALLED_LOADS, outcomes[:3]
    assert len(timed_out) >= 4 and busy, (len(timed_out), len(busy))
    assert all("blob phase" in o and slow.host in o for o in timed_out)
    # Tool calls never waited for a load slot: each round trip well under one deadline.
    assert max(latencies) < DEADLINE, latencies
    # Bounded: 4 at a time, at most 4 + 16 ever admitted, each ending at its deadline.
    assert total < (len(timed_out) / 4 + 1) * (DEADLINE + 2) + 10
    print(
        f"stalled loads={STALLED_LOADS} timed_out={len(timed_out)} busy={len(busy)} "
        f"max_tool_latency={max(latencies):.3f}s total={total:.1f}s"
    )
