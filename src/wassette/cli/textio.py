"""Writing text to stdout/stderr exactly as ``click.echo`` does, without importing click.

The short commands (``secret list``) run without click (see :mod:`wassette.cli.fastpath`), yet
their bytes must match what the click path prints. For ``str`` on a text stream ``click.echo``
writes the text (plus a newline), removes ANSI escape sequences when the stream is not a
terminal, and flushes; so does :func:`echo`.
"""

from __future__ import annotations

import sys
from typing import IO, TextIO


def _strip_ansi(text: str, stream: TextIO) -> str:
    # click's rule (should_strip_ansi/strip_ansi): strip when the stream is not a terminal.
    # Our output escapes control characters, so this only matters for odd paths in messages.
    if "\x1b" not in text:
        return text
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return text
    import re

    return re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", text)


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo(text, err=err, nl=nl)`` for text."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:  # no console (pythonw): click prints nothing either
        return
    out = text + "\n" if nl else text
    if out:
        stream.write(_strip_ansi(out, stream))
    stream.flush()


def emit(text: str) -> None:
    """Write a result to stdout, newline-terminated (``cli.output.emit`` without click)."""
    echo(text if text.endswith("\n") else text + "\n", nl=False)


def ask_yes_no(question: str, stdin: IO[str] | None = None) -> bool | None:
    """Ask ``question [y/N]`` on stderr and read the answer from the terminal on ``stdin``
    (default ``sys.stdin``): True for y/yes, False for anything else, None without a terminal
    (nobody can answer: the caller refuses, naming the flag that confirms instead)."""
    tty = stdin if stdin is not None else sys.stdin
    if tty is None or not tty.isatty():
        return None
    echo(f"{question} [y/N] ", nl=False, err=True)
    return tty.readline().strip().lower() in ("y", "yes")
