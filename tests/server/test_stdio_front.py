"""The SDK-free stdio front of `wassette serve --stdio`, against real subprocesses.

The front answers `initialize`, `tools/list` and component calls itself and starts the MCP SDK
server only for the rest. Its answers are compared with the SDK's own, on one wire: a client
whose `initialize` the front does not take as plain (here: `clientInfo.icons`) is served by the
SDK server for the whole connection, so the same messages sent after each opening show both.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from tests.conftest import Home, run_cli
from tests.e2e.flows import text
from tests.e2e.mcpserver import StdioWire, install_prepared, stdio_client
from tests.e2e.mcpserver import tools_call as _call
from wassette.cli.serving import MALLOC_ARENAS
from wassette.server import stdio_wire as front_mod
from wassette.server.jsonrpc import rejection
from wassette.server.toolset import HANDSHAKE_VERSIONS

CANARY = "CANARY-stdio-front-7c2d"


# Requests the front answers itself, or hands over one by one, and lines it rejects.
PROBES: list[dict[str, Any] | bytes] = [
    {"jsonrpc": "2.0", "id": 1, "method": "ping"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"cursor": "x"}},
    {"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"cursor": 5}},
    _call(5, "get-var", {"key": "HOME"}),
    _call(6, "ok"),
    _call(7, "ok", None, arguments=None),
    _call(8, "nope", {}),
    _call(9, "get-var", {"kex": "HOME"}),
    _call(10, "get-var", [1]),
    _call(11, "crash", {"reason": "on purpose"}),
    _call(12, "ok", None, _meta={"progressToken": 1.5}),
    _call(13, "ok", None, extra=1),
    _call(14, "ok", None, _meta={"io.modelcontextprotocol/protocolVersion": "2026-07-28"}),
    {"jsonrpc": "2.0", "id": 15, "method": "tools/call"},
    {"jsonrpc": "2.0", "id": 16, "method": "resources/list"},
    {"jsonrpc": "2.0", "id": 17, "method": "no/such-method"},
    {"jsonrpc": "2.0", "id": 18, "method": "list-components"},
    _call(19, "list-components", {}),
    b"{not json",
    b'[{"jsonrpc":"2.0","id":20,"method":"ping"}]',
    b'{"jsonrpc":"2.0","id":null,"method":"ping"}',
    b'{"jsonrpc":"2.0","id":21,"method":"ping","params":[1]}',
    b'{"jsonrpc":"2.0","id":22,"result":{}}',
    {"jsonrpc": "2.0", "id": 23, "method": "ping"},
]


def _answers(home: Home, version: str, **client: Any) -> list[dict[str, Any]]:
    raw = StdioWire(home)
    try:
        replies = [raw.open(version, **client)]
        for probe in PROBES:
            raw.send(probe)
            if probe == b'{"jsonrpc":"2.0","id":22,"result":{}}':
                continue  # a stray response: no answer
            replies.append(raw.answer(_probe_id(probe)))
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
    return replies


def _probe_id(probe: dict[str, Any] | bytes) -> object:
    if isinstance(probe, bytes):
        return 21 if b'"id":21' in probe else None
    return probe["id"]


@pytest.mark.parametrize("version", ["2024-11-05", "2025-11-25", "2026-07-28"])
def test_front_answers_exactly_like_the_sdk(home: Home, prepared: Path, version: str) -> None:
    install_prepared(home.plugin_dir, "env-reader", "misbehaver")
    front = _answers(home, version)
    sdk = _answers(home, version, icons=[])  # not plain: the SDK serves the connection
    assert len(front) == len(sdk) == len(PROBES)  # one answer each, bar the stray response
    for mine, theirs in zip(front, sdk, strict=True):
        assert mine == theirs
    assert front[0]["result"]["protocolVersion"] == (
        version if version in HANDSHAKE_PROTOCOL_VERSIONS else "2025-11-25"
    )


def test_handshake_versions_match_the_sdk() -> None:
    assert tuple(HANDSHAKE_PROTOCOL_VERSIONS) == HANDSHAKE_VERSIONS


def _imported(log: str) -> set[str]:
    """Top-level packages named in ``-X importtime`` output."""
    names = set()
    for line in log.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


SDK_STACK = {"mcp", "mcp_types", "pydantic", "pydantic_core", "anyio"}


def test_no_sdk_on_the_common_path_then_a_builtin_call_starts_it(home: Home) -> None:
    home.plugin_dir.mkdir(parents=True, exist_ok=True)
    raw = StdioWire(home, "-X", "importtime")
    try:
        raw.open()
        raw.send({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        listed = raw.answer(1)["result"]["tools"]
        assert {t["name"] for t in listed} >= {"load-component", "list-components"}
        time.sleep(0.3)
        before = _imported(raw.stderr())
        assert "wassette" in before  # the importtime output is there
        assert not before & (SDK_STACK | {"wasmtime"}), before & (SDK_STACK | {"wasmtime"})
        raw.send(_call(2, "nope", {}))  # a component call: wasmtime, still no SDK
        assert raw.answer(2)["error"]["code"] == -32602
        assert not _imported(raw.stderr()) & SDK_STACK
        raw.send(_call(3, "list-components", {}))
        components = json.loads(raw.answer(3)["result"]["content"][0]["text"])
        assert components["components"] == []
        assert {"mcp", "pydantic"} <= _imported(raw.stderr())
        raw.send({"jsonrpc": "2.0", "id": 4, "method": "tools/list"})
        assert raw.answer(4)["result"]["tools"] == listed  # the front still answers
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()


@pytest.mark.parametrize(
    ("command", "via_click"),
    [
        (("run",), False),
        (("serve", "--stdio"), False),
        (("-v", "serve", "--stdio"), True),  # any option: click parses it, same server
        (("run", "--disable-builtin-tools"), True),
    ],
)
def test_plain_stdio_forms_start_without_click(
    home: Home, command: tuple[str, ...], via_click: bool
) -> None:
    """`run` and `serve --stdio` as an MCP client spawns them skip click (start-up the client
    waits for); any other form goes through click and serves the same way."""
    home.plugin_dir.mkdir(parents=True, exist_ok=True)
    raw = StdioWire(home, "-X", "importtime", command=command)
    try:
        raw.open()
        raw.send({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        names = {t["name"] for t in raw.answer(1)["result"]["tools"]}
        assert ("load-component" in names) is ("--disable-builtin-tools" not in command)
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
    imported = _imported(raw.stderr())
    assert "wassette" in imported
    assert ("click" in imported) is via_click


def test_component_calls_leave_the_sdk_unloaded(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    raw = StdioWire(home, "-X", "importtime")
    try:
        raw.open()
        raw.send(_call(1, "ok"))
        assert raw.answer(1)["result"]["structuredContent"] == {"result": "ok"}
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
    assert not _imported(raw.stderr()) & SDK_STACK


def test_interleaved_calls_return_to_their_ids(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    raw = StdioWire(home)
    try:
        raw.open()
        raw.send(_call("slow", "nap", {"seconds": 0.8}))
        for n in range(6):
            raw.send(_call(n, "chatter", {"text": f"reply-{n}"}))
        replies = [raw.receive() for _ in range(7)]
        assert [r["id"] for r in replies][-1] == "slow"  # the others did not wait for it
        for r in replies[:-1]:
            assert r["result"]["structuredContent"] == {"result": f"reply-{r['id']}"}
        assert sorted(r["id"] for r in replies[:-1]) == list(range(6))
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def test_a_cancelled_call_is_never_answered_and_its_guest_stops(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    raw = StdioWire(home)
    try:
        raw.open()
        raw.send(_call(7, "spin", {}))
        time.sleep(0.8)
        raw.send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": 7, "reason": "test"},
            }
        )
        time.sleep(0.2)
        cpu = _cpu_seconds(raw.proc.pid)
        time.sleep(0.5)
        assert _cpu_seconds(raw.proc.pid) - cpu < 0.15  # no guest burning a core
        raw.send(_call(8, "ok"))
        assert raw.answer(8)["result"]["structuredContent"] == {"result": "ok"}
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
    assert not any(b'"id":7' in line for line in raw.seen)
    calls = [json.loads(x) for x in raw.stderr().splitlines() if '"tools/call"' in x]
    spins = [c for c in calls if c.get("tool") == "spin"]
    assert len(spins) == 1 and spins[0]["cancelled"] is True


def test_progress_while_a_call_runs(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    run_cli(home, "permission", "grant", "timeout", "misbehaver", "30s", check=True)
    raw = StdioWire(home)
    try:
        raw.open()
        raw.send(_call(1, "nap", {"seconds": 5.6}, _meta={"progressToken": "p"}))
        first = raw.receive(timeout=10)
        assert first["method"] == "notifications/progress"
        assert first["params"]["progressToken"] == "p"
        assert "nap still running" in first["params"]["message"]
        assert raw.answer(1)["result"]["isError"] is False
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()


def test_official_client_component_then_builtin_with_elicitation(
    home: Home, prepared: Path
) -> None:
    """Component calls through the front, then a built-in whose approval asks the person:
    the SDK server starts mid-connection and its elicitation round-trip works."""
    install_prepared(home.plugin_dir, "env-reader")
    run_cli(home, "secret", "set", "env-reader", f"API_KEY={CANARY}", check=True)
    grant = ("permission", "grant", "environment-variable", "env-reader", "API_KEY")
    run_cli(home, *grant, check=True)
    log = home.root / "client.log"
    asked: list[str] = []

    async def person(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    async def go() -> None:
        async with stdio_client(home, log=log, mode="legacy", elicitation_callback=person) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            assert "get-var" in names
            got = await c.call_tool("get-var", {"key": "API_KEY"})
            assert got.structured_content == {"result": "[REDACTED:API_KEY]"}
            granted = await c.call_tool(
                "grant-network-permission",
                {"component_id": "env-reader", "details": {"host": "api.example.com"}},
            )
            assert not granted.is_error, text(granted)
            again = await c.call_tool("get-var", {"key": "API_KEY"})
            assert again.structured_content == {"result": "[REDACTED:API_KEY]"}
            assert CANARY not in text(got) + text(again)

    anyio.run(go)
    assert len(asked) == 1 and "api.example.com" in asked[0]
    assert "api.example.com" in (home.plugin_dir / "env-reader.policy.yaml").read_text()
    assert CANARY not in log.read_text()


def test_list_changed_from_the_front_after_a_background_compile(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "env-reader")
    (home.plugin_dir / "env-reader.tools.json").unlink()  # the .compiled stays: fast compile
    raw = StdioWire(home)
    try:
        raw.open()
        raw.send({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        first = {t["name"] for t in raw.answer(1)["result"]["tools"]}
        if "get-var" not in first:
            note = raw.receive(timeout=60)
            assert note == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert "get-var" in {t["name"] for t in raw.answer(2)["result"]["tools"]}
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
    assert not _imported(raw.stderr()) & SDK_STACK


def test_serving_component_calls_loads_neither_the_sdk_nor_openssl(
    home: Home, prepared: Path
) -> None:
    """Calls with an injected secret (so the injection audit hashes its chain), warm instances
    refilled: no MCP SDK, and no OpenSSL (~3 MB resident) in the serving process."""
    install_prepared(home.plugin_dir, "env-reader")
    run_cli(home, "secret", "set", "env-reader", "API_KEY=value-for-the-audit", check=True)
    grant = ("permission", "grant", "environment-variable", "env-reader", "API_KEY")
    run_cli(home, *grant, check=True)
    raw = StdioWire(home, "-X", "importtime")
    try:
        raw.open()
        for n in range(5):
            raw.send(_call(n, "get-var", {"key": "API_KEY"}))
            assert raw.answer(n)["result"]["isError"] is False
        assert raw.close() == 0  # the audit is written at exit
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
    imported = _imported(raw.stderr())
    assert "wasmtime" in imported  # the calls ran
    assert not imported & (SDK_STACK | {"_hashlib", "ssl", "_ssl"})
    audit = (home.root / "state" / "wassette" / "audit.log").read_text()
    assert '"event":"inject"' in audit


def _arena_heaps(pid: int) -> int:
    """glibc's non-main malloc arenas: each is a heap of exactly 64 MiB of address space at a
    64 MiB boundary (its used part rw-p, the rest reserved ---p, anonymous)."""
    heap = 64 << 20
    spans: list[tuple[int, int, str]] = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) == 5:  # anonymous
            start, end = (int(x, 16) for x in fields[0].split("-"))
            spans.append((start, end, fields[1]))
    count = 0
    for i, (start, end, perms) in enumerate(spans):
        if perms != "rw-p" or start % heap:
            continue
        if end - start == heap:
            count += 1
        elif i + 1 < len(spans):
            nxt_start, nxt_end, nxt_perms = spans[i + 1]
            if nxt_perms == "---p" and nxt_start == end and nxt_end - start == heap:
                count += 1
    return count


def test_calls_in_flight_on_many_threads_share_two_malloc_arenas(
    home: Home, prepared: Path
) -> None:
    """16 calls in flight run on 16+ threads; glibc would give each an arena of its own (15
    heaps measured, ~8 MB of peak RSS in their free space). The server caps them at 2."""
    install_prepared(home.plugin_dir, "misbehaver")
    raw = StdioWire(home)
    try:
        raw.open()
        for n in range(16):
            raw.send(_call(n, "nap", {"seconds": 0.3}))
        answers = [raw.receive(20) for _ in range(16)]
        assert sorted(a["id"] for a in answers) == list(range(16))
        assert all(a["result"]["isError"] is False for a in answers)
        assert _arena_heaps(raw.proc.pid) <= MALLOC_ARENAS - 1
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()


def test_a_secret_never_leaves_through_the_front(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "env-reader")
    run_cli(home, "secret", "set", "env-reader", f"API_KEY={CANARY}", check=True)
    grant = ("permission", "grant", "environment-variable", "env-reader", "API_KEY")
    run_cli(home, *grant, check=True)
    raw = StdioWire(home)
    try:
        raw.open()
        raw.send(_call(1, "get-var", {"key": "API_KEY"}))
        assert raw.answer(1)["result"]["structuredContent"] == {"result": "[REDACTED:API_KEY]"}
        raw.send(_call(2, "list-vars", {}))
        assert raw.answer(2)["result"]["isError"] is False
        raw.send(_call(3, "get-var", {"key": "API_KEY", "api_key": CANARY}))
        raw.answer(3)  # an argument named like a secret: logged redacted
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
    assert CANARY not in b"".join(raw.seen).decode()
    assert CANARY not in raw.stderr()


@pytest.mark.parametrize("client", [{}, {"icons": []}], ids=["front", "sdk"])
def test_end_of_input_answers_running_calls_like_the_sdk(
    home: Home, prepared: Path, client: dict[str, Any]
) -> None:
    """A client that closes stdin with calls in flight: each gets the SDK's "Connection
    closed" error, its guest is stopped, and the server exits at once (on both paths)."""
    install_prepared(home.plugin_dir, "misbehaver")
    raw = StdioWire(home)
    try:
        raw.open(**client)
        raw.send(_call(1, "nap", {"seconds": 20}))
        raw.send(_call(2, "spin", {}))
        time.sleep(0.5)
        started = time.monotonic()
        assert raw.close() == 0
        assert time.monotonic() - started < 5
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
    replies = {r["id"]: r for r in map(json.loads, raw.seen[1:])}
    assert set(replies) == {1, 2}
    for reply in replies.values():
        assert reply["error"] == {"code": -32000, "message": "Connection closed"}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=8) | JSON,
        "arguments": st.dictionaries(st.text(max_size=4), JSON, max_size=2) | JSON,
        "cursor": JSON,
        "_meta": st.fixed_dictionaries({}, optional={"progressToken": JSON}) | JSON,
        "protocolVersion": st.sampled_from(HANDSHAKE_VERSIONS) | JSON,
        "capabilities": JSON,
        "clientInfo": JSON,
        "extra": JSON,
    },
)
ENVELOPE = st.fixed_dictionaries(
    {
        "jsonrpc": st.just("2.0") | JSON,
        "method": st.sampled_from(["initialize", "ping", "tools/list", "tools/call"]) | JSON,
    },
    optional={"id": st.integers() | st.text(max_size=4) | JSON, "params": PARAMS | JSON},
)


@given(ENVELOPE)
def test_the_front_takes_only_what_the_rejection_rules_pass(message: dict[str, Any]) -> None:
    """Whatever the front reads as a plain message, the JSON-RPC rejection rules (the same on
    every transport) accept too, and its shape checks never raise on hostile params."""
    if front_mod.well_formed(message):
        assert rejection(json.dumps(message)) is None
        params = message.get("params") or {}
        for check in (front_mod.plain_initialize, front_mod.plain_call, front_mod.plain_list):
            assert check(params) in (True, False)


def test_serve_sweeps_downloads_dead_processes_left_once_it_can_list(
    home: Home, tmp_path: Path
) -> None:
    import subprocess
    import sys

    staging = tmp_path / "tmp"
    staging.mkdir()
    home.env["TMPDIR"] = str(staging)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    left = staging / f"wassette-fetch-{int(dead.stdout)}-abc123.wasm"
    left.write_bytes(b"\0asm partial")
    home.plugin_dir.mkdir(parents=True, exist_ok=True)
    raw = StdioWire(home)
    try:
        raw.open()
        raw.send({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert raw.answer(1)["result"]["tools"]
        deadline = time.monotonic() + 10
        while left.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left.exists()
        assert raw.close() == 0
    finally:
        if raw.proc.poll() is None:
            raw.proc.kill()
