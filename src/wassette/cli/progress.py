"""Signs of life for long work (fetching, compiling, provisioning), on stderr.

On a terminal the current step replaces the previous one on a single status line, with a
spinner and the elapsed time kept moving by a small thread; a step that ends a unit of work
(``... installed (4.2s)``) stays on screen. Anywhere else (a log file, a pipe, systemd) each
step is one plain line, so logs stay readable.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

_SPINNER = "|/-\\"
_FINAL_WORDS = ("installed", "updated", "unchanged", "failed", "removed", "done")


def _is_final(text: str) -> bool:
    return any(f": {w}" in text for w in _FINAL_WORDS)


class LiveLine:
    """A status line that a background thread keeps redrawing while a step runs."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._text = ""
        self._since = time.monotonic()
        self._lock = threading.Lock()
        self._tick = 0
        self._thread: threading.Thread | None = None

    def _draw(self) -> None:
        elapsed = time.monotonic() - self._since
        spin = _SPINNER[self._tick % len(_SPINNER)]
        self._stream.write(f"\r\x1b[K{spin} {self._text} [{elapsed:4.1f}s]")
        self._stream.flush()

    def _loop(self) -> None:
        while True:
            time.sleep(0.2)
            with self._lock:
                if not self._text:
                    self._thread = None
                    return
                self._tick += 1
                self._draw()

    def step(self, text: str) -> None:
        with self._lock:
            if _is_final(text):
                self._stream.write(f"\r\x1b[K{text}\n")
                self._stream.flush()
                self._text = ""
                return
            self._text = text
            self._since = time.monotonic()
            self._draw()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True)
                self._thread.start()


def step_printer(stream: TextIO | None = None) -> Callable[[str], None]:
    """A ``progress(text)`` callback for ``stream`` (default stderr): live on a TTY, else one
    line per step."""
    out = stream or sys.stderr
    if out.isatty():
        return LiveLine(out).step

    def plain(text: str) -> None:
        out.write(f"wassette: {text}\n")
        out.flush()

    return plain


#: Work shorter than this shows nothing (a warm load, a cached compile).
QUIET_SECONDS = 1.0


@contextlib.contextmanager
def activity(
    label: str, stream: TextIO | None = None, *, quiet: float = QUIET_SECONDS
) -> Iterator[None]:
    """Show that ``label`` (e.g. ``compiling weather``) is under way, on stderr.

    Nothing is shown for work that ends within ``quiet`` seconds. After that, a terminal gets
    a live status line (spinner and elapsed time) and anything else one line when the work
    starts to take time and one when it ends.
    """
    out = stream or sys.stderr
    started = time.monotonic()
    live = LiveLine(out) if out.isatty() else None
    shown = threading.Event()

    def show() -> None:
        shown.set()
        if live is not None:
            live.step(label)
        else:
            out.write(f"wassette: {label} ...\n")
            out.flush()

    timer = threading.Timer(quiet, show)
    timer.daemon = True
    timer.start()
    outcome = "failed"
    try:
        yield
        outcome = "done"
    finally:
        timer.cancel()
        if shown.is_set():
            text = f"{label}: {outcome} ({time.monotonic() - started:.1f}s)"
            if live is not None:
                live.step(text)
            else:
                out.write(f"wassette: {text}\n")
                out.flush()
