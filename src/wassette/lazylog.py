"""``logging.getLogger(name)`` without importing :mod:`logging` until something is logged.

Importing logging costs a one-shot command a few milliseconds (it loads traceback, string,
textwrap ...) and a ``tool invoke`` that goes well logs nothing. The command line's handler is
installed the moment logging is first imported (:func:`wassette.cli.logsetup.
configure_logging_on_import`), so a record logged through this is formatted as any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging


class _LazyLogger:
    """Stands for ``logging.getLogger(name)``; every attribute is read from the real logger
    (so its level, handlers and configuration are always the current ones)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> object:
        import logging

        return getattr(logging.getLogger(self._name), attr)


def get_logger(name: str) -> logging.Logger:
    """The logger ``name``, resolved when it is first used."""
    return _LazyLogger(name)  # type: ignore[return-value]
