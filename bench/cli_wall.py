"""Process wall time of one-shot CLI commands: ``secret list`` and ``tool invoke``.

The same measurement as bench/mcp.py's ``process_wall`` section (same setup, same commands),
runnable alone and with more runs: min and median of N runs each, ours and, when
``WASSETTE_PEER`` names a Wassette binary, the peer, interleaved run by run so load drift hits
both alike. Each also gets its CPU time (user + system, from the kernel's accounting of the
child): on a shared machine it moves far less with the load than the wall does, so it is the
better before/after figure for a change of ours.

Usage: [WASSETTE_PEER=/path/to/wassette] python bench/cli_wall.py [--runs N] [--baseline SRC]
(``--baseline SRC``: also measure another checkout's ``src`` directory, e.g. before a change).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.homeenv import bench_env
from tests.componentbuild import build_component

SECRET = "bench-secret-value"  # noqa: S105 - a canary-like test value
OURS = [sys.executable, "-m", "wassette"]
COMMANDS = {
    "secret_list": ("secret", "list", "env-reader"),
    "tool_invoke": ("tool", "invoke", "get-var", "--args", '{"key": "API_KEY"}'),
}


def _env(root: Path, src: Path = REPO / "src") -> dict[str, str]:
    return bench_env(root, src)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], env: dict[str, str], root: Path, *args: str) -> float:
    return _timed(command, env, root, *args)[0]


def _timed(command: list[str], env: dict[str, str], root: Path, *args: str) -> tuple[float, float]:
    """(wall, cpu) seconds of one run."""
    cpu, start = _cpu(), time.perf_counter()
    subprocess.run(
        [*command, *args], env=env, check=True, capture_output=True, timeout=600, cwd=root
    )
    return time.perf_counter() - start, _cpu() - cpu


def _setup(command: list[str], root: Path, wasm: Path, src: Path) -> dict[str, str]:
    env = _env(root, src)
    src = root / "env-reader.wasm"
    shutil.copyfile(wasm, src)
    _run(command, env, root, "component", "load", src.as_uri())
    _run(command, env, root, "permission", "grant", "environment-variable", "env-reader", "API_KEY")
    _run(command, env, root, "secret", "set", "env-reader", f"API_KEY={SECRET}")
    return env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another checkout's src directory")
    opts = parser.parse_args()
    commands = {"ours": OURS}
    srcs = {"ours": REPO / "src"}
    if opts.baseline:
        commands["baseline"] = OURS
        srcs["baseline"] = opts.baseline.resolve()
        compileall.compile_dir(srcs["baseline"], quiet=1)
    if os.environ.get("WASSETTE_PEER"):
        commands["peer"] = [os.environ["WASSETTE_PEER"]]
    wasm = build_component("env-reader")
    compileall.compile_dir(REPO / "src", quiet=1)
    out: dict[str, dict[str, dict[str, float]]] = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        envs, roots = {}, {}
        for name, command in commands.items():
            roots[name] = Path(tmp) / name
            roots[name].mkdir()
            envs[name] = _setup(command, roots[name], wasm, srcs.get(name, REPO / "src"))
        for what, args in COMMANDS.items():
            times: dict[str, list[float]] = {name: [] for name in commands}
            cpus: dict[str, list[float]] = {name: [] for name in commands}
            for name, command in commands.items():  # one warm-up each
                _run(command, envs[name], roots[name], *args)
            for _ in range(opts.runs):
                for name, command in commands.items():
                    wall, cpu = _timed(command, envs[name], roots[name], *args)
                    times[name].append(wall)
                    cpus[name].append(cpu)
            for name, samples in times.items():
                out.setdefault(name, {})[what] = {
                    "min_ms": round(min(samples) * 1000, 1),
                    "median_ms": round(statistics.median(samples) * 1000, 1),
                    "cpu_min_ms": round(min(cpus[name]) * 1000, 1),
                    "cpu_median_ms": round(statistics.median(cpus[name]) * 1000, 1),
                }
    for name in ("ours", "baseline"):
        if "peer" in out and name in out:
            for stat in ("median", "min"):  # the minimum: the run least disturbed by the load
                out[f"{name}_over_peer_{stat}"] = {
                    what: round(out[name][what][f"{stat}_ms"] / out["peer"][what][f"{stat}_ms"], 2)
                    for what in COMMANDS
                }
    out["load_average_1m"] = {  # type: ignore[assignment]
        "before": round(load_before, 2),
        "after": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
