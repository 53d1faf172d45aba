"""Threads for calls: reusable daemon workers, the watchdog of inline calls, deferred frees.

No wasmtime here: the stdio front runs its calls on these workers before the runtime loads.
Daemon threads on purpose: a guest blocked in a host call holds its thread until that call
returns, and must never keep the process from exiting (``concurrent.futures`` joins its
threads at exit).
"""

from __future__ import annotations

import heapq
import itertools
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from wassette.lazylog import get_logger

__all__ = [
    "GuestGate",
    "Watchdog",
    "WorkerPool",
    "after_answer",
    "cores",
    "deferred_frees",
    "spend",
]

log = get_logger("wassette.runtime")  # logging is imported when something is logged


def cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 2


class WorkerPool:
    """Reusable daemon threads for calls (starting a thread per call costs ~0.5 ms).

    A worker runs one job at a time and goes back to the idle list when it is done, even if
    its caller gave up waiting (a blocked host call returns eventually, and the worker is
    fine afterwards). At most ``max_idle`` idle workers are kept; extra ones exit (32: 16 calls
    in flight must not start a thread each time). With ``max_threads``, jobs beyond that many
    running ones wait in order for a worker (a client cannot make the process start a thread
    per request it sends).

    With ``active`` (the cores, for guest calls), at most that many jobs run at once and the
    rest wait in order: more threads than cores only share the cores, while each switch
    between them, each hand-off of the GIL and each instance held meanwhile costs (8 calls
    in flight on 8 threads did 20-50% fewer calls per second than on 2, and peaked ~7 MB
    higher). Jobs that sleep (a guest in a slow host call) must not hold the others back for
    long: when no job has finished for ``patience`` seconds while some wait, one more starts,
    and so on every ``patience`` (up to ``max_threads``).
    """

    def __init__(
        self,
        max_idle: int = 32,
        name: str = "wassette-call",
        max_threads: int | None = None,
        *,
        active: int | None = None,
        patience: float = 0.05,
    ) -> None:
        self.max_idle = max_idle
        self.max_threads = max_threads
        self.active = active
        self.patience = patience
        self.name = name
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []
        self._backlog: deque[tuple[float, Callable[[], None]]] = deque()
        self._threads = 0
        self._running = 0  # jobs running and counted against ``active``
        self._finished = time.monotonic()  # when a job last finished
        self._check: list[Callable[[], None] | None] | None = None  # the overflow check
        self._watchdog: Watchdog | None = None
        self._lock = threading.Lock()
        #: Jobs started past ``active`` because the running ones made no progress.
        self.overflows = 0

    def _room(self) -> bool:
        """Whether another job may start now (under the lock)."""
        return self._below_active() and self._worker_free()

    def _below_active(self) -> bool:
        """Fewer jobs run than ``active`` allows (under the lock)."""
        return self.active is None or self._running < self.active

    def _worker_free(self) -> bool:
        """An idle worker, or room for one more thread (under the lock)."""
        return bool(self._idle) or self.max_threads is None or self._threads < self.max_threads

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if not self._room():
                self._backlog.append((time.monotonic(), job))
                self._schedule_check()
                return
            inbox = self._take_worker()
        self._hand(inbox, job)

    def _start_oldest(
        self,
    ) -> tuple[queue.SimpleQueue[Callable[[], None]] | None, Callable[[], None]]:
        """Take the oldest waiting job and a worker for it (under the lock); hand it over with
        :meth:`_hand` once the lock is released."""
        job = self._backlog.popleft()[1]
        return self._take_worker(), job

    def _take_worker(self) -> queue.SimpleQueue[Callable[[], None]] | None:
        """Count a job as running; an idle worker's inbox, or None: start a thread (under
        the lock)."""
        self._running += 1
        if self._idle:
            return self._idle.pop()
        self._threads += 1
        return None

    def _hand(
        self, inbox: queue.SimpleQueue[Callable[[], None]] | None, job: Callable[[], None]
    ) -> None:
        if inbox is None:
            self._spawn(job)
        else:
            inbox.put(job)

    def _spawn(self, job: Callable[[], None]) -> None:
        """A new worker whose first job is ``job`` (already counted in ``_threads``)."""
        threading.Thread(target=self._work, args=(job,), name=self.name, daemon=True).start()

    def _schedule_check(self) -> None:
        """Look at the backlog once ``patience`` has passed (under the lock)."""
        if self.active is None or self._check is not None or not self._backlog:
            return
        if self._watchdog is None:
            self._watchdog = Watchdog()
        when = max(self._backlog[0][0], self._finished) + self.patience
        self._check = self._watchdog.watch(when, self._overflow)

    def _overflow(self) -> None:
        """On the watchdog's thread: if the running jobs made no progress for ``patience``
        while jobs wait, start the oldest waiting one anyway."""
        start: tuple[queue.SimpleQueue[Callable[[], None]] | None, Callable[[], None]] | None
        start = None
        with self._lock:
            self._check = None
            now = time.monotonic()
            stalled = now - self._finished >= self.patience
            if self._backlog and stalled and self._worker_free():
                self.overflows += 1
                start = self._start_oldest()
                self._finished = now  # the next one waits another patience
            self._schedule_check()
        if start is not None:
            self._hand(*start)

    def lend(self) -> None:
        """One running job is stuck (a guest abandoned in a host call): its thread no longer
        counts against ``max_threads`` (nor ``active``) until :meth:`unlend`, so stuck guests
        (bounded per component by the runtime) cannot starve every other call of a worker."""
        with self._lock:
            if self.max_threads is not None:
                self.max_threads += 1
            self._running -= 1
            start = self._start_oldest() if self._backlog and self._room() else None
        if start is not None:
            self._hand(*start)

    def unlend(self) -> None:
        """The stuck job of a :meth:`lend` returned: its thread counts again."""
        with self._lock:
            if self.max_threads is not None:
                self.max_threads -= 1
            self._running += 1

    def _work(self, job: Callable[[], None]) -> None:
        inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        while True:
            job()
            del job  # what it holds goes now, not when the next job arrives
            with self._lock:
                self._running -= 1
                self._finished = time.monotonic()
                over = self.max_threads is not None and self._threads > self.max_threads
                if self._backlog and not over and self._below_active():
                    job = self._backlog.popleft()[1]
                    self._running += 1
                    continue
                if over or len(self._idle) >= self.max_idle:
                    self._threads -= 1
                    return
                self._idle.append(inbox)
            job = inbox.get()


_local = threading.local()


@contextmanager
def deferred_frees() -> Iterator[None]:
    """Within this block, Stores spent by calls on this thread are freed at its end, not before
    the call returns: a Store delete (~0.2 ms) then follows the answer instead of delaying it.
    Then the work registered with :func:`after_answer` runs, still on this thread."""
    outer = getattr(_local, "spent", None), getattr(_local, "after", None)
    spent: list[object] = []
    after: list[Callable[[], None]] = []
    _local.spent, _local.after = spent, after
    try:
        yield
    finally:
        _local.spent, _local.after = outer
        spent.clear()  # the Stores go here
        for job in after:
            try:
                job()
            except Exception:
                log.exception("after-answer work failed")


def after_answer(job: Callable[[], None]) -> bool:
    """Run ``job`` on this thread once the enclosing :func:`deferred_frees` block ends (the
    answer is out). False, and nothing registered, outside such a block."""
    after = getattr(_local, "after", None)
    if after is None:
        return False
    after.append(job)
    return True


def spend(obj: object) -> None:
    """Keep ``obj`` (a spent Store or warm instance) until the enclosing :func:`deferred_frees`
    block ends; without one, it is freed when the caller drops it."""
    spent = getattr(_local, "spent", None)
    if spent is not None:
        spent.append(obj)


class Watchdog:
    """One thread that runs actions at their due time (inline calls' deadlines and cancel
    graces). Precision ~20 ms, enough for limits of seconds and graces of a quarter second."""

    POLL_SECONDS = 0.02

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, list[Callable[[], None] | None]]] = []
        self._order = itertools.count()
        self._dead = 0
        self._thread: threading.Thread | None = None

    def watch(self, when: float, action: Callable[[], None]) -> list[Callable[[], None] | None]:
        """Run ``action()`` on the watchdog thread at monotonic time ``when``; the returned
        slot, emptied with :meth:`drop`, cancels it."""
        slot: list[Callable[[], None] | None] = [action]
        with self._cond:
            idle = not self._heap
            heapq.heappush(self._heap, (when, next(self._order), slot))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="wassette-watchdog", daemon=True
                )
                self._thread.start()
            elif idle:
                self._cond.notify()
        return slot

    def drop(self, slot: list[Callable[[], None] | None]) -> None:
        """Cancel a watched action (it will not run) and let go of what it holds."""
        if slot[0] is not None:
            slot[0] = None
            with self._cond:
                self._dead += 1
                if self._dead > 256 and self._dead * 2 > len(self._heap):
                    # Mostly calls that finished long before their deadline: drop them now.
                    self._heap = [entry for entry in self._heap if entry[2][0] is not None]
                    heapq.heapify(self._heap)
                    self._dead = 0

    def _loop(self) -> None:
        while True:
            due: list[Callable[[], None]] = []
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    action = heapq.heappop(self._heap)[2][0]
                    if action is None:
                        self._dead = max(0, self._dead - 1)
                    else:
                        due.append(action)
                wait = self._heap[0][0] - now if self._heap else 0.0
            for action in due:
                try:
                    action()
                except Exception:
                    log.exception("watchdog action failed")
            del due
            if wait > 0:
                time.sleep(min(wait, self.POLL_SECONDS))


class GuestGate:
    """At most ``slots`` guests run at once; the rest wait for a slot, at most ``patience``
    seconds each, then run anyway.

    More guests than cores only share the cores: each runs slower, and each holds its own
    instance's memory meanwhile (16 calls in flight held 16 instances). Waiting for a slot
    keeps throughput and bounds memory; the patience keeps a component whose guests sleep in
    host calls (holding slots while using no CPU) from stalling the others for longer.
    """

    def __init__(self, slots: int, patience: float = 0.05) -> None:
        self.slots = max(1, slots)
        self.patience = patience
        self._sem = threading.BoundedSemaphore(self.slots)
        self.overflows = 0  # calls that ran without a slot, out of patience
        self.waiting = 0  # calls waiting for a slot now (approximate: read without a lock)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot (or give up waiting after ``patience``) while the block runs."""
        got = self._sem.acquire(blocking=False)
        if not got:
            self.waiting += 1
            try:
                got = self._sem.acquire(timeout=self.patience)
            finally:
                self.waiting -= 1
        if not got:
            self.overflows += 1
        try:
            yield
        finally:
            if got:
                self._sem.release()
