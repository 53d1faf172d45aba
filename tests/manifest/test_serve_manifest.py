"""`wassette serve --manifest` as a real subprocess: the four manifest examples of Wassette's
documentation provision and serve (file:// and oci:// components, a real docker-registry);
a bad digest, an unreachable registry and a malformed manifest fail fast with a located error
and nothing listening; --continue-on-provisioning-failure serves the rest; SIGHUP re-applies."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from tests.components.ocipush import WASM_LAYER, Pusher
from tests.components.registry_server import RegistryServer
from tests.conftest import Home
from tests.e2e.flows import Changes
from tests.e2e.mcpserver import HttpServer, free_port, install_prepared, template_dir
from tests.manifest.watcomponents import answer_component, write_answer

CANARY = "CANARY-manifest-serve-5520"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tools(server: HttpServer) -> set[str]:
    async def go() -> set[str]:
        async with server.client(mode="auto") as c:
            return {t.name for t in (await c.list_tools()).tools}

    return anyio.run(go)


def _call(server: HttpServer, name: str, args: dict[str, object]) -> object:
    async def go() -> object:
        async with server.client(mode="auto") as c:
            result = await c.call_tool(name, args)
            return result.structured_content

    return anyio.run(go)


def _write(home: Home, text: str) -> Path:
    path = home.root / "manifest.yaml"
    path.write_text(text)
    return path


def _refused(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _serve_fails(home: Home, manifest: Path, *extra: str) -> tuple[int, str, int]:
    port = free_port()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wassette",
            "serve",
            "--bind-address",
            f"127.0.0.1:{port}",
            "--manifest",
            str(manifest),
            *extra,
        ],
        env=home.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stderr, port


@pytest.fixture(scope="module")
def pushed(oci_registry: RegistryServer) -> dict[str, str]:
    """Two WAT components in the registry; name -> oci:// uri."""
    pusher = Pusher(oci_registry.url)
    try:
        out = {}
        for repo, tool in (("demo/time", "now"), ("demo/weather", "forecast")):
            pusher.push_artifact(repo, "v1", [(WASM_LAYER, answer_component(tool))])
            out[tool] = f"oci://{oci_registry.host}/{repo}:v1"
        return out
    finally:
        pusher.close()


def test_simple_example_serves_ready_and_info(home: Home, tmp_path: Path) -> None:
    wasm = write_answer(tmp_path / "time.wasm", tool="now")
    manifest = _write(
        home, f"version: 1\ncomponents:\n  - uri: {wasm.as_uri()}\n    permissions: {{}}\n"
    )
    with HttpServer(home, args=("--manifest", str(manifest))) as server:
        assert "now" in _tools(server)
        ready = httpx.get(server.base + "/ready", timeout=5)
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        info = httpx.get(server.base + "/info", timeout=5).json()
        assert info["version"] and info["build"]["python"]
        assert isinstance(info["build_info"], str)  # Wassette's field is a line of text
        assert "2026-07-28" in info["protocol_revisions"]["stateless"]
        assert server.stop() == 0
    assert "time: installed" in server.stderr()


def test_multi_component_example_with_oci_and_policies(
    home: Home, tmp_path: Path, pushed: dict[str, str]
) -> None:
    wasm = write_answer(tmp_path / "files.wasm", tool="list-files")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    manifest = _write(
        home,
        f"""version: 1
components:
  - uri: {pushed["forecast"]}
    name: weather
    permissions:
      network:
        allow:
          - host: api.openweathermap.org
  - uri: {wasm.as_uri()}
    name: files
    permissions:
      storage:
        allow:
          - uri: fs://{workspace}
            access: [read, write]
""",
    )
    with HttpServer(home, args=("--manifest", str(manifest))) as server:
        assert {"forecast", "list-files"} <= _tools(server)
        assert _call(server, "forecast", {}) == {"result": 42}
        server.stop()
    weather_policy = (home.plugin_dir / "demo_weather.policy.yaml").read_text()
    assert "api.openweathermap.org" in weather_policy
    assert str(workspace) in (home.plugin_dir / "files.policy.yaml").read_text()


def test_secrets_example_value_from(home: Home, tmp_path: Path) -> None:
    # The env-reader is installed already (compiled once for the test session); the manifest
    # names the same bytes with their digest, so provisioning fetches and compiles nothing.
    install_prepared(home.plugin_dir, "env-reader")
    src = tmp_path / "env-reader.wasm"
    shutil.copyfile(template_dir() / "env-reader.wasm", src)
    manifest = _write(
        home,
        f"""version: 1
components:
  - uri: {src.as_uri()}
    digest: {_sha(src.read_bytes())}
    permissions:
      environment:
        allow:
          - key: OPENWEATHER_API_KEY
            value_from: WEATHER_KEY
""",
    )
    home.env["WEATHER_KEY"] = CANARY
    with HttpServer(home, args=("--manifest", str(manifest))) as server:
        got = _call(server, "get-var", {"key": "OPENWEATHER_API_KEY"})
        # Injected (so redacted on the way out), never echoed.
        assert got == {"result": "[REDACTED:OPENWEATHER_API_KEY]"}
        assert _call(server, "get-var", {"key": "WEATHER_KEY"}) == {"result": None}
        server.stop()
    assert "env-reader: unchanged" in server.stderr()
    assert CANARY not in server.stderr()


def test_production_example_digest_pinning_is_idempotent(
    home: Home, oci_registry: RegistryServer, pushed: dict[str, str]
) -> None:
    digest = _sha(answer_component("now"))
    manifest = _write(
        home,
        f"""version: 1
components:
  - uri: {pushed["now"]}
    name: time-service
    digest: {digest}
    permissions:
      network:
        allow:
          - host: worldtimeapi.org
      resources:
        memory_bytes: 67108864
    retry_policy:
      attempts: 3
      backoff:
        type: exponential
        base_ms: 100
""",
    )
    with HttpServer(home, args=("--manifest", str(manifest), "--disable-builtin-tools")) as first:
        assert _tools(first) == {"now"}
        first.stop()
    assert "time-service: installed" in first.stderr()
    wasm = home.plugin_dir / "demo_time.wasm"
    stamp = wasm.stat().st_mtime_ns
    pulls = oci_registry.log_tail(1_000_000).count("/v2/demo/time/manifests/v1")
    started = time.monotonic()
    with HttpServer(home, args=("--manifest", str(manifest), "--disable-builtin-tools")) as again:
        restart_seconds = time.monotonic() - started
        assert _tools(again) == {"now"}
        again.stop()
    assert "time-service: unchanged" in again.stderr()
    assert wasm.stat().st_mtime_ns == stamp
    assert oci_registry.log_tail(1_000_000).count("/v2/demo/time/manifests/v1") == pulls
    print(f"restart with an installed pinned component: {restart_seconds:.2f}s to healthy")


def test_bad_digest_fails_fast_with_nothing_listening(home: Home, tmp_path: Path) -> None:
    wasm = write_answer(tmp_path / "a.wasm")
    good = write_answer(tmp_path / "b.wasm", tool="b")
    manifest = _write(
        home,
        f"version: 1\ncomponents:\n  - uri: {wasm.as_uri()}\n    digest: sha256:{'0' * 64}\n"
        f"    permissions: {{}}\n  - uri: {good.as_uri()}\n    permissions: {{}}\n",
    )
    code, err, port = _serve_fails(home, manifest)
    assert code == 7, err
    assert "1 of 2 manifest component(s) failed" in err
    assert "does not match the pinned digest" in err
    assert "b: installed" in err  # every component was attempted before giving up
    assert _refused(port)


def test_unreachable_registry_fails_fast_after_retries(home: Home) -> None:
    dead = free_port()
    manifest = _write(
        home,
        f"version: 1\ncomponents:\n  - uri: oci://127.0.0.1:{dead}/x/y:1\n    name: gone\n"
        "    permissions: {}\n"
        "    retry_policy: {attempts: 2, backoff: {linear: {increment_ms: 10}}}\n",
    )
    code, err, port = _serve_fails(home, manifest)
    assert code == 7, err
    assert "gone" in err and "retrying" in err
    assert _refused(port)


def test_malformed_manifest_fails_before_fetching(home: Home, tmp_path: Path) -> None:
    manifest = _write(
        home,
        "version: 1\ncomponents:\n  - uri: oci://127.0.0.1:1/never/fetched:1\n"
        "    permissions:\n      netwrok: {allow: [{host: a.example}]}\n",
    )
    code, err, port = _serve_fails(home, manifest)
    assert code == 4, err
    assert "components[0].permissions: unknown field 'netwrok' (line 5, column 7)" in err
    assert "fetching" not in err
    assert _refused(port)


def test_continue_on_provisioning_failure_serves_the_rest(home: Home, tmp_path: Path) -> None:
    good = write_answer(tmp_path / "good.wasm", tool="good")
    manifest = _write(
        home,
        f"version: 1\ncomponents:\n  - uri: {(tmp_path / 'missing.wasm').as_uri()}\n"
        f"    name: missing\n    permissions: {{}}\n  - uri: {good.as_uri()}\n"
        "    permissions: {}\n",
    )
    args = ("--manifest", str(manifest), "--continue-on-provisioning-failure")
    with HttpServer(home, args=args) as server:
        assert "good" in _tools(server)
        server.stop()
    assert "not serving missing" in server.stderr()


def test_sighup_reapplies_the_manifest(home: Home, tmp_path: Path) -> None:
    first = write_answer(tmp_path / "first.wasm", tool="first")
    second = write_answer(tmp_path / "second.wasm", tool="second")

    def manifest(path: Path) -> str:
        return f"version: 1\ncomponents:\n  - uri: {path.as_uri()}\n    permissions: {{}}\n"

    path = _write(home, manifest(first))
    with HttpServer(home, args=("--manifest", str(path))) as server:
        assert "first" in _tools(server)
        path.write_text(manifest(second))
        assert server.proc is not None
        changes = Changes()

        async def reapply() -> set[str]:
            async with server.client(mode="legacy", message_handler=changes.handler) as c:
                await anyio.sleep(0.3)  # the session's notification stream is open
                assert server.proc is not None
                server.proc.send_signal(signal.SIGHUP)
                await changes.wait_beyond(0, timeout=20)
                await anyio.sleep(1.0)  # anything more would arrive by now
                assert changes.count == 1  # one unload and one load: one notification
                return {t.name for t in (await c.list_tools()).tools}

        names = anyio.run(reapply)
        assert "second" in names and "first" not in names, names
        # A broken edit is reported and changes nothing.
        path.write_text("version: 1\ncomponents: [\n")
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert "second" in _tools(server)
        assert server.stop() == 0
    assert "not re-applied" in server.stderr()
    state = json.loads((home.plugin_dir / ".manifest-state.json").read_text())
    assert list(state["components"]) == ["second"]


def test_watch_manifest_reapplies_when_the_file_changes(home: Home, tmp_path: Path) -> None:
    first = write_answer(tmp_path / "first.wasm", tool="first")
    second = write_answer(tmp_path / "second.wasm", tool="second")
    body = "version: 1\ncomponents:\n  - uri: {}\n    permissions: {{}}\n"
    path = _write(home, body.format(first.as_uri()))
    with HttpServer(home, args=("--manifest", str(path), "--watch-manifest")) as server:
        assert "first" in _tools(server)
        path.write_text(
            body.format(first.as_uri()) + body.format(second.as_uri()).split("\n", 2)[2]
        )
        deadline = time.monotonic() + 20
        names: set[str] = set()
        while time.monotonic() < deadline and "second" not in names:
            time.sleep(0.3)
            names = _tools(server)
        assert {"first", "second"} <= names, names
        server.stop()
    assert "re-applied" in server.stderr()
