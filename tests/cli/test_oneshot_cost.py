"""What a one-shot command costs besides its work: no cyclic garbage collection while it
starts, and next to nothing left for the collections at exit (the engine's exit hook and
interpreter finalization each walked every object: ~25 ms of a ``tool invoke``)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Home, load_env_reader_cli, run_cli
from wassette.cli.fastpath import one_shot_gc, resume_collection

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


def _assert_cheap(report: dict[str, int], collections: int = 0) -> None:
    assert report["collections"] <= collections, report  # start-up ran none
    assert report["enabled"], report  # the collector's state is given back
    assert report["frozen"] > 10_000, report  # modules, classes, functions: frozen
    assert report["tracked"] < 2_000, report  # what the exit collections still walk


def test_secret_list_runs_no_collection_and_leaves_little(home: Home) -> None:
    run_cli(home, "secret", "set", "c", "API_KEY=v", "--force", check=True)
    _assert_cheap(_gc_report(home, "secret", "list", "c"))


def test_tool_invoke_runs_no_collection_and_leaves_little(
    home: Home, env_reader: Path, tmp_path: Path
) -> None:
    load_env_reader_cli(home, env_reader, tmp_path, "K", "v")
    report = _gc_report(home, "tool", "invoke", "get-var", "--args", '{"key": "K"}')
    # The collector is back on for the call (a long one makes garbage): a few collections
    # of the call's young objects, where start-up alone used to run some 60.
    _assert_cheap(report, collections=20)


def test_a_failing_one_shot_still_gives_the_collector_back(home: Home) -> None:
    report = _gc_report(home, "secret", "list", "bad id")
    assert report["enabled"] and report["collections"] == 0, report


@pytest.fixture
def collector() -> object:
    enabled = gc.isenabled()
    yield None
    gc.unfreeze()  # this test process goes on: give its objects back to the collector
    if enabled:
        gc.enable()


@pytest.mark.usefixtures("collector")
def test_the_collector_is_off_for_start_up_and_back_on_for_the_call() -> None:
    gc.enable()
    with one_shot_gc():
        assert not gc.isenabled()
        resume_collection()
        assert gc.isenabled()  # the call's garbage is collected as usual
        assert gc.get_freeze_count() > 0  # but start-up's objects are never walked again
    assert gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_resume_does_nothing_outside_a_one_shot() -> None:
    gc.disable()  # someone else's choice (the click path never pauses the collector)
    resume_collection()
    assert not gc.isenabled()
    with one_shot_gc():
        pass
    assert not gc.isenabled()  # given back as it was
    resume_collection()
    assert not gc.isenabled()
