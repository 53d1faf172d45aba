"""fsutil.file_lock: the flock the secrets store and the audit log take instead of filelock.

It must exclude filelock's lock on the same file (other code, older versions of us), other
processes and other threads; time out with the caller's error naming what is locked; and
create the lock file 0600 without following a planted symlink.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import filelock
import pytest

from wassette.errors import AuditLogError, StorageError
from wassette.fsutil import file_lock

HOLD = """
import sys, time
from wassette.fsutil import file_lock
from pathlib import Path
with file_lock(Path(sys.argv[1]), what="x", timeout=10):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_excludes_filelock_and_times_out(tmp_path: Path) -> None:
    path = tmp_path / ".x.lock"
    with filelock.FileLock(str(path), timeout=1):
        start = time.monotonic()
        with (
            pytest.raises(StorageError, match=r"timed out .* on the thing"),
            file_lock(path, what="the thing", timeout=0.3),
        ):
            pass
        assert time.monotonic() - start >= 0.3
    with file_lock(path, what="x", timeout=1), pytest.raises(filelock.Timeout):
        filelock.FileLock(str(path), timeout=0.2).acquire()
    with file_lock(path, what="x", timeout=-1):  # released: free again
        pass


def test_excludes_another_process(tmp_path: Path) -> None:
    path = tmp_path / ".x.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), "1.0"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(AuditLogError), file_lock(path, what="x", timeout=0.2, error=AuditLogError):
        pass
    start = time.monotonic()
    with file_lock(path, what="x", timeout=10):
        waited = time.monotonic() - start
    proc.wait(timeout=10)
    proc.stdout.close()
    assert waited > 0.3  # it waited for the other process to let go


def test_threads_take_turns(tmp_path: Path) -> None:
    path = tmp_path / ".x.lock"
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(20):
            with file_lock(path, what="x", timeout=10):
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.001)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1


def test_lock_file_is_private_and_symlinks_are_not_followed(tmp_path: Path) -> None:
    path = tmp_path / ".x.lock"
    old = os.umask(0)
    try:
        with file_lock(path, what="x", timeout=1):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    target = tmp_path / "victim"
    target.write_text("keep")
    link = tmp_path / ".y.lock"
    link.symlink_to(target)
    with pytest.raises(StorageError, match="cannot lock"), file_lock(link, what="x", timeout=1):
        pass
    assert target.read_text() == "keep"
