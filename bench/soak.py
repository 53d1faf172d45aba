"""Soak: 8 clients over streamable HTTP for minutes while the secret is rotated from the CLI.

``wassette serve --streamable-http`` runs as a real subprocess with the env-reader component
(API_KEY allowed, ``--no-redact`` so answers carry the value). Eight official MCP clients call
``get-var`` in a loop; every ``--rotate-every`` seconds another process runs
``wassette secret set env-reader API_KEY=rot-<n>``. An answer is *stale* when its call was sent
after rotation n had returned, yet it carries a value older than rot-<n>: warm instances built
for an old value must never serve such a call. Reports calls/s, errors, stale answers and the
server's RSS at start, every 10 s and at the end. Writes bench/results/soak.json.

Usage: python bench/soak.py [--seconds 180] [--clients 8] [--rotate-every 2]
"""

from __future__ import annotations

import argparse
import json
import os
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
from bench.homeenv import bench_env
from tests.conftest import Home
from tests.e2e.mcpserver import HttpServer, install_prepared


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cli(home: Home, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "wassette", *args],
        env=home.env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rotate-every", type=float, default=2.0)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = bench_env(root, REPO / "src")
        home = Home(root, env)
        install_prepared(home.plugin_dir, "env-reader")
        _cli(home, "permission", "grant", "environment-variable", "env-reader", "API_KEY",
             "--no-redact")  # fmt: skip
        _cli(home, "secret", "set", "env-reader", "API_KEY=rot-000000", "--force")
        with HttpServer(home) as server:
            assert server.proc is not None
            pid = server.proc.pid
            result = anyio.run(_soak, server, home, opts)
            result["rss_kb_end"] = _rss_kb(pid)
            server.stop()
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=2)
    print(text)
    (REPO / "bench" / "results" / "soak.json").write_text(text + "\n")


async def _soak(server: HttpServer, home: Home, opts: argparse.Namespace) -> dict[str, Any]:
    assert server.proc is not None
    pid = server.proc.pid
    rotations: list[tuple[float, int]] = [(0.0, 0)]  # (time rotation n had returned, n)
    answers: list[tuple[float, int]] = []  # (time the call was sent, n in the answer)
    errors: list[str] = []
    stop_at = time.monotonic() + opts.seconds
    rss_start = 0

    async def client_loop() -> None:
        async with server.client(mode="legacy") as c:
            while time.monotonic() < stop_at:
                sent = time.monotonic()
                try:
                    r = await c.call_tool("get-var", {"key": "API_KEY"})
                except Exception as exc:
                    errors.append(type(exc).__name__)
                    continue
                value = (r.structured_content or {}).get("result")
                if r.is_error or not isinstance(value, str) or not value.startswith("rot-"):
                    errors.append("bad answer")
                    continue
                answers.append((sent, int(value.removeprefix("rot-"))))

    async def rotator() -> None:
        n = 0
        while time.monotonic() < stop_at - opts.rotate_every:
            await anyio.sleep(opts.rotate_every)
            n += 1
            await anyio.to_thread.run_sync(
                _cli, home, "secret", "set", "env-reader", f"API_KEY=rot-{n:06d}", "--force"
            )
            rotations.append((time.monotonic(), n))

    async with server.client(mode="legacy") as warmup:
        for _ in range(20):
            await warmup.call_tool("get-var", {"key": "API_KEY"})
    rss_start = _rss_kb(pid)
    started = time.monotonic()
    # RSS every 10 s: "flat" means the second half of the run does not grow, once the eight
    # sessions and their warm instances exist (the first seconds always grow by those).
    rss_series: list[tuple[float, int]] = []

    async def sampler() -> None:
        while time.monotonic() < stop_at:
            rss_series.append((round(time.monotonic() - started, 1), _rss_kb(pid)))
            await anyio.sleep(10)

    async with anyio.create_task_group() as tg:
        for _ in range(opts.clients):
            tg.start_soon(client_loop)
        tg.start_soon(rotator)
        tg.start_soon(sampler)
    elapsed = time.monotonic() - started
    stale = 0
    for sent, got in answers:
        newest = max(n for t, n in rotations if t <= sent)
        if got < newest:
            stale += 1
    return {
        "benchmark": "soak: streamable HTTP, official client, get-var, secret rotated by CLI",
        "clients": opts.clients,
        "seconds": round(elapsed, 1),
        "rotations": len(rotations) - 1,
        "calls": len(answers),
        "calls_per_s": round(len(answers) / elapsed, 1),
        "errors": len(errors),
        "stale_answers_after_rotation": stale,
        "rss_kb_start": rss_start,
        "rss_kb_every_10s": [kb for _, kb in rss_series],
        "rss_kb_growth_second_half": _second_half_growth([kb for _, kb in rss_series]),
    }


def _second_half_growth(series: list[int]) -> int | None:
    """The floor (lowest sample) of the last quarter minus that of the second quarter.

    Floors, because a single sample catches transient peaks (a burst of in-flight calls, the
    allocator not yet returning pages); a leak raises the floor. None for too short a run.
    """
    if len(series) < 8:
        return None
    quarter = len(series) // 4
    return min(series[-quarter:]) - min(series[quarter : 2 * quarter])


if __name__ == "__main__":
    main()
