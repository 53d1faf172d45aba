"""The injection audit: which environment keys each call handed a component, and from where.

Recorded in the audit log (``secretstore.audit.AuditLog``) as ``inject`` events: key -> tier,
never a value.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from wassette.errors import WassetteError
from wassette.lazylog import get_logger

__all__ = ["InjectionAudit"]

log = get_logger("wassette.manager")


class InjectionAudit:
    """Records every injection of environment variables into a component in the audit log.

    Off the call path: calls enqueue (key -> tier, never values) and one background thread
    appends whatever has accumulated under one lock and one fsync, so a busy server pays about
    a millisecond per *batch*, not per call. :meth:`flush` waits until everything queued so far
    is on disk (one-shot commands call it before exiting).
    """

    def __init__(self, audit: Any) -> None:
        self._audit = audit
        self._queue: queue.Queue[tuple[str, dict[str, str]]] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(self, component_id: str, key_tiers: dict[str, str]) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wassette-audit", daemon=True
                )
                self._thread.start()
        with self._idle:
            self._pending += 1
        self._queue.put((component_id, key_tiers))

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]  # block for the first, then take what has piled up
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._audit.record_many([("inject", cid, keys, {}) for cid, keys in items])
            except WassetteError as exc:
                log.error("audit log: %s", exc.message)
            with self._idle:
                self._pending -= len(items)
                self._idle.notify_all()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every injection recorded so far has been written."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout)
