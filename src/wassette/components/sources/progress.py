"""A progress printer for large downloads, for the CLI to pass as ``FetchOptions.progress``.

Small pulls print nothing. Large ones print one line per 10 % (or per 16 MiB when the size is
unknown) to the given stream, normally stderr, so stdout stays clean JSON.
"""

from __future__ import annotations

from typing import TextIO

from wassette.components.sources.base import ProgressCallback

#: Below this size a download finishes too fast for progress to be worth printing.
LARGE_DOWNLOAD = 8 * 1024 * 1024
_UNKNOWN_STEP = 16 * 1024 * 1024


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def stderr_progress(
    stream: TextIO, label: str, *, threshold: int = LARGE_DOWNLOAD
) -> ProgressCallback:
    """A callback printing ``label: 40% (7.3/18.3 MiB)`` lines for downloads over ``threshold``."""
    state = {"next": 0}

    def report(done: int, total: int | None) -> None:
        if total is not None:
            if total < threshold:
                return
            percent = min(100, done * 100 // total) if total else 100
            if percent >= state["next"]:
                stream.write(f"{label}: {percent}% ({_mib(done)}/{_mib(total)})\n")
                stream.flush()
                state["next"] = (percent // 10 + 1) * 10
        elif done >= threshold and done >= state["next"]:
            stream.write(f"{label}: {_mib(done)}\n")
            stream.flush()
            state["next"] = done + _UNKNOWN_STEP

    return report
