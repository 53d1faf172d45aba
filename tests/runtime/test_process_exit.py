"""A process that ran many failing calls exits cleanly (no wasmtime panic at shutdown).

Before the fix, wasmtime objects left in reference cycles were freed during interpreter
shutdown, and a wasmtime runtime thread calling back into the finalizing interpreter panicked
("panic in a function that cannot unwind") in most runs of this script.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from tests.componentbuild import REPO, build_component, cache_dir
from wassette.runtime.engine import LoadedComponent

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from wassette.errors import ComponentError
    from wassette.runtime.capabilities import DENY_ALL
    from wassette.runtime.engine import load_component
    from wassette.runtime.invoke import invoke

    loaded = load_component(Path(sys.argv[1]), Path(sys.argv[2]))
    for _ in range(100):
        try:
            invoke(loaded, ("crash",), ["again"], DENY_ALL)
        except ComponentError:
            pass
    print("done")
    """
)


def test_exit_after_many_traps_is_clean(
    component: Callable[[str], LoadedComponent], tmp_path: Path
) -> None:
    component("misbehaver")  # compiled into the shared cache: the child only deserializes
    script = tmp_path / "crashes.py"
    script.write_text(SCRIPT)
    wasm = build_component("misbehaver")
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, str(script), str(wasm), str(cache_dir() / "cwasm/misbehaver.cwasm")],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "done"
        assert "panicked" not in done.stderr, done.stderr[-2000:]
