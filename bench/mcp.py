"""MCP benchmark: the componentize-py env reader over stdio, ours vs a Wassette binary.

The peer is whatever ``WASSETTE_PEER`` names (a Wassette 0.8.0 executable or wrapper script,
run as ``$WASSETTE_PEER run`` for MCP over stdio). Without it, the comparison is skipped with
a message and only our figures are measured.

Every implementation gets the same component (loaded with its own ``component load``), the
same policy (API_KEY allowed), the same secret, and the same official MCP Python client
(handshake era, the one both speak). Implementations run in interleaved rounds (ours, ours with
reuse, peer, ours, ...), because the machine is shared and its load drifts. Per round:

* ready (spawn -> initialize answered), first tools/list, first call;
* sequential ``get-var {"key": "API_KEY"}`` calls: latency distribution, p50/p99, calls/s;
* calls/s with 1, 2, 4, 8 and 16 calls in flight;
* peak RSS of the server process (VmHWM).

Also measured (ours only): the secret lookup on the call path (p50/p99 in microseconds), and
start-up and per-call p50 with 1, 10 and 50 installed components.

Writes bench/results/mcp.json and bench/results/mcp.png (needs matplotlib, a dev dependency).
Usage: WASSETTE_PEER=/path/to/wassette python bench/mcp.py [--calls N] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import compileall
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# This file is named mcp.py: drop its own directory from the path, or `import mcp` finds it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "src"))

import anyio
from bench.homeenv import bench_env
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from tests.componentbuild import build_component

SECRET = "bench-secret-value"  # noqa: S105 - a canary-like test value
LEVELS = (1, 2, 4, 8, 16)
OURS = [sys.executable, "-m", "wassette"]
INVOKE_ARGS = ("tool", "invoke", "get-var", "--args", '{"key": "API_KEY"}')
REUSE = 1000  # limits.max_invocations for the opt-in reuse configuration


def _env(root: Path) -> dict[str, str]:
    return bench_env(root, REPO / "src")


def _run(command: list[str], env: dict[str, str], root: Path, *args: str) -> None:
    subprocess.run(
        [*command, *args], env=env, check=True, capture_output=True, timeout=600, cwd=root
    )


def _setup(command: list[str], root: Path, wasm: Path, cid: str = "env-reader") -> dict[str, str]:
    env = _env(root)
    src = root / f"{cid}.wasm"
    shutil.copyfile(wasm, src)
    _run(command, env, root, "component", "load", src.as_uri())
    _run(command, env, root, "permission", "grant", "environment-variable", cid, "API_KEY")
    _run(command, env, root, "secret", "set", cid, f"API_KEY={SECRET}")
    return env


def _plugin_dir(root: Path) -> Path:
    return root / "data" / "wassette" / "components"


def _enable_reuse(root: Path) -> None:
    from dataclasses import replace

    from wassette.policy.store import PolicyStore

    store = PolicyStore(_plugin_dir(root))
    store.update("env-reader", lambda p: replace(p, max_invocations=REUSE))


def _add_components(root: Path, count: int) -> None:
    """``count`` more installed components (hard links of env-reader's files, same stamps)."""
    from wassette import layout

    plugin = _plugin_dir(root)
    for i in range(count):
        cid = f"extra-{i:02d}"
        for suffix in (layout.WASM, layout.COMPILED, layout.COMPILED_KEY, layout.METADATA):
            src = plugin / f"env-reader{suffix}"
            dest = plugin / f"{cid}{suffix}"
            if src.exists() and not dest.exists():
                os.link(src, dest)


def _children_rss_kb() -> dict[int, int]:
    out: dict[int, int] = {}
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != me:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out[int(proc.name)] = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return out


def _pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 3)


def _serve_args(command: list[str]) -> list[str]:
    return ["serve", "--stdio"] if command[:3] == OURS else ["run"]


async def _drive(
    command: list[str], env: dict[str, str], calls: int, root: Path, *, levels: bool = True
) -> dict[str, Any]:
    params = StdioServerParameters(
        command=command[0], args=[*command[1:], *_serve_args(command)], env=env, cwd=str(root)
    )
    before = set(_children_rss_kb())
    t0 = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        ready = time.perf_counter() - t0
        listing = await client.list_tools()
        listed = time.perf_counter() - t0
        names = {t.name for t in listing.tools}
        # With many copies of env-reader loaded, ours offers each clashing tool as
        # <component-id>.<tool> (MCP forbids duplicate names): call env-reader's.
        tool = "get-var" if "get-var" in names else "env-reader.get-var"
        assert tool in names, sorted(names)[:5]
        t1 = time.perf_counter()
        first = await client.call_tool(tool, {"key": "API_KEY"})
        first_call = time.perf_counter() - t1
        # Ours redacts an injected secret echoed back; the peer returns it. Both are correct.
        assert not first.is_error, first
        samples: list[float] = []
        start = time.perf_counter()
        for _ in range(calls):
            t = time.perf_counter()
            r = await client.call_tool(tool, {"key": "API_KEY"})
            samples.append(time.perf_counter() - t)
            assert not r.is_error
        seq_elapsed = time.perf_counter() - start

        rates: dict[str, float] = {}
        for in_flight in LEVELS if levels else ():
            per_worker = max(1, calls // in_flight)

            async def worker(n: int = per_worker) -> None:
                for _ in range(n):
                    r = await client.call_tool(tool, {"key": "API_KEY"})
                    assert not r.is_error

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(in_flight):
                    tg.start_soon(worker)
            rates[str(in_flight)] = round(per_worker * in_flight / (time.perf_counter() - start), 1)
        rss = {pid: kb for pid, kb in _children_rss_kb().items() if pid not in before}
    return {
        "ready_ms": round(ready * 1000, 1),
        "ready_and_listed_ms": round(listed * 1000, 1),
        "first_call_ms": round(first_call * 1000, 2),
        "sequential": {
            "calls": calls,
            "p50_ms": _pct(samples, 0.50),
            "p99_ms": _pct(samples, 0.99),
            "mean_ms": round(statistics.fmean(samples) * 1000, 3),
            "calls_per_s": round(calls / seq_elapsed, 1),
        },
        "calls_per_s_by_in_flight": rates,
        "latencies_ms": [round(s * 1000, 3) for s in samples],
        "peak_rss_mb": round(max(rss.values()) / 1024, 1) if rss else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _secret_lookup(root: Path) -> dict[str, float]:
    """The secret lookup a call makes (stat-validated cache of the component's secrets file)."""
    from wassette.wiring import build_system

    backend = build_system(environ=_env(root)).backend
    backend.get_all("env-reader")
    samples = []
    for _ in range(20000):
        t = time.perf_counter()
        backend.get_all("env-reader")
        samples.append(time.perf_counter() - t)
    samples.sort()
    return {
        "p50_us": round(samples[len(samples) // 2] * 1e6, 2),
        "p99_us": round(samples[int(len(samples) * 0.99)] * 1e6, 2),
        "target_p99_us": 10,
    }


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(rounds, key=lambda r: r["sequential"]["calls_per_s"])
    mid = dict(ordered[len(ordered) // 2])
    mid["ready_ms_min"] = min(r["ready_ms"] for r in rounds)
    # calls/s per level: the median over rounds, level by level.
    mid["calls_per_s_by_in_flight"] = {
        lvl: statistics.median(r["calls_per_s_by_in_flight"][lvl] for r in rounds)
        for lvl in rounds[0]["calls_per_s_by_in_flight"]
    }
    mid["latencies_ms"] = [x for r in rounds for x in r["latencies_ms"]]
    return mid


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _process_wall(command: list[str], env: dict[str, str], root: Path, *args: str) -> float:
    best = []
    for _ in range(7):
        t = time.perf_counter()
        _run(command, env, root, *args)
        best.append(time.perf_counter() - t)
    return round(statistics.median(best) * 1000, 1)


def _chart(results: dict[str, dict[str, Any]], dest: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install -e '.[dev]')", file=sys.stderr)
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, res in results.items():
        lat = sorted(res["latencies_ms"])
        cap = lat[int(len(lat) * 0.995)]
        left.hist([x for x in lat if x <= cap], bins=60, histtype="step", label=name)
        levels = res["calls_per_s_by_in_flight"]
        right.plot([int(k) for k in levels], list(levels.values()), marker="o", label=name)
    left.set_xlabel("latency of one sequential call (ms)")
    left.set_ylabel("calls")
    left.set_title("latency distribution (sequential)")
    left.legend()
    right.set_xscale("log", base=2)
    right.set_xlabel("calls in flight")
    right.set_ylabel("calls/s")
    right.set_title("throughput by concurrency (stdio)")
    right.legend()
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=3, help="server starts per implementation")
    parser.add_argument("--quick", action="store_true", help="skip the many-components runs")
    opts = parser.parse_args()
    peer_path = os.environ.get("WASSETTE_PEER")
    commands: dict[str, list[str]] = {"ours": OURS, "ours_reuse": OURS}
    if peer_path:
        commands["peer"] = [peer_path]
    else:
        print("WASSETTE_PEER is not set: measuring ours only, no comparison", file=sys.stderr)
    wasm = build_component("env-reader")
    compileall.compile_dir(REPO / "src", quiet=1)
    load_start = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        envs, roots = {}, {}
        for name, command in commands.items():
            roots[name] = Path(tmp) / name
            roots[name].mkdir()
            envs[name] = _setup(command, roots[name], wasm)
        _enable_reuse(roots["ours_reuse"])
        # Interleaved rounds: this machine is shared, so load drifts; alternating spreads it.
        for _ in range(opts.rounds):
            for name, command in commands.items():
                runs[name].append(anyio.run(_drive, command, envs[name], opts.calls, roots[name]))
        extra["secret_lookup"] = _secret_lookup(roots["ours"])
        walls = {}
        for name in ("ours", "peer"):
            if name in commands:
                walls[name] = {
                    "secret_list_ms": _process_wall(
                        commands[name], envs[name], roots[name], "secret", "list", "env-reader"
                    ),
                    "tool_invoke_ms": _process_wall(
                        commands[name], envs[name], roots[name], *INVOKE_ARGS
                    ),
                }
        extra["process_wall"] = walls
        if not opts.quick:
            many: dict[str, Any] = {}
            root = Path(tmp) / "many"
            root.mkdir()
            env = _setup(OURS, root, wasm)
            installed = 1
            for count in (1, 10, 50):
                _add_components(root, count - installed)
                installed = count
                rounds = [
                    anyio.run(functools.partial(_drive, levels=False), OURS, env, opts.calls, root)
                    for _ in range(opts.rounds)
                ]
                many[str(count)] = {
                    "ready_ms_median": statistics.median(r["ready_ms"] for r in rounds),
                    "p50_ms_median": statistics.median(r["sequential"]["p50_ms"] for r in rounds),
                    "load_average_1m": rounds[-1]["load_average_1m"],
                }
            many["p50_ratio_50_over_1"] = _ratio(
                many["50"]["p50_ms_median"], many["1"]["p50_ms_median"]
            )
            extra["components"] = many
    results = {name: _median_round(rounds) for name, rounds in runs.items()}
    summary: dict[str, Any] = {}
    if "peer" in results:
        p = results["peer"]
        for name in ("ours", "ours_reuse"):
            o = results[name]
            summary[name] = {
                "p50_ratio": _ratio(o["sequential"]["p50_ms"], p["sequential"]["p50_ms"]),
                "p99_ratio": _ratio(o["sequential"]["p99_ms"], p["sequential"]["p99_ms"]),
                "seq_calls_per_s_ratio": _ratio(
                    o["sequential"]["calls_per_s"], p["sequential"]["calls_per_s"]
                ),
                "calls_per_s_ratio_by_in_flight": {
                    lvl: _ratio(o["calls_per_s_by_in_flight"][lvl], v)
                    for lvl, v in p["calls_per_s_by_in_flight"].items()
                },
                "ready_ratio": _ratio(o["ready_ms_min"], p["ready_ms_min"]),
                "ready_and_listed_ratio": _ratio(
                    o["ready_and_listed_ms"], p["ready_and_listed_ms"]
                ),
                "first_call_ratio": _ratio(o["first_call_ms"], p["first_call_ms"]),
                "peak_rss_ratio": _ratio(o["peak_rss_mb"], p["peak_rss_mb"]),
            }
        walls = extra["process_wall"]
        summary["secret_list_wall_ratio"] = _ratio(
            walls["ours"]["secret_list_ms"], walls["peer"]["secret_list_ms"]
        )
        summary["tool_invoke_wall_ratio"] = _ratio(
            walls["ours"]["tool_invoke_ms"], walls["peer"]["tool_invoke_ms"]
        )
    chart = REPO / "bench" / "results" / "mcp.png"
    chart.parent.mkdir(parents=True, exist_ok=True)
    drawn = _chart(results, chart)
    out = {
        "benchmark": "mcp-stdio env-reader get-var, official MCP Python client (legacy handshake)",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in load_start],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "peer": peer_path or None,
        "note": "median of interleaved rounds (by sequential calls/s; calls/s per level: median "
        "per level); the machine is shared with other jobs, see the load averages",
        "results": {
            name: {k: v for k, v in res.items() if k not in ("latencies_ms",)}
            for name, res in results.items()
        },
        "summary_ours_over_peer": summary or None,
        **extra,
        "chart": str(chart.relative_to(REPO)) if drawn else None,
    }
    text = json.dumps(out, indent=2)
    print(text)
    (REPO / "bench" / "results" / "mcp.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
