"""Logging for the command line: ``wassette: <level>: <message>`` on stderr."""

from __future__ import annotations

import logging
import sys


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"wassette: {record.levelname.lower()}: {record.getMessage()}"


def configure_logging(verbose: int) -> None:
    """The ``wassette`` logger on stderr: warnings, ``-v`` info, ``-vv`` debug."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_StderrFormatter())
    root = logging.getLogger("wassette")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    root.propagate = False
