"""Streamable HTTP: calls/s and peak RSS with N official clients, ours vs a Wassette binary.

Each implementation serves the componentize-py env reader (API_KEY allowed, the same secret)
over streamable HTTP on its own free 127.0.0.1 port, from its own home. ``--clients`` official
MCP Python clients (handshake era, one session each) call ``get-var`` in a loop for
``--seconds``; then the server is stopped. Implementations run in interleaved rounds (ours,
peer, ours, ...) because the machine is shared and its load drifts; the medians are compared
as ratios from this one run. The peer is whatever ``WASSETTE_PEER`` names; without it only our
figures are measured.

Writes bench/results/streamable_http.json.
Usage: [WASSETTE_PEER=/path/to/wassette] python bench/streamable_http.py [--seconds 20]
       [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "src"))

import anyio
import httpx
from bench.homeenv import bench_env
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from tests.componentbuild import build_component
from tests.e2e.mcpserver import free_port

OURS = [sys.executable, "-m", "wassette"]
SECRET = "bench-secret-value"  # noqa: S105 - a canary-like test value


def _setup(command: list[str], root: Path, wasm: Path) -> dict[str, str]:
    env = bench_env(root, REPO / "src")
    src = root / "env-reader.wasm"
    src.write_bytes(wasm.read_bytes())
    for args in (
        ("component", "load", src.as_uri()),
        ("permission", "grant", "environment-variable", "env-reader", "API_KEY"),
        ("secret", "set", "env-reader", f"API_KEY={SECRET}"),
    ):
        subprocess.run(
            [*command, *args], env=env, cwd=root, check=True, capture_output=True, timeout=600
        )
    return env


def _tree_hwm_kb(pid: int) -> int:
    """The largest VmHWM of ``pid`` and its descendants (the peer runs under a wrapper)."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parents[int(proc.name)] = int(
                    (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {pid}, {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in tree}
        tree |= frontier
    best = 0
    for p in tree:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best


def _serve(
    command: list[str], env: dict[str, str], root: Path, port: int
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*command, "serve", "--streamable-http", "--bind-address", f"127.0.0.1:{port}"],
        env=env,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the peer's wrapper: its whole group is stopped below
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{command[0]} did not listen on {port}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def _load(url: str, clients: int, seconds: float) -> dict[str, Any]:
    counts = [0] * clients
    errors = [0]
    started = anyio.Event()

    async def client(n: int) -> None:
        async with Client(streamable_http_client(url), mode="legacy") as c:
            for _ in range(10):  # warm-up: sessions and warm instances exist before the clock
                await c.call_tool("get-var", {"key": "API_KEY"})
            await started.wait()
            while True:
                r = await c.call_tool("get-var", {"key": "API_KEY"})
                if r.is_error:
                    errors[0] += 1
                counts[n] += 1

    async with anyio.create_task_group() as tg:
        for n in range(clients):
            tg.start_soon(client, n)
        await anyio.sleep(3)  # every session warmed up
        t0 = time.monotonic()
        started.set()
        await anyio.sleep(seconds)
        done = sum(counts)  # calls answered within the window
        elapsed = time.monotonic() - t0
        tg.cancel_scope.cancel()
    return {"calls": done, "calls_per_s": round(done / elapsed, 1), "errors": errors[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args()
    peer = os.environ.get("WASSETTE_PEER")
    if not peer:
        print("WASSETTE_PEER is not set: measuring ours only", file=sys.stderr)
    wasm = build_component("env-reader")
    impls: dict[str, list[str]] = {"ours": OURS, **({"peer": [peer]} if peer else {})}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in impls}
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        homes = {}
        for name, command in impls.items():
            root = Path(tmp) / name
            root.mkdir()
            homes[name] = (_setup(command, root, wasm), root)
        for rnd in range(opts.rounds):
            for name, command in impls.items():
                env, root = homes[name]
                port = free_port()
                proc = _serve(command, env, root, port)
                try:
                    result = anyio.run(
                        _load, f"http://127.0.0.1:{port}/mcp", opts.clients, opts.seconds
                    )
                    result["peak_rss_mb"] = round(_tree_hwm_kb(proc.pid) / 1024, 1)
                finally:
                    _stop(proc)
                result["load_average_1m"] = round(os.getloadavg()[0], 2)
                runs[name].append(result)
                print(f"round {rnd + 1} {name}: {result}", file=sys.stderr)
    summary = {
        name: {
            "calls_per_s_median": statistics.median(r["calls_per_s"] for r in rs),
            "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in rs),
            "errors": sum(r["errors"] for r in rs),
        }
        for name, rs in runs.items()
    }
    out: dict[str, Any] = {
        "benchmark": f"streamable HTTP, {opts.clients} official clients, {opts.seconds} s per run",
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": load_start},
        "runs": runs,
        "summary": summary,
    }
    if "peer" in summary:
        out["ours_over_peer"] = {
            "calls_per_s": round(
                summary["ours"]["calls_per_s_median"] / summary["peer"]["calls_per_s_median"], 3
            ),
            "peak_rss": round(
                summary["ours"]["peak_rss_mb_median"] / summary["peer"]["peak_rss_mb_median"], 3
            ),
        }
    out["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(out, indent=2)
    print(text)
    (REPO / "bench" / "results" / "streamable_http.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
