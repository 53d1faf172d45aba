"""Logging for the command line: ``wassette: <level>: <message>`` on stderr.

Importing :mod:`logging` costs ~5 ms (it loads traceback, threading, string ...), a tenth of a
short command's whole run, and ``secret list`` usually logs nothing. So the click-free fast
path calls :func:`configure_logging_on_import`: when the first module that needs logging
imports it (whichever module that is), the handler is installed right after ``logging`` has
loaded and before that module can log anything. Nothing ever logs unconfigured.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any


def _install(logging: Any, verbose: int) -> None:
    class _StderrFormatter(logging.Formatter):  # type: ignore[misc]
        def format(self, record: Any) -> str:
            return f"wassette: {record.levelname.lower()}: {record.getMessage()}"

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_StderrFormatter())
    root = logging.getLogger("wassette")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    root.propagate = False


def configure_logging(verbose: int) -> None:
    """The ``wassette`` logger on stderr: warnings, ``-v`` info, ``-vv`` debug."""
    import logging

    _install(logging, verbose)


class _ConfigureOnImport:
    """A meta-path finder for ``logging`` alone: it finds the module as usual and configures
    it as soon as it has executed (then removes itself)."""

    def __init__(self, verbose: int) -> None:
        self.verbose = verbose

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "logging":
            return None
        from importlib.machinery import PathFinder

        self.remove()
        spec = PathFinder.find_spec(fullname, path)
        loader = getattr(spec, "loader", None)
        run = getattr(loader, "exec_module", None)
        if spec is None or run is None:
            return None  # not found here (every CPython 3.11+ loader has exec_module)
        verbose = self.verbose

        def exec_module(module: ModuleType) -> None:
            run(module)
            _install(module, verbose)

        loader.exec_module = exec_module  # type: ignore[union-attr]
        return spec

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def configure_logging_on_import(verbose: int) -> None:
    """:func:`configure_logging` now if ``logging`` is loaded, else the moment it is."""
    if "logging" in sys.modules:
        configure_logging(verbose)
        return
    for finder in sys.meta_path:
        if isinstance(finder, _ConfigureOnImport):  # main() called again in one process
            finder.verbose = verbose
            return
    sys.meta_path.insert(0, _ConfigureOnImport(verbose))
