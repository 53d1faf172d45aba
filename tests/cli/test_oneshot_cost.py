"""What a one-shot command costs besides its work: no cyclic garbage collection while it
starts, and next to nothing left for the collections at exit (the engine's exit hook and
interpreter finalization each walked every object: ~25 ms of a ``tool invoke``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.componentbuild import build_component
from tests.conftest import Home, run_cli

PROBE = """
import gc, json, sys
from wassette.cli import main
import wassette.cli.fastpath, wassette.cli.logsetup  # start-up, before the command runs
runs = []
gc.callbacks.append(lambda phase, info: runs.append(info["generation"]) if phase == "stop" else 0)
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.__stderr__.write("\\nGC=" + json.dumps({
    "collections": len(runs),
    "enabled": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
}) + "\\n")
"""


def _gc_report(home: Home, *args: str) -> dict[str, int]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=home.env,
        capture_output=True,
        text=True,
        input="",
        timeout=120,
        check=False,
    )
    line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("GC=")), None)
    assert line is not None, proc.stderr[-2000:]
    report: dict[str, int] = json.loads(line.removeprefix("GC="))
    return report


def _assert_cheap(report: dict[str, int]) -> None:
    assert report["collections"] == 0, report  # none while the command ran
    assert report["enabled"], report  # the collector's state is given back
    assert report["frozen"] > 10_000, report  # modules, classes, functions: frozen
    assert report["tracked"] < 2_000, report  # what the exit collections still walk


def test_secret_list_runs_no_collection_and_leaves_little(home: Home) -> None:
    run_cli(home, "secret", "set", "c", "API_KEY=v", "--force", check=True)
    _assert_cheap(_gc_report(home, "secret", "list", "c"))


@pytest.fixture(scope="module")
def env_reader() -> Path:
    return build_component("env-reader")


def test_tool_invoke_runs_no_collection_and_leaves_little(
    home: Home, env_reader: Path, tmp_path: Path
) -> None:
    wasm = tmp_path / "env-reader.wasm"
    shutil.copyfile(env_reader, wasm)
    run_cli(home, "component", "load", wasm.as_uri(), check=True)
    run_cli(home, "permission", "grant", "environment-variable", "env-reader", "K", check=True)
    run_cli(home, "secret", "set", "env-reader", "K=v", check=True)
    report = _gc_report(home, "tool", "invoke", "get-var", "--args", '{"key": "K"}')
    _assert_cheap(report)


def test_a_failing_one_shot_still_gives_the_collector_back(home: Home) -> None:
    report = _gc_report(home, "secret", "list", "bad id")
    assert report["enabled"] and report["collections"] == 0, report
