"""Cancellation from the official Python MCP client against a real `wassette serve`: the
spinning guest stops using CPU at once, the response stream closes, the call is logged as
cancelled, and the next call works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.componentbuild import JS_TOOLCHAIN
from tests.conftest import Home
from tests.e2e.flows import text
from tests.e2e.mcpserver import POST_HEADERS, HttpServer, initialize, install_prepared, stdio_client

TICK = os.sysconf("SC_CLK_TCK")
HEADERS = POST_HEADERS


def thread_cpu(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of process ``pid``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread just ended
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def watch_thread(pid: int, tid: int, until: float) -> list[tuple[float, float]]:
    """(monotonic time, CPU seconds) of thread ``tid`` every 2 ms until ``until``."""
    stat = Path(f"/proc/{pid}/task/{tid}/stat")
    samples = []
    while time.monotonic() < until:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            break
        samples.append((time.monotonic(), (int(fields[11]) + int(fields[12])) / TICK))
        time.sleep(0.002)
    return samples


def _logged_calls(log: str, tool: str) -> list[dict[str, Any]]:
    calls = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("msg") == "tools/call" and record.get("tool") == tool:
            calls.append(record)
    return calls


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_cancelled_spin_stops_burning_cpu_within_100ms(
    home: Home, prepared: Path, mode: str
) -> None:
    """legacy: the client POSTs notifications/cancelled; auto (2026-07-28): it closes the
    request's response stream, which is how that revision cancels."""
    install_prepared(home.plugin_dir, "misbehaver")
    with HttpServer(home) as server:
        assert server.proc is not None
        pid = server.proc.pid
        figures: dict[str, float] = {}

        async def go() -> None:
            async with server.client(mode=mode) as c:
                await c.list_tools()
                before = thread_cpu(pid)
                samples: list[tuple[float, float]] = []
                deadline = time.monotonic() + 1.5

                async def watch() -> None:
                    await anyio.sleep_until(deadline - 0.4)
                    now = thread_cpu(pid)
                    # The guest's thread: the one burning CPU since the call started.
                    tid = max(now, key=lambda t: now[t] - before.get(t, 0.0))
                    figures["spinning"] = now[tid] - before.get(tid, 0.0)
                    samples.extend(
                        await anyio.to_thread.run_sync(watch_thread, pid, tid, deadline + 0.6)
                    )

                async with anyio.create_task_group() as tg:
                    tg.start_soon(watch)
                    with anyio.move_on_at(deadline):
                        # At the deadline the official client sends notifications/cancelled.
                        await c.call_tool("spin", {})
                        raise AssertionError("spin returned")
                grew = [t for (_, prev), (t, cpu) in pairwise(samples) if cpu > prev]
                figures["stopped_after"] = max(grew) - deadline if grew else -1.0
                figures["after_cancel"] = samples[-1][1] - next(
                    cpu for t, cpu in samples if t >= deadline
                )
                result = await c.call_tool("ok", {})
                assert not result.is_error and text(result) == "ok"

        anyio.run(go)
        print(f"guest thread's CPU (s): {figures}")
        assert figures["spinning"] > 0.1  # the guest really was burning CPU (a shared machine)
        # After the cancel, the guest thread's CPU time stops growing within 100 ms (its last
        # 10 ms tick is counted when it ends, so "stopped" is the last increase seen).
        assert figures["stopped_after"] < 0.1
        assert figures["after_cancel"] <= 0.1
        spins = _logged_calls(server.stderr(), "spin")
        assert len(spins) == 1 and spins[0]["ok"] is False and spins[0]["cancelled"] is True


def test_cancel_closes_the_http_response_stream_promptly(home: Home, prepared: Path) -> None:
    """Raw wire: the POST's SSE stream ends right after notifications/cancelled."""
    install_prepared(home.plugin_dir, "misbehaver")
    with HttpServer(home) as server, httpx.Client(timeout=30) as client:
        response = client.post(server.url, json=initialize("2025-06-18"), headers=HEADERS)
        headers = {
            **HEADERS,
            "mcp-session-id": response.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-06-18",
        }
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        client.post(server.url, json=note, headers=headers)
        cancelled_at: dict[str, float] = {}

        def cancel_soon() -> None:
            time.sleep(0.7)
            cancelled_at["t"] = time.monotonic()
            cancel = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": 7, "reason": "test"},
            }
            httpx.post(server.url, json=cancel, headers=headers, timeout=10)

        threading.Thread(target=cancel_soon, daemon=True).start()
        call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "spin"}}
        with client.stream("POST", server.url, json=call, headers=headers) as stream:
            body = "".join(stream.iter_text())
        closed_after = time.monotonic() - cancelled_at["t"]
        print(f"stream closed {closed_after * 1000:.0f} ms after the cancel was posted")
        assert closed_after < 0.5
        assert '"result"' not in body  # a cancelled request is never answered with a result


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_cancel_over_stdio_then_next_call_works(home: Home, prepared: Path, mode: str) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    log = home.root / "stdio.log"

    async def go() -> None:
        async with stdio_client(home, log=log, mode=mode) as c:
            await c.list_tools()
            started = time.monotonic()
            with pytest.raises(MCPError, match="timed out"):
                # The client's own read timeout: it gives up and sends notifications/cancelled.
                await c.call_tool("spin", {}, read_timeout_seconds=0.8)
            assert time.monotonic() - started < 2
            result = await c.call_tool("ok", {})
            assert text(result) == "ok"

    anyio.run(go)
    spins = _logged_calls(log.read_text(), "spin")
    assert len(spins) == 1 and spins[0]["cancelled"] is True


TS_CLIENT = JS_TOOLCHAIN / "node_modules" / "@modelcontextprotocol" / "client"


@pytest.mark.skipif(not TS_CLIENT.is_dir(), reason="make test installs the TypeScript client")
def test_progress_keeps_a_client_with_a_short_timeout_waiting(home: Home, prepared: Path) -> None:
    """An 8 s call, a client whose request timeout is 6 s: with a progress token and
    resetTimeoutOnProgress the official TypeScript client waits for the result (the server
    reports progress every 5 s); without the reset it gives up at 6 s. (The official Python
    client 2.3.0 never resets its read timeout on progress.)"""
    install_prepared(home.plugin_dir, "misbehaver")
    script = Path(__file__).parent / "js" / "progress_client.mjs"
    env = {**home.env, "MCP_CLIENT_DIR": str(TS_CLIENT)}
    server_args = json.dumps(["-m", "wassette", "serve", "--stdio"])
    call = ["nap", '{"seconds": 8}', "6000"]

    def run(reset: str) -> dict[str, Any]:
        done = subprocess.run(
            ["node", str(script), sys.executable, server_args, *call, reset],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    with_reset = run("1")
    assert with_reset["ok"], with_reset
    assert with_reset["ms"] > 7500 and json.loads(with_reset["text"]) == 1
    assert len(with_reset["progress"]) >= 1 and with_reset["progress"][0]["progress"] > 0
    without = run("0")
    assert not without["ok"] and "timed out" in without["error"].lower(), without
    assert without["ms"] < 7500
