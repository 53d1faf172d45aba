"""``records.now()`` prints exactly what ``datetime.now(UTC).isoformat(timespec="milliseconds")``
prints, without importing datetime (a one-shot ``tool invoke`` stamps one record)."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wassette.secretstore import records

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@given(ns=st.integers(0, 253_402_300_799_999_999_999))  # to 9999-12-31T23:59:59.999999999
def test_now_formats_as_datetime_does(ns: int) -> None:
    # datetime.now() floors the clock to microseconds; isoformat truncates to milliseconds.
    expected = (_EPOCH + datetime.timedelta(microseconds=ns // 1000)).isoformat(
        timespec="milliseconds"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records.time, "time_ns", lambda: ns)
        assert records.now() == expected


def test_now_is_the_current_time() -> None:
    before = datetime.datetime.now(datetime.UTC)
    stamp = datetime.datetime.fromisoformat(records.now())
    after = datetime.datetime.now(datetime.UTC)
    assert before - datetime.timedelta(milliseconds=1) <= stamp <= after


def test_now_imports_no_datetime() -> None:
    code = (
        "import sys\nfrom wassette.secretstore.records import now\nnow()\n"
        "assert 'datetime' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
