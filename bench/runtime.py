"""Runtime benchmark: compile vs cached load, and the cost of one sandboxed call.

Prints one JSON document and saves it to bench/results/runtime.json. Measures, on the 18 MB
componentize-py env-reader test component:

* compile (no cache) vs our artifact cache hit, through ``load_component``;
* fresh-Store instantiate + call of ``get-var`` through ``invoke`` (worker thread, WASI config,
  capture, classification) vs a bare wasmtime-py instantiate + call of the same function;
* ``invoke`` with 0, 10 and 100 environment entries.

Usage: python bench/runtime.py [--calls N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

import wasmtime
import wasmtime.component as wc
from tests.componentbuild import build_component

from wassette.runtime.capabilities import Capabilities
from wassette.runtime.engine import get_engine, load_component, wasmtime_version
from wassette.runtime.invoke import invoke


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    ms = [s * 1000 for s in ordered]

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p * len(ms)))], 3)

    return {
        "n": len(ms),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def _time(fn: Callable[[], object], n: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def _env_assembly(n_calls: int) -> dict[str, object]:
    """What the manager does before each call: current policy + secrets (stat-validated
    caches) -> Capabilities, with 0, 10 and 100 secrets all allowed by the policy."""
    from wassette.manager import ComponentManager
    from wassette.policy.model import Policy
    from wassette.policy.store import PolicyStore
    from wassette.secretstore.store import SecretStore

    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (0, 10, 100):
            comp_dir = Path(tmp) / f"c{n}"
            comp_dir.mkdir()
            (comp_dir / "bench.wasm").write_bytes(b"\0asm")
            secrets = SecretStore(Path(tmp) / f"s{n}")
            policies = PolicyStore(comp_dir)
            items = {f"SECRET_{i}": f"value-{i}-" + "x" * 32 for i in range(n)}
            if items:
                secrets.set_many("bench", items)
            policies.save("bench", Policy())  # a policy (allowing nothing yet) even for n=0
            for key in items:
                policies.grant_environment_variable("bench", key)
            manager = ComponentManager(comp_dir, secrets, policies=policies, inherited_env={})
            samples = _time(lambda m=manager: m.capabilities("bench"), n_calls)
            stats = _stats(samples)
            out[f"secrets_{n}"] = {
                "p50_us": round(stats["p50_ms"] * 1000, 1),
                "p99_us": round(stats["p99_ms"] * 1000, 1),
                "n": stats["n"],
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per measurement")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "runtime.json")
    opts = parser.parse_args()

    wasm = build_component("env-reader")
    engine = get_engine()
    result: dict[str, object] = {
        "component": {"name": "env-reader (componentize-py)", "bytes": wasm.stat().st_size},
        "host": {
            "python": platform.python_version(),
            "wasmtime": wasmtime_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            # The machine is shared: a high load average means noisy tails.
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        },
    }

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "env-reader.cwasm"
        started = time.perf_counter()
        loaded = load_component(wasm, cache, component_id="env-reader")
        compile_s = time.perf_counter() - started
        assert not loaded.cache_hit
        hits = _time(lambda: load_component(wasm, cache, component_id="env-reader"), 20, 1)
        # What a hit costs when the wasm's (size, mtime) stamp changed and it must be re-hashed.
        rehash = _time(lambda: hashlib.sha256(wasm.read_bytes()).hexdigest(), 5, 1)
        raw_deserialize = _time(lambda: wc.Component.deserialize_file(engine, str(cache)), 20, 1)
        result["load"] = {
            "compile_and_write_cache_s": round(compile_s, 3),
            "cache_hit": _stats(hits),
            "raw_deserialize_file": _stats(raw_deserialize),
            "wasm_sha256_when_stamp_changed": _stats(rehash),
            "cwasm_bytes": cache.stat().st_size,
            "speedup_p50": round(compile_s / statistics.median(hits), 1),
        }

    caps = Capabilities(env=(("WHO", "bench"),))

    def via_invoke() -> object:
        return invoke(loaded, ("get-var",), ["WHO"], caps).value

    linker = wc.Linker(engine)
    linker.add_wasip2()
    index = loaded.component.get_export_index("get-var")
    assert index is not None

    def bare() -> object:
        store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.env = [["WHO", "bench"]]
        store.set_wasi(wasi)
        store.set_epoch_deadline(1000)
        instance = linker.instantiate(store, loaded.component)
        func = instance.get_func(store, index)
        assert func is not None
        return func(store, "WHO")

    assert via_invoke() == "bench" and bare() == "bench"
    invoke_samples = _time(via_invoke, opts.calls)
    bare_samples = _time(bare, opts.calls)
    inv, raw = _stats(invoke_samples), _stats(bare_samples)
    result["call"] = {
        "what": "fresh Store + instantiate + get-var call",
        "invoke": inv,
        "bare_wasmtime_py": raw,
        "ratio_p50": round(inv["p50_ms"] / raw["p50_ms"], 2),
        "ratio_p99": round(inv["p99_ms"] / raw["p99_ms"], 2),
        "invoke_calls_per_s_sequential": round(1000 / inv["mean_ms"], 1),
    }

    env_cost: dict[str, object] = {}
    for n in (0, 10, 100):
        env = tuple((f"VAR_{i}", f"value-{i}-" + "x" * 32) for i in range(n))
        caps_n = Capabilities(env=env)
        samples = _time(
            lambda c=caps_n: invoke(loaded, ("get-var",), ["VAR_0"], c), opts.calls // 2
        )
        env_cost[f"env_{n}"] = _stats(samples)
    result["invoke_by_env_size"] = env_cost
    result["env_assembly_by_secret_count"] = _env_assembly(opts.calls * 20)

    text = json.dumps(result, indent=2)
    print(text)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
