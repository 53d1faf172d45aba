"""The audit chain's SHA-256 comes from CPython's built-in implementation (no OpenSSL load for
a one-shot command that records an injection); it must be the very digest hashlib gives."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from wassette.secretstore.audit import line_hash, sha256_hex


@given(st.binary(max_size=2048))
def test_the_digest_is_hashlibs(data: bytes) -> None:
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_a_record_hash_is_unchanged() -> None:
    record = {"seq": 1, "event": "inject", "keys": {"K": "secret"}, "prev": "0" * 64, "hash": "x"}
    body = b'{"event":"inject","keys":{"K":"secret"},"prev":"' + b"0" * 64 + b'","seq":1}'
    assert line_hash(record) == hashlib.sha256(body).hexdigest()


def test_hashing_a_record_loads_no_openssl() -> None:
    code = (
        "import sys\nfrom wassette.secretstore.audit import line_hash\n"
        "line_hash({'seq': 1})\n"
        "assert '_hashlib' not in sys.modules and 'hashlib' not in sys.modules, 'OpenSSL'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
