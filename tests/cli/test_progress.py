"""Signs of life for long work: a live status line on a terminal, one line per step
elsewhere, nothing for work that finishes quickly."""

from __future__ import annotations

import io
import re
import time

import pytest

from wassette.cli.progress import activity, step_printer


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quick_work_prints_nothing() -> None:
    out = io.StringIO()
    with activity("compiling x", out, quiet=0.5):
        pass
    assert out.getvalue() == ""


def test_slow_work_prints_a_line_at_start_and_end_off_a_terminal() -> None:
    out = io.StringIO()
    with activity("compiling x", out, quiet=0.05):
        time.sleep(0.2)
    lines = out.getvalue().splitlines()
    assert lines[0] == "wassette: compiling x ..."
    assert lines[1].startswith("wassette: compiling x: done (")


def test_failure_is_reported_as_failed() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), activity("compiling x", out, quiet=0.01):
        time.sleep(0.1)
        raise RuntimeError("boom")
    assert "compiling x: failed (" in out.getvalue()


def test_terminal_gets_a_live_line_with_elapsed_time() -> None:
    out = _Tty()
    with activity("compiling x", out, quiet=0.01):
        time.sleep(0.6)  # the spinner redraws every 0.2 s
    text = out.getvalue()
    assert text.count("\r\x1b[K") >= 3  # redrawn in place, not new lines
    assert "compiling x [" in text
    assert re.search(r"compiling x: done \(\d+\.\ds\)\n$", text)


def test_step_printer_plain_and_live() -> None:
    plain = io.StringIO()
    say = step_printer(plain)
    say("[1/2] a: fetching and compiling")
    say("[1/2] a: installed (1.0s)")
    assert plain.getvalue().splitlines() == [
        "wassette: [1/2] a: fetching and compiling",
        "wassette: [1/2] a: installed (1.0s)",
    ]
    live = _Tty()
    say = step_printer(live)
    say("[1/1] a: fetching and compiling")
    say("[1/1] a: installed (1.0s)")
    assert live.getvalue().endswith("\r\x1b[K[1/1] a: installed (1.0s)\n")
