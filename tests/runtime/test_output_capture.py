"""Guest output capture: the true tail whatever the write sizes, in bounded memory."""

from __future__ import annotations

import os
import time

from wassette.runtime.output import Spool, Tail, get_spool
from wassette.runtime.redaction import Redactor


def test_a_long_writer_keeps_only_the_tail_in_memory() -> None:
    spool = get_spool()
    tail = Tail(16 * 1024, margin=1024)
    fd = spool.open(tail)
    # Written through a descriptor of its own, as wasmtime does.
    with open(f"/proc/self/fd/{fd}", "wb", buffering=0) as out:
        chunk = b"0123456789abcdef" * 4096  # 64 KiB, the most wasmtime passes per write
        peak = 0
        for i in range(400):  # 25 MiB in all
            out.write(chunk)
            if i % 40 == 0:
                time.sleep(spool.period * 3)
                peak = max(peak, os.fstat(fd).st_blocks * 512)
        out.write(b"THE-END")
    spool.finish(fd, tail)
    text = tail.redacted(Redactor([]))
    assert text.endswith("THE-END") and len(text) == 16 * 1024
    # The collector punched the consumed bytes out: memory stayed far below what was written.
    assert peak < 8 * 1024 * 1024, peak


def test_a_secret_straddling_the_cut_is_replaced_whole() -> None:
    canary = "sk_live_Abc123XYZ-secret"
    redact = Redactor([("K", canary)])
    for offset in range(len(canary) + 1):
        tail = Tail(100, margin=redact.max_match)
        tail.write(b"x" * 500 + canary.encode() + b"y" * (100 - (len(canary) - offset)))
        out = tail.redacted(redact)
        assert canary[offset:] not in out or offset == len(canary)
        if 0 < offset < len(canary):
            assert out.startswith("[REDACTED:K]y"), (offset, out[:30])


def test_a_cut_inside_a_utf8_character_is_not_garbled_into_a_fragment() -> None:
    tail = Tail(5)
    tail.write("ééé".encode())  # 6 bytes: the cut falls inside the first é
    assert tail.redacted(Redactor([])) == "éé"


class _Switchable(Tail):
    """A tail that is live only while ``on`` (as a warm instance's redirect between calls)."""

    on = False

    @property
    def live(self) -> bool:
        return self.on


def test_files_not_live_are_not_polled_and_the_collector_sleeps_until_woken() -> None:
    spool = Spool()  # a collector of its own: other tests' files must not keep it busy
    sink = _Switchable(1024)
    fd = spool.open(sink)
    try:
        os.write(fd, b"written while idle")
        time.sleep(spool.period * 5)
        assert spool._waiting  # asleep: nothing live to poll
        assert sink.redacted(Redactor([])) == ""  # and nothing was read
        sink.on = True
        spool.wake()
        deadline = time.monotonic() + 2
        while not sink.redacted(Redactor([])) and time.monotonic() < deadline:
            time.sleep(spool.period)
        assert sink.redacted(Redactor([])) == "written while idle"  # polled once live
        assert not spool._waiting
    finally:
        spool.finish(fd, sink)
