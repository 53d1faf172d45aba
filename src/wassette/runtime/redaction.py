"""Redaction of injected values in everything a component sends back.

A component is given secrets so it can *use* them, not so it can show them to the model: every
injected value of :data:`MIN_LENGTH` or more characters is replaced by ``[REDACTED:<KEY>]`` in
tool results (text and structured), captured stdout/stderr, error messages and logs before they
leave the server. A policy opts a key out with ``redact: false`` (for non-secret settings whose
value may legitimately appear in output). Shorter values are left alone: redacting every
``debug`` or ``true`` would shred ordinary text while protecting nothing worth protecting.

One pass of one compiled pattern (longest values first), so a replacement is never itself
rewritten. What this cannot catch: a component that transforms a secret before returning it
(encodes, reverses, splits it); the policy's allow-list is the real boundary.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

MIN_LENGTH = 6


class Redactor:
    """Replaces known values with ``[REDACTED:<KEY>]``."""

    def __init__(self, pairs: Iterable[tuple[str, str]], min_length: int = MIN_LENGTH) -> None:
        by_value: dict[str, str] = {}
        for key, value in pairs:
            if len(value) >= min_length:
                by_value.setdefault(value, key)
        self._by_value = by_value
        ordered = sorted(by_value, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        """``text`` with every known value replaced."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(lambda m: f"[REDACTED:{self._by_value[m.group(0)]}]", text)

    __call__ = text

    def json(self, value: Any) -> Any:
        """A JSON-like value with every string (and mapping key) redacted."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {
                self.text(k) if isinstance(k, str) else k: self.json(v) for k, v in value.items()
            }
        return value


@functools.lru_cache(maxsize=256)
def redactor_for(pairs: tuple[tuple[str, str], ...]) -> Redactor:
    """A (cached) redactor for these (key, value) pairs: building one compiles a pattern, and
    a server calls the same component with the same environment over and over."""
    return Redactor(pairs)
