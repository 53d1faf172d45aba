"""Safe exposure of `wassette serve` over HTTP, as real subprocesses: refusals before anything
listens, the Host header on a wildcard bind, the session cap (503) and idle expiry, and the
injection audit written by the server itself."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from tests.conftest import CANARY, Home, run_cli
from tests.e2e.flows import text
from tests.e2e.mcpserver import POST_HEADERS, HttpServer, free_port, initialize, install_prepared

INIT = initialize()
WILDCARD = "0.0.0.0"  # noqa: S104 - the name we prove is refused, not a bind
HEADERS = POST_HEADERS


def _serve(home: Home, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wassette", "serve", "--streamable-http", *args],
        env=home.env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def _refused(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
    except httpx.HTTPError:
        return True
    return False


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((), "without authentication"),
        (("--auth-token-file", "TOKEN"), "needs --allowed-host"),
        (("--insecure-no-auth",), "needs --allowed-host"),
        (("--insecure-no-auth", "--allowed-host", WILDCARD), "not a name a client connects to"),
        (("--insecure-no-auth", "--allowed-host", "0.0.0.0:PORT"), "not a name"),
        (("--insecure-no-auth", "--allowed-host", "[::]:PORT"), "not a name"),
    ],
)
def test_unsafe_exposure_is_refused_before_listening(
    home: Home, args: tuple[str, ...], needle: str
) -> None:
    port = free_port()
    token = home.root / "token"
    token.write_text("t" * 32 + "\n")
    argv = [a.replace("TOKEN", str(token)).replace("PORT", str(port)) for a in args]
    proc = _serve(home, "--bind-address", f"0.0.0.0:{port}", *argv)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "hint:" in proc.stderr, proc.stderr
    assert _refused(port)


def test_non_loopback_address_without_token_is_refused(home: Home) -> None:
    # Any non-loopback address is refused the same way, even one that cannot be bound here.
    proc = _serve(home, "--bind-address", "192.0.2.10:9001")
    assert proc.returncode == 2 and "--auth-token-file" in proc.stderr, proc.stderr


def test_wildcard_bind_accepts_only_the_allowed_names(home: Home) -> None:
    port = free_port()
    server = HttpServer(
        home,
        args=("--insecure-no-auth", "--allowed-host", f"127.0.0.1:{port}"),
        port=port,
    )
    # HttpServer binds 127.0.0.1 by default: rebind on every interface for this test.
    server.args = ("--bind-address", f"0.0.0.0:{port}", *server.args)
    with server:
        url = f"http://127.0.0.1:{port}/mcp"
        good = httpx.post(url, json=INIT, headers=HEADERS, timeout=10)
        assert good.status_code == 200
        for host in (f"{WILDCARD}:{port}", WILDCARD, f"localhost:{port}", "evil.example"):
            bad = httpx.post(url, json=INIT, headers={**HEADERS, "host": host}, timeout=10)
            assert bad.status_code in (400, 403, 421), (host, bad.status_code)
        assert "WITHOUT authentication" in server.stderr()


def test_session_cap_and_idle_expiry(home: Home) -> None:
    with HttpServer(home, args=("--max-sessions", "2", "--session-idle-timeout", "1.5")) as server:
        sessions = []
        for _ in range(2):
            r = httpx.post(server.url, json=INIT, headers=HEADERS, timeout=10)
            assert r.status_code == 200
            sessions.append(r.headers["mcp-session-id"])
        third = httpx.post(server.url, json=INIT, headers=HEADERS, timeout=10)
        assert third.status_code == 503
        # Idle sessions expire: their ids stop working and room frees up. (Probing keeps a
        # session alive, so wait well past the timeout first, then look once.)
        time.sleep(5)
        probe = httpx.post(
            server.url,
            json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
            headers={**HEADERS, "mcp-session-id": sessions[0]},
            timeout=10,
        )
        assert probe.status_code == 404
        again = httpx.post(server.url, json=INIT, headers=HEADERS, timeout=10)
        assert again.status_code == 200


def test_serve_writes_the_injection_audit(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "env-reader")
    run_cli(home, "secret", "set", "env-reader", f"API_KEY={CANARY}", check=True)
    run_cli(
        home, "permission", "grant", "environment-variable", "env-reader", "API_KEY", check=True
    )
    with HttpServer(home) as server:

        async def go() -> str:
            async with server.client(mode="legacy") as c:
                return text(await c.call_tool("get-var", {"key": "API_KEY"}))

        answer = anyio.run(go)
        assert "[REDACTED:API_KEY]" in answer and CANARY not in answer
        assert server.stop() == 0
        assert CANARY not in server.stderr()
    log = home.root / "state" / "wassette" / "audit.log"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    injections = [r for r in records if r["event"] == "inject"]
    assert injections and injections[-1]["component"] == "env-reader"
    assert injections[-1]["keys"] == {"API_KEY": "secret"}
    assert CANARY not in log.read_text()
    verify = run_cli(home, "secret", "audit", "--verify")
    assert verify.returncode == 0, verify.stderr
