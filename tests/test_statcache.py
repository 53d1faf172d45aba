"""The stat-validated cache every store uses, and the file lock every store takes.

The cache must miss after each kind of change another process can make to a file (an atomic
rename, an in-place rewrite of the same size, a chmod) and hit otherwise; the lock must exclude
a second holder (in another process too) and fail with our error, naming what was locked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wassette import fsutil
from wassette.errors import SecretsKeyError, StorageError
from wassette.statcache import StatCache, file_stamp, stamp_of


def _bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_hits_while_unchanged_and_misses_after_each_kind_of_change(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text("a: 1\n")
    cache: StatCache[str, str] = StatCache()
    cache.put("c", file_stamp(f), "parsed")
    assert cache.get("c", file_stamp(f)) == "parsed"
    assert cache.get_stat("c", os.stat(f)) == "parsed"
    assert "c" in cache and "other" not in cache

    # Same size, rewritten in place (mtime moves).
    f.write_text("a: 2\n")
    _bump_mtime(f)
    assert cache.get("c", file_stamp(f)) is None
    assert cache.get_stat("c", os.stat(f)) is None
    cache.put("c", file_stamp(f), "v2")
    # Atomic replace by rename, same size and mtime forced equal: a new inode.
    before = f.stat()
    tmp = tmp_path / "new"
    tmp.write_text("a: 3\n")
    os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(tmp, f)
    assert cache.get("c", file_stamp(f)) is None
    cache.put("c", file_stamp(f), "v3")
    # A chmod (ownership/mode checks must run again): ctime moves.
    time.sleep(0.01)
    f.chmod(0o600)
    assert cache.get("c", file_stamp(f)) is None

    cache.put("c", file_stamp(f), "v4")
    cache.forget("c")
    assert cache.get("c", file_stamp(f)) is None
    cache.put("c", file_stamp(f), "v5")
    cache.clear()
    assert cache.entry("c") is None


def test_stamps_of_missing_files_and_stat_results(tmp_path: Path) -> None:
    assert file_stamp(tmp_path / "nope") is None
    assert file_stamp("bad\0path") is None
    f = tmp_path / "x"
    f.write_bytes(b"abc")
    st = os.stat(f)
    assert stamp_of(st) == file_stamp(f)
    assert stamp_of(st)[:2] == (3, st.st_mtime_ns)


def test_a_held_lock_times_out_with_our_error_naming_what(tmp_path: Path) -> None:
    lock = tmp_path / ".x.lock"
    with (
        fsutil.file_lock(lock, what="the thing", timeout=1),
        pytest.raises(StorageError) as info,
        fsutil.file_lock(lock, what="the thing", timeout=0.1, busy="someone has it"),
    ):
        pass  # pragma: no cover - never entered
    assert "timed out after 0.1 s waiting for the lock on the thing" in info.value.message
    assert info.value.why == "someone has it"
    assert oct(lock.stat().st_mode & 0o777) == oct(0o600)
    # Released: the next holder gets it at once, with the caller's error class on failure.
    with fsutil.file_lock(lock, what="the thing", timeout=0.1, error=SecretsKeyError):
        pass


def test_another_process_holding_the_lock_excludes_us(tmp_path: Path) -> None:
    lock = tmp_path / ".x.lock"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom wassette import fsutil\n"
            "with fsutil.file_lock(Path(sys.argv[1]), what='x'):\n"
            "    print('held', flush=True)\n    time.sleep(30)\n",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        with (
            pytest.raises(SecretsKeyError, match="waiting for the lock on the key"),
            fsutil.file_lock(lock, what="the key", timeout=0.2, error=SecretsKeyError),
        ):
            pass  # pragma: no cover
    finally:
        child.kill()
        child.communicate()
    with fsutil.file_lock(lock, what="x", timeout=5):  # the kernel released it
        pass


def test_an_unusable_lock_directory_is_a_storage_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with (
        pytest.raises(StorageError, match="cannot lock the thing"),
        fsutil.file_lock(not_a_dir / ".x.lock", what="the thing", timeout=0.1),
    ):
        pass  # pragma: no cover
