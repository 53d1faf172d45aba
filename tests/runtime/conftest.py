"""Shared fixtures for the runtime tests: real components, compiled once per session.

Compiled artifacts are kept in ``<test cache>/cwasm`` (through our own artifact cache), so a
re-run skips the seconds-long compile of each 18 MB componentize-py component.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.componentbuild import build_component, cache_dir
from wassette.runtime.engine import LoadedComponent, load_component


@pytest.fixture(scope="session")
def component() -> Callable[[str], LoadedComponent]:
    """``component(name)``: the fixture component ``name``, built and loaded (memoised)."""
    loaded: dict[str, LoadedComponent] = {}

    def get(name: str) -> LoadedComponent:
        if name not in loaded:
            wasm = build_component(name)
            loaded[name] = load_component(
                wasm, cache_dir() / "cwasm" / f"{name}.cwasm", component_id=name
            )
        return loaded[name]

    return get


@dataclass
class LocalServer:
    """A real HTTP server on 127.0.0.1 that counts the requests it actually received."""

    port: int
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    state = LocalServer(port=0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.paths.append(self.path)
            body = f"hello from {self.path}".encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Path:
    """A host directory to preopen, with one file in it."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "hello.txt").write_text("hello from the host\n")
    return root
