"""Stat-validated caches: a value derived from a file, reused while the file is unchanged.

Every store that reads files on the call path (policies, secrets, the key files, compiled
components, tool lists) keeps what it parsed and checks one ``stat`` before reusing it, so a
change made by another process (a ``secret set``, a grant, a new wasm) is seen by the very
next call without re-reading anything that did not change.

A file's :data:`Stamp` is ``(size, mtime_ns, ctime_ns, inode, device)``: an atomic rename
always yields a new inode, an in-place edit moves mtime and ctime, and a ``chown``/``chmod``
moves ctime (so ownership and mode checks rerun too). Equal stamps mean an unchanged file.

Thread safety: each operation is a single ``dict`` operation, atomic under the GIL, and an
entry is an immutable ``(stamp, value)`` pair, so a reader sees either the old entry or the
new one; two threads missing together both build the value, and the last one stored wins
(values built from the same stamp are equal).
"""

from __future__ import annotations

import os
from typing import Generic, TypeVar

__all__ = ["Stamp", "StatCache", "file_stamp", "stamp_of"]

K = TypeVar("K")
V = TypeVar("V")

Stamp = tuple[int, int, int, int, int]
"""``(size, mtime_ns, ctime_ns, inode, device)`` of a file (see the module doc)."""


def stamp_of(st: os.stat_result) -> Stamp:
    """The :data:`Stamp` of an ``os.stat`` result."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def file_stamp(path: str | os.PathLike[str]) -> Stamp | None:
    """The :data:`Stamp` of ``path`` (following symlinks), or None if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class StatCache(Generic[K, V]):
    """``key -> (stamp, value)``: :meth:`get` returns the value only while the caller's
    current stamp equals the one it was stored with.

    The stamp is whatever identifies the state of the file(s) behind the value, compared
    with ``==``: normally a :data:`Stamp`, or a tuple of them for a value read from several
    files. Values must not be None (None means "not cached").
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[K, tuple[object, V]] = {}

    def get(self, key: K, stamp: object) -> V | None:
        """The value stored under ``key`` if it was stored with ``stamp``, else None."""
        hit = self._entries.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        return None

    def get_stat(self, key: K, st: os.stat_result) -> V | None:
        """:meth:`get` with the :data:`Stamp` of ``st``: one call on a hot path's hit (the
        caller computes the stamp with :func:`stamp_of` only on a miss)."""
        hit = self._entries.get(key)
        if hit is not None and hit[0] == (
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_ino,
            st.st_dev,
        ):
            return hit[1]
        return None

    def entry(self, key: K) -> tuple[object, V] | None:
        """``(stamp, value)`` as stored under ``key``, whatever the file's state now."""
        return self._entries.get(key)

    def put(self, key: K, stamp: object, value: V) -> V:
        """Store ``value`` as derived from the file(s) in the state ``stamp``; return it."""
        self._entries[key] = (stamp, value)
        return value

    def __contains__(self, key: object) -> bool:
        """Whether anything is stored under ``key`` (valid or not)."""
        return key in self._entries

    def forget(self, key: K) -> None:
        """Drop what is stored under ``key`` (the next :meth:`get` misses)."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Drop everything."""
        self._entries.clear()
