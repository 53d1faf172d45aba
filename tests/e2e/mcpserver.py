"""Helpers for end-to-end tests of `wassette serve` as a real subprocess.

Components are compiled once and kept as a ready plugin-dir template (wasm, .compiled, metadata)
in the test cache; each test copies what it needs (with mtimes, so the metadata stays fresh),
and only the tests that exercise ``load-component`` or background compiling pay for a compile.
"""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.componentbuild import build_component, cache_dir
from tests.conftest import Home, isolated_env
from wassette import layout

PREPARED = ("env-reader", "misbehaver")


def template_dir() -> Path:
    """A plugin dir holding every PREPARED component, loaded (compiled) once and cached."""
    wasms = {name: build_component(name) for name in PREPARED}
    # The file names our layout gives the caches are part of the key: a template made under
    # other names would be copied in as foreign files and recompiled in every test.
    names = "".join(str(w.name) for w in wasms.values()) + layout.COMPILED + layout.METADATA
    digest = hashlib.sha256(names.encode()).hexdigest()
    out = cache_dir() / f"mcp-template-{digest[:16]}"
    with FileLock(str(out) + ".lock"):
        if (out / ".complete").exists():
            return out
        shutil.rmtree(out, ignore_errors=True)
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            env = isolated_env(home)
            for name, wasm in wasms.items():
                src = home / f"{name}.wasm"
                shutil.copyfile(wasm, src)
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "wassette",
                        "component",
                        "load",
                        src.as_uri(),
                        "--plugin-dir",
                        str(out),
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=240,
                )
        (out / ".complete").write_text("")
    return out


def install_prepared(plugin_dir: Path, *names: str) -> None:
    """Copy prepared components (wasm, artifact, key, metadata) into ``plugin_dir``."""
    src = template_dir()
    plugin_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        for path in src.glob(f"{name}.*"):
            if path.suffix in (".lock",):
                continue
            shutil.copy2(path, plugin_dir / path.name)


#: The headers of a raw Streamable HTTP POST.
POST_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def initialize(protocol: str = "2025-11-25", request_id: int = 1) -> dict[str, object]:
    """A raw ``initialize`` request, as a client that names itself ``raw`` sends it."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }


def tools_call(rid: object, name: str, args: Any = None, **extra: Any) -> dict[str, Any]:
    """A raw ``tools/call`` request (``arguments`` only when ``args`` is given; ``extra``
    goes into its params, e.g. ``_meta``)."""
    params: dict[str, Any] = {"name": name, **extra}
    if args is not None:
        params["arguments"] = args
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """Server-sent events (field -> value) from the lines of an event stream."""
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
            continue
        name, _, value = line.partition(":")
        event[name] = value[1:] if value.startswith(" ") else value


def raw_session(client: httpx.Client, url: str, version: str = "2025-11-25") -> dict[str, str]:
    """Open a handshake-era session over the raw wire (``initialize`` and
    ``notifications/initialized``); the headers of every later POST of it."""
    response = client.post(url, json=initialize(version), headers=POST_HEADERS)
    assert response.status_code == 200, response.text
    headers = {
        **POST_HEADERS,
        "mcp-session-id": response.headers["mcp-session-id"],
        "mcp-protocol-version": version,
    }
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert client.post(url, json=note, headers=headers).status_code == 202
    return headers


class StdioWire:
    """`wassette serve --stdio` with raw lines in and out; stderr (logs) to a file."""

    def __init__(
        self, home: Home, *python_flags: str, command: tuple[str, ...] = ("serve", "--stdio")
    ) -> None:
        self.log = home.root / f"serve-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, *python_flags, "-m", "wassette", *command],
                env=home.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.seen: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:  # closed at EOF: the server exited
            for line in self.proc.stdout:
                self.seen.append(line)
                self.lines.put(line)

    def send(self, message: dict[str, Any] | bytes) -> None:
        assert self.proc.stdin is not None
        raw = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.proc.stdin.write(raw + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 20) -> dict[str, Any]:
        try:
            reply = json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"no answer within {timeout} s") from None
        assert isinstance(reply, dict)
        return reply

    def answer(self, rid: object, timeout: float = 20) -> dict[str, Any]:
        """The next message that answers ``rid`` (notifications in between are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.receive(max(0.1, deadline - time.monotonic()))
            if "method" not in reply:
                assert reply.get("id") == rid, reply
                return reply

    def open(self, version: str = "2025-11-25", **client: Any) -> dict[str, Any]:
        """The handshake (``initialize``, then ``notifications/initialized``); the answer."""
        request: dict[str, Any] = initialize(version, request_id=0)
        request["params"]["clientInfo"].update(client)
        self.send(request)
        reply = self.answer(0)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply

    def stderr(self) -> str:
        return self.log.read_text()

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stdio_client(home: Home, *args: str, log: Path, mode: str = "auto", **kw: object) -> Client:
    """An official MCP client over `wassette serve --stdio ARGS` (server stderr -> ``log``)."""
    command = " ".join(
        [f"exec '{sys.executable}' -m wassette serve --stdio"]
        + [f"'{a}'" for a in args]
        + [f"2>>'{log}'"]
    )
    params = StdioServerParameters(command="bash", args=["-c", command], env=home.env)
    return Client(params, mode=mode, **kw)  # type: ignore[arg-type]


@dataclass
class HttpServer:
    """`wassette serve --streamable-http|--sse` on a free 127.0.0.1 port."""

    home: Home
    args: tuple[str, ...] = ()
    transport: str = "--streamable-http"
    token: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}" + (
            "/mcp" if "streamable" in self.transport else "/sse"
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def start(self) -> HttpServer:
        self.log = self.home.root / f"serve-{self.port}.log"
        args = [
            sys.executable,
            "-m",
            "wassette",
            "serve",
            self.transport,
            "--bind-address",
            f"127.0.0.1:{self.port}",
            *self.args,
        ]
        if self.token:
            token_file = self.home.root / "token"
            token_file.write_text(self.token + "\n")
            args += ["--auth-token-file", str(token_file)]
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(
                args, env=self.home.env, stdin=subprocess.DEVNULL, stdout=err, stderr=err
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.stderr()}")
            try:
                if (
                    httpx.get(self.base + "/health", headers=self.headers(), timeout=1).status_code
                    == 200
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("server did not become healthy: " + self.stderr())

    def client(self, mode: str = "auto", **kw: object) -> Client:
        http = create_mcp_http_client(headers=self.headers())
        return Client(streamable_http_client(self.url, http_client=http), mode=mode, **kw)  # type: ignore[arg-type]

    def stderr(self) -> str:
        return self.log.read_text() if self.log and self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop within 10 s of the signal") from None
        return self.proc.returncode

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
