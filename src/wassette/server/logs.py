"""Structured logs on stderr: one JSON object per line, tool arguments redacted.

Never log a secret value. Tool arguments are logged only through :func:`redact`, which hides
the value of every key that looks secret (``api_key``, ``token``, ``password``, ...); results,
guest output and environment values are never logged at all.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

REDACTED = "[redacted]"
_SECRETISH = re.compile(
    r"key|token|secret|passw|pwd|auth|credential|cookie|session|private|signature|bearer",
    re.IGNORECASE,
)
_MAX_DEPTH = 8


def looks_secret(name: str) -> bool:
    """Whether an argument name suggests its value is a credential."""
    return bool(_SECRETISH.search(name))


def redact(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` (JSON-like) with the values under secret-looking keys replaced."""
    if _depth > _MAX_DEPTH:
        return "[...]"
    if isinstance(value, dict):
        return {
            str(k): REDACTED if looks_secret(str(k)) else redact(v, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, _depth + 1) for v in value[:50]]
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "..."
    return value


class JsonLineFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "msg": ..., **fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: a message could carry data we must not log.
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send the ``wassette``, ``mcp`` and ``uvicorn`` loggers to ``stream`` (stderr) as JSON
    lines. Never stdout: in stdio mode stdout is the protocol channel."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    for name, lvl in (
        ("wassette", level),
        ("mcp", max(level, logging.WARNING)),
        ("uvicorn", max(level, logging.WARNING)),
        ("uvicorn.error", max(level, logging.WARNING)),
        ("uvicorn.access", logging.WARNING),
    ):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(lvl)
        logger.propagate = False


def event(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """Log ``msg`` with structured ``fields`` (already free of secret values)."""
    if logger.isEnabledFor(level):
        logger.log(level, msg, extra={"fields": fields})
