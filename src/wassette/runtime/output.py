"""Guest stdout/stderr: bounded tails, collected from in-memory files while a call runs.

A call's output goes to two anonymous in-memory files (``memfd``) that wasmtime writes as the
guest's stdout and stderr; one process-wide collector thread moves what they gain into a
bounded :class:`Tail` per stream and frees the consumed bytes, so memory stays flat however
much a guest prints. Redaction runs on the tail before it is cut (``Tail.redacted``).
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from typing import Any, Protocol

from wassette.runtime.redaction import Redactor

__all__ = ["Sink", "Spool", "Tail", "get_spool"]


class Sink(Protocol):
    """Where the collector puts what a guest wrote: a call's :class:`Tail`, or a warm
    instance's redirect to the tail of whichever call is using it. ``keep`` bytes are worth
    reading; ``lock`` is held while writing; once ``closed`` nothing more is written."""

    keep: int
    lock: threading.Lock
    closed: bool

    @property
    def live(self) -> bool:
        """Whether a guest may be writing to it now (only live files are polled)."""
        ...

    def write(self, data: bytes) -> None: ...


class Tail:
    """The last ``limit`` bytes written by the guest to one stream, plus a margin.

    The margin (``keep`` - ``limit``) is what lets redaction run *before* the cut: a secret
    that straddles the cut is still whole in the buffer, so it is replaced as a whole and
    no prefix or suffix of it is left at the start of the tail.
    """

    def __init__(self, limit: int, margin: int = 0) -> None:
        self.limit = limit
        self.keep = limit + margin
        self._buf = bytearray()
        self.lock = threading.Lock()
        self.closed = False

    @property
    def live(self) -> bool:
        return True  # a call's own file: polled until the call finishes it

    def write(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > self.keep:
            del self._buf[: len(self._buf) - self.keep]

    def redacted(self, redact: Redactor) -> str:
        """The last ``limit`` bytes as text, secrets redacted before the cut."""
        with self.lock:
            buf = bytes(self._buf)
        cut = max(0, len(buf) - self.limit)
        while cut < len(buf) and 0x80 <= buf[cut] < 0xC0:  # not inside a UTF-8 character
            cut += 1
        start = len(buf[:cut].decode("utf-8", errors="replace"))
        text = buf.decode("utf-8", errors="replace")
        return redact.tail(text, start)


class Spool:
    """Collects guest stdout/stderr from in-memory files into their :class:`Tail`.

    Why files: wasmtime's custom-output stream offers the guest 8 KiB per write, a file stream
    64 KiB, and guest runtimes (CPython's among them) drop the rest of a larger write when it
    comes back short, so a 20 KB write arrived as its first 8 KB. A pipe would do too, but
    wasmtime serves a pipe through its slow non-file path (several ms per call with output);
    an anonymous in-memory file (``memfd``) is as fast as the custom stream.

    Memory stays bounded: while a call runs, one thread reads what each file gained every
    :data:`period` seconds into the bounded tail and punches the consumed range out of the
    file (the file keeps its size, as a hole, so the guest's write offset stays valid). At the
    end of the call the rest is read and the file closed.

    Only live files are polled: a warm instance's files, open while it waits for a call, are
    not (its guest is not running). With none live the thread sleeps until :meth:`wake`: an
    idle server wakes no thread 100 times a second, and a busy one is not woken per call.
    """

    period = 0.01

    def __init__(self) -> None:
        self._active: dict[int, tuple[Sink, list[int]]] = {}
        self._cond = threading.Condition()
        self._waiting = False  # the thread sleeps until a file is live (under _cond)
        threading.Thread(target=self._loop, name="wassette-output", daemon=True).start()

    def wake(self) -> None:
        """A warm instance's files just became live (a call attached to it)."""
        with self._cond:
            if self._waiting:
                self._cond.notify()

    def open(self, tail: Sink) -> int:
        """A new in-memory file collected into ``tail``; give wasmtime ``/proc/self/fd/N``."""
        fd = os.memfd_create("wassette-guest-output", os.MFD_CLOEXEC)
        with self._cond:
            self._active[fd] = (tail, [0])
            self._cond.notify()
        return fd

    @staticmethod
    def _collect(fd: int, tail: Sink, offset: list[int]) -> None:
        """Move what the file gained since ``offset`` into ``tail``. Hold ``tail.lock``."""
        size = os.fstat(fd).st_size
        start = max(offset[0], size - tail.keep)  # older bytes would fall out of the tail
        while start < size:
            data = os.pread(fd, min(size - start, 1 << 20), start)
            if not data:
                break
            tail.write(data)
            start += len(data)
        if start > offset[0]:
            _punch_hole(fd, start)
            offset[0] = start

    def drain(self, fd: int) -> None:
        """Take what the guest wrote to ``fd`` so far, and keep collecting it (a warm
        instance's output file outlives one call)."""
        with self._cond:
            entry = self._active.get(fd)
        if entry is None:
            return
        tail, offset = entry
        with tail.lock:
            if not tail.closed:
                self._collect(fd, tail, offset)

    def finish(self, fd: int, tail: Sink) -> None:
        """Take what the guest wrote so far, stop collecting ``fd`` and close it."""
        with self._cond:
            entry = self._active.pop(fd, None)
        with tail.lock:
            if entry is not None and not tail.closed:
                self._collect(fd, tail, entry[1])
                tail.closed = True
                os.close(fd)

    def finish_all(self, fds: list[tuple[int, Sink]]) -> None:
        """:meth:`finish` each ``(fd, sink)`` (a call's files, or a warm instance's)."""
        for fd, sink in list(fds):
            self.finish(fd, sink)

    def _live(self) -> list[tuple[int, tuple[Sink, list[int]]]]:
        return [item for item in self._active.items() if item[1][0].live]

    def _loop(self) -> None:
        while True:
            with self._cond:
                entries = self._live()
                while not entries:
                    self._waiting = True
                    self._cond.wait()
                    entries = self._live()
                self._waiting = False
            for fd, (tail, offset) in entries:
                with tail.lock:
                    if not tail.closed:  # a closed tail's fd number may already be reused
                        self._collect(fd, tail, offset)
            time.sleep(self.period)


_PAGE = 4096
_libc: Any = None


def _punch_hole(fd: int, end: int) -> None:
    """Free the memory of bytes [0, end) of ``fd`` (keeping its size); best effort."""
    global _libc  # noqa: PLW0603 - loaded once
    length = end - end % _PAGE
    if length <= 0:
        return
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
    _libc.fallocate(fd, 0x01 | 0x02, 0, length)


_spool: Spool | None = None
_spool_lock = threading.Lock()


def get_spool() -> Spool:
    """The process's output collector (calls and warm instances open their files here)."""
    global _spool  # noqa: PLW0603 - one collector thread per process, started on first use
    with _spool_lock:
        if _spool is None:
            _spool = Spool()
        return _spool
