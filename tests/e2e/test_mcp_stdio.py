"""`wassette serve --stdio` driven by the official MCP client, both protocol eras."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from tests.conftest import Home, run_cli
from tests.e2e.flows import Changes, assert_no_canary, listening, main_flow, text
from tests.e2e.mcpserver import HttpServer, initialize, install_prepared, stdio_client

CANARY = "CANARY-mcp-stdio-4e1b"


@pytest.mark.parametrize(
    ("mode", "load"), [("legacy", True), ("auto", False)], ids=["legacy-load", "modern-unload"]
)
def test_main_flow_over_stdio(home: Home, prepared: Path, mode: str, load: bool) -> None:
    install_prepared(home.plugin_dir, *(["misbehaver"] if load else ["env-reader", "misbehaver"]))
    log = home.root / "server.log"
    changes = Changes()

    async def go() -> None:
        async with stdio_client(home, log=log, mode=mode, message_handler=changes.handler) as c:
            assert c.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
            assert c.server_capabilities.tools is not None
            assert c.server_capabilities.tools.list_changed
            await listening(
                c, changes, lambda: main_flow(c, changes, home, load=load, canary=CANARY)
            )

    anyio.run(go)
    assert_no_canary(log.read_text(), CANARY)
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    calls = [e for e in entries if e.get("msg") == "tools/call"]
    assert calls and all(
        e["arguments"].get("key") in (None, "[redacted]")
        for e in calls
        if isinstance(e.get("arguments"), dict)
    )


def test_recovery_after_trap_and_timeout_without_restart(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    run_cli(home, "permission", "grant", "timeout", "misbehaver", "1s", check=True)
    log = home.root / "server.log"

    async def go() -> None:
        async with stdio_client(home, log=log, mode="legacy") as c:
            started = time.monotonic()
            spun = await c.call_tool("spin", {})
            assert spun.is_error and "time" in text(spun).lower()
            assert time.monotonic() - started < 5
            crashed = await c.call_tool("crash", {"reason": "on purpose"})
            assert crashed.is_error and "trap" in text(crashed).lower()
            ok = await c.call_tool("ok", {})
            assert not ok.is_error and ok.structured_content == {"result": "ok"}

            # A slow call never blocks the others.
            done: dict[str, float] = {}

            async def timed(name: str, args: dict[str, object]) -> None:
                result = await c.call_tool(name, args)
                assert not result.is_error, text(result)
                done[name] = time.monotonic()

            async with anyio.create_task_group() as tg:
                tg.start_soon(timed, "nap", {"seconds": 0.8})
                await anyio.sleep(0.1)
                tg.start_soon(timed, "ok", {})
            assert done["ok"] < done["nap"] - 0.3

    anyio.run(go)


def test_stdout_carries_only_protocol(home: Home, prepared: Path) -> None:
    """Guest output (misbehaver's chatter writes to stdout and stderr) never reaches stdout."""
    install_prepared(home.plugin_dir, "misbehaver")
    messages = [
        initialize(),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "chatter", "arguments": {"text": "LEAK-MARKER"}},
        },
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "wassette", "serve", "--stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=home.env,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        proc.stdin.flush()
        while not any('"id":2' in line for line in lines):
            line = proc.stdout.readline()
            assert line, "server closed stdout before answering"
            lines.append(line)
        proc.stdin.close()
        proc.wait(timeout=30)
        rest = proc.stdout.read()
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    lines += rest.splitlines()
    assert proc.returncode == 0, err[-2000:]
    replies = [json.loads(line) for line in lines if line.strip()]  # all JSON-RPC, nothing else
    assert all(r.get("jsonrpc") == "2.0" for r in replies)
    call = next(r for r in replies if r.get("id") == 2)
    assert call["result"]["structuredContent"] == {"result": "LEAK-MARKER"}
    stdout = "".join(lines)
    assert "stdout: LEAK-MARKER" not in stdout


def test_sigterm_stops_stdio_server_cleanly(home: Home) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wassette", "run"],  # `run` = serve --stdio
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=home.env,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 20
        seen = b""
        while b'"serving"' not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_guest_stuck_past_its_limit_is_answered_once_and_on_time(
    home: Home, prepared: Path, transport: str
) -> None:
    """The guest runs on the call's own thread; a guest blocked in a host call past its limit
    is answered for by the watchdog (limit + graces), exactly once, and the server goes on."""
    install_prepared(home.plugin_dir, "misbehaver")
    run_cli(home, "permission", "grant", "timeout", "misbehaver", "1s", check=True)

    async def calls(c: object) -> None:
        started = time.monotonic()
        stuck = await c.call_tool("nap", {"seconds": 4})  # type: ignore[attr-defined]
        took = time.monotonic() - started
        assert stuck.is_error and "abandoned" in text(stuck), text(stuck)
        assert 1.0 <= took < 2.5, took
        ok = await c.call_tool("ok", {})  # type: ignore[attr-defined]
        assert not ok.is_error
        await anyio.sleep(3.5)  # the nap returns: its late result must not be sent
        again = await c.call_tool("ok", {})  # type: ignore[attr-defined]
        assert again.structured_content == {"result": "ok"}

    if transport == "stdio":

        async def go() -> None:
            async with stdio_client(home, log=home.root / "server.log", mode="legacy") as c:
                await calls(c)

        anyio.run(go)
    else:
        with HttpServer(home) as server:

            async def go_http() -> None:
                async with server.client(mode="legacy") as c:
                    await calls(c)

            anyio.run(go_http)
            assert server.stop() == 0
