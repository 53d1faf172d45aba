"""The smaller load items: staged downloads removed on SIGTERM/SIGINT and swept at the next
fetch, MCP-facing load errors that reveal nothing about the server's files, relative and very
long paths refused cleanly, no redirect from a remote origin to a private address."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from tests.components.hostile import Slowloris
from tests.conftest import Home
from tests.e2e.flows import text
from wassette.components.sources import fetch
from wassette.components.sources._http import is_private_address, refuse_private_redirect
from wassette.components.sources.base import FetchOptions, sweep_stale_staging
from wassette.config import load_settings
from wassette.errors import ComponentSourceError, WassetteError
from wassette.manager import ComponentManager
from wassette.secretstore.factory import open_backend
from wassette.server.app import WassetteMCP


def _staged(directory: Path) -> list[Path]:
    return sorted(directory.glob("wassette-fetch-*"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_killed_load_leaves_no_staged_download(home: Home, tmp_path: Path, sig: int) -> None:
    staging = tmp_path / "tmp"
    staging.mkdir()
    server = Slowloris("blob", drip=0.2)
    env = dict(home.env, TMPDIR=str(staging))
    # The context manager closes the pipes (no unclosed-file warning) and reaps the child.
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wassette",
            "component",
            "load",
            "--timeout",
            "60",
            f"oci://{server.host}/slow/thing:v1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            deadline = time.monotonic() + 30
            while not _staged(staging) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _staged(staging), "the blob download never started"
            proc.send_signal(sig)
            proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            server.close()
    assert proc.returncode != 0
    assert _staged(staging) == []


def test_next_fetch_sweeps_what_dead_processes_left(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    left = tmp_path / f"wassette-fetch-{dead_pid}-abc123.wasm"
    left.write_bytes(b"\0asm partial")
    live = tmp_path / f"wassette-fetch-{os.getppid()}-live99.wasm"  # a running process
    live.write_bytes(b"\0asm in progress")
    mine = tmp_path / f"wassette-fetch-{os.getpid()}-mine.wasm"
    mine.write_bytes(b"x")
    other = tmp_path / "unrelated-1-file.wasm"
    other.write_bytes(b"x")
    with pytest.raises(WassetteError):
        fetch("file:///nonexistent/x.wasm", FetchOptions(temp_dir=tmp_path))
    assert not left.exists()
    assert live.exists() and mine.exists() and other.exists()
    assert sweep_stale_staging(tmp_path) == []


def _mcp(home: Home) -> WassetteMCP:
    settings = load_settings(plugin_dir=home.plugin_dir, environ=home.env)
    home.plugin_dir.mkdir(parents=True, exist_ok=True)
    manager = ComponentManager(settings.plugin_dir, open_backend(settings, home.env))
    return WassetteMCP(manager, fetch_options=lambda _uri: FetchOptions(total_timeout=5))


def test_mcp_load_errors_do_not_reveal_server_files(
    home: Home, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exists_not_wasm = tmp_path / "notes.wasm"
    exists_not_wasm.write_text("CANARY-file-content-3391")
    unreadable_dir = tmp_path / "adir.wasm"
    unreadable_dir.mkdir()
    probes = {
        "missing": "file:///nonexistent/dir/x.wasm",
        "not-wasm": exists_not_wasm.as_uri(),
        "directory": unreadable_dir.as_uri(),
        "bare-absolute": str(exists_not_wasm),
        "system-file": "/etc/hostname",
        "long-component": "/" + "a" * 300 + "/x.wasm",
    }
    caplog.set_level(logging.WARNING, logger="wassette")
    answers: dict[str, str] = {}

    async def go() -> None:
        async with Client(_mcp(home).server, mode="legacy") as c:
            for name, path in probes.items():
                result = await c.call_tool("load-component", {"path": path})
                assert result.is_error, name
                answers[name] = text(result)
            relative = await c.call_tool("load-component", {"path": "some/dir/x.wasm"})
            assert relative.is_error and "relative paths are not accepted" in text(relative)
            long_path = await c.call_tool("load-component", {"path": "/" + "b" * 5000})
            assert long_path.is_error and "longer than 4096" in text(long_path)
            assert "internal error" not in text(long_path)

    anyio.run(go)
    for name, answer in answers.items():
        assert "cannot load" in answer, (name, answer)
        assert "internal error" not in answer
        for tell in ("does not exist", "not a WebAssembly", "directory", "permission", "CANARY"):
            assert tell not in answer, (name, answer)
    # Apart from the URI they name, all answers are the same.
    shapes = {re.sub(r"cannot load '[^']*'(\.\.\.)?", "<uri>", a) for a in answers.values()}
    assert len(shapes) == 1, shapes
    # The operator still gets the detail.
    assert "does not exist" in caplog.text and "not a WebAssembly" in caplog.text


def test_remote_origin_may_not_redirect_to_private_addresses() -> None:
    for host in (
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "169.254.169.254",
        "[::1]",
        "localhost",
        "foo.localhost",
        "0.0.0.0",  # noqa: S104 - a redirect target, nothing binds it
        "[::ffff:127.0.0.1]",
    ):
        assert is_private_address(host.strip("[]")), host
        with pytest.raises(ComponentSourceError, match="loopback or private"):
            refuse_private_redirect(httpx.URL(f"http://{host}/blob"), "registry x")
    for host in ("ghcr.io", "8.8.8.8", "[2001:4860:4860::8888]"):
        assert not is_private_address(host.strip("[]")), host
        refuse_private_redirect(httpx.URL(f"https://{host}/blob"), "registry x")


def test_loopback_registry_may_still_redirect_to_loopback(
    oci_registry: Any, published: Any, tmp_path: Path
) -> None:
    # The rule is about remote origins: a local registry's local CDN keeps working.
    from tests.components.servers import RecordingProxy, TokenFront

    cdn = RecordingProxy(oci_registry.url)
    front = TokenFront(oci_registry.url, blob_redirect=cdn.url)
    try:
        with fetch(f"oci://{front.host}/test/hello:v1", FetchOptions(temp_dir=tmp_path)) as got:
            assert got.size > 0
        assert cdn.seen
    finally:
        front.close()
        cdn.close()
