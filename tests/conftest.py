"""Shared fixtures: every test runs with its own XDG directories and no stray WASSETTE_*,
VAULT_*, BAO_* or XDG_* variables from the shell that started pytest."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.secretstore.openbao import BaoServer

CANARY = "CANARY-s3cr3t-9f27c1"


@dataclass
class Home:
    """An isolated user environment for one test."""

    root: Path
    env: dict[str, str]

    @property
    def data(self) -> Path:
        return self.root / "data" / "wassette"

    @property
    def secrets_dir(self) -> Path:
        return self.data / "secrets"

    @property
    def plugin_dir(self) -> Path:
        return self.data / "components"

    @property
    def config_file(self) -> Path:
        return self.root / "config" / "wassette" / "config.toml"


# Settings and credentials of the program under test (and of the Vault/OpenBao CLIs): a value
# in the developer's shell must never change what a test exercises or where it writes.
CLEARED_PREFIXES = ("WASSETTE_", "VAULT_", "BAO_", "XDG_")
# Test-harness variables that share a prefix but are no setting of wassette: kept.
HARNESS_VARS = frozenset({"WASSETTE_TEST_CACHE"})


def clear_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every CLEARED_PREFIXES variable but HARNESS_VARS (restored after the test)."""
    for key in list(os.environ):
        if key.startswith(CLEARED_PREFIXES) and key not in HARNESS_VARS:
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without WASSETTE_*, VAULT_*, BAO_* and XDG_* variables.

    Tests that need one set it themselves (``home`` sets XDG_*, which is why it depends on
    this fixture: it must run after the clearing, not before).
    """
    clear_environment(monkeypatch)


def isolated_env(root: Path, xdg: Path | None = None) -> dict[str, str]:
    """The environment for a subprocess in an isolated home: this process's, without any
    CLEARED_PREFIXES variable, with ``HOME=root`` and the XDG directories under ``xdg``
    (default: ``root``)."""
    base = root if xdg is None else xdg
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED_PREFIXES)}
    env.update(
        HOME=str(root),
        XDG_DATA_HOME=str(base / "data"),
        XDG_CONFIG_HOME=str(base / "config"),
        XDG_STATE_HOME=str(base / "state"),
        XDG_CACHE_HOME=str(base / "cache"),
    )
    return env


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _clean_environment: None) -> Home:
    root = tmp_path / "home"
    root.mkdir()
    env = isolated_env(root)
    for key in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(key, env[key])
    return Home(root, env)


def run_cli(
    home: Home,
    *args: str,
    input: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m wassette ARGS` as a real subprocess in the isolated home."""
    full_env = dict(home.env)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "wassette", *args],
        capture_output=True,
        text=True,
        input=input if input is not None else "",
        env=full_env,
        timeout=60,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"wassette {args[:2]} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def env_reader() -> Path:
    """The env-reader component (componentize-py), built from source once per session."""
    from tests.componentbuild import build_component

    return build_component("env-reader")


@pytest.fixture(scope="session")
def bao_server() -> Iterator[BaoServer]:
    """One real OpenBao dev server on a random 127.0.0.1 port, for the whole test session."""
    server = BaoServer().start()
    try:
        yield server
    finally:
        server.cleanup()


def load_env_reader_cli(home: Home, wasm: Path, workdir: Path, key: str, value: str) -> None:
    """Through the CLI, as a user would: load the env reader, allow ``key``, set its secret."""
    import shutil

    copy = workdir / "env-reader.wasm"
    shutil.copyfile(wasm, copy)
    run_cli(home, "component", "load", copy.as_uri(), check=True)
    run_cli(home, "permission", "grant", "environment-variable", "env-reader", key, check=True)
    run_cli(home, "secret", "set", "env-reader", f"{key}={value}", check=True)


def run_cli_in_pty(
    home: Home, args: list[str], wait_for: bytes, answer: bytes
) -> tuple[int, str, str]:
    """stdin on a real pseudo-terminal; returns (code, stdout, stderr + terminal echo)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wassette", *args],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=home.env,
    )
    os.close(slave)
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 30
    while wait_for not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    os.write(master, answer)
    out, err = proc.communicate(timeout=30)
    echoed = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        echoed += chunk
    os.close(master)
    return proc.returncode, out.decode(), (seen + err + echoed).decode(errors="replace")
