"""The injection audit: which environment keys each call handed a component, and from where.

Recorded in the audit log (``secretstore.audit.AuditLog``) as ``inject`` events: key -> tier,
never a value. Identical injections (same component, same keys from the same tiers) that
arrive within :data:`COALESCE_SECONDS` of each other are written as one line with
``"count": N`` (a line without ``count`` stands for one call): a server answering hundreds of
calls a second otherwise spends as much CPU and I/O on its audit log as on the calls.
"""

from __future__ import annotations

import atexit
import queue
import threading
from typing import Any

from wassette.errors import WassetteError
from wassette.lazylog import get_logger

__all__ = ["COALESCE_SECONDS", "InjectionAudit"]

log = get_logger("wassette.manager")

COALESCE_SECONDS = 1.0
"""How long the writer gathers injections before appending them (one fsync per window).

A crash can lose at most this much of the injection trail; :meth:`InjectionAudit.flush` (run by
one-shot commands, by ``ComponentManager.close`` and at interpreter exit) writes at once."""


class InjectionAudit:
    """Records every injection of environment variables into a component in the audit log.

    Off the call path: calls enqueue (key -> tier, never values) and one background thread
    appends what arrived within a window under one lock and one fsync, identical injections
    counted on one line. :meth:`flush` waits until everything queued so far is on disk.
    """

    def __init__(self, audit: Any, *, coalesce_seconds: float = COALESCE_SECONDS) -> None:
        self._audit = audit
        self.coalesce_seconds = coalesce_seconds
        self._queue: queue.SimpleQueue[tuple[str, dict[str, str]]] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._flush_now = threading.Event()  # ends the window early
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(self, component_id: str, key_tiers: dict[str, str]) -> None:
        if self._thread is None:
            self._start()
        with self._idle:
            self._pending += 1
        self._queue.put((component_id, key_tiers))

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wassette-audit", daemon=True
                )
                self._thread.start()
                # The writer is a daemon thread: what it still holds at exit is written first.
                atexit.register(self.flush)

    def _gather(self) -> list[tuple[str, dict[str, str]]]:
        """Block for the first injection, then sleep out the window (or until a flush asks
        for it to end) and take everything that arrived meanwhile. Sleeping, not waiting on
        the queue: a wait would wake this thread (a context switch, the GIL) for every call."""
        items = [self._queue.get()]
        self._flush_now.wait(self.coalesce_seconds)
        self._flush_now.clear()
        while True:  # whatever piled up meanwhile
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _run(self) -> None:
        while True:
            items = self._gather()
            counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
            for cid, keys in items:  # first-seen order, one line per distinct injection
                signature = (cid, tuple(keys.items()))
                counts[signature] = counts.get(signature, 0) + 1
            events = [
                ("inject", cid, dict(keys), {"count": n} if n > 1 else {})
                for (cid, keys), n in counts.items()
            ]
            try:
                self._audit.record_many(events)
            except WassetteError as exc:
                log.error("audit log: %s", exc.message)
            with self._idle:
                self._pending -= len(items)
                self._idle.notify_all()

    def flush(self, timeout: float = 10.0) -> None:
        """Write every injection recorded so far now, and wait (at most ``timeout`` s) until
        it is on disk."""
        with self._idle:
            if self._pending == 0:
                return
        self._flush_now.set()
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout)
