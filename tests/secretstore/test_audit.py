"""The audit log: hash chain, tamper detection, concurrent appenders, no values."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from wassette.secretstore.audit import AuditLog


def filled(tmp_path: Path, n: int = 6) -> AuditLog:
    log = AuditLog(tmp_path / "state" / "audit.log", actor="tester@host")
    for i in range(n):
        log.record("set", "c", [f"K{i}"])
    return log


def lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def test_appends_are_chained_private_and_verify(tmp_path: Path) -> None:
    log = filled(tmp_path)
    log.record_injection("c", {"API_KEY": "secret", "HOME": "inherited"})
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700
    recs = [json.loads(line) for line in lines(log)]
    assert [r["seq"] for r in recs] == list(range(1, 8))
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(recs))
    assert recs[-1]["event"] == "inject"
    assert recs[-1]["keys"] == {"API_KEY": "secret", "HOME": "inherited"}
    assert recs[0]["actor"] == "tester@host"
    result = log.verify()
    assert result.ok and result.lines == 7
    assert [e["seq"] for e in log.events("c")] == list(range(1, 8))
    assert log.events("other") == []


def _tamper_edit(ls: list[str]) -> list[str]:
    ls[2] = ls[2].replace('"K2"', '"K9"')
    return ls


def _tamper_edit_rehash(ls: list[str]) -> list[str]:
    from wassette.secretstore.audit import _canonical, line_hash

    rec = json.loads(ls[2])
    rec["keys"] = ["K9"]
    rec["hash"] = line_hash(rec)
    ls[2] = _canonical(rec) + "\n"
    return ls


def _remove(ls: list[str]) -> list[str]:
    del ls[2]
    return ls


def _swap(ls: list[str]) -> list[str]:
    ls[2], ls[3] = ls[3], ls[2]
    return ls


def _truncate_tail(ls: list[str]) -> list[str]:
    return ls[:-2]


def _remove_first(ls: list[str]) -> list[str]:
    return ls[1:]


@pytest.mark.parametrize(
    ("tamper", "line", "words"),
    [
        (_tamper_edit, 3, "edited"),
        (_tamper_edit_rehash, 4, "chain is broken"),
        (_remove, 3, "removed"),
        (_swap, 3, "removed"),  # seq 4 appears where 3 was expected
        (_remove_first, 1, "removed"),
        (_truncate_tail, None, "removed from the end"),
    ],
)
def test_verify_names_the_tampered_line(
    tmp_path: Path, tamper: object, line: int | None, words: str
) -> None:
    log = filled(tmp_path)
    log.path.write_text("".join(tamper(lines(log))))  # type: ignore[operator]
    result = log.verify()
    assert not result.ok
    assert result.line == line
    assert result.problem is not None and words in result.problem


def test_reordering_later_lines_is_reported_as_out_of_order(tmp_path: Path) -> None:
    log = filled(tmp_path)
    ls = lines(log)
    ls[1], ls[4] = ls[4], ls[1]
    log.path.write_text("".join(ls))
    result = log.verify()
    assert not result.ok and result.line == 2


def _appender(path: str, worker: int, count: int) -> None:
    log = AuditLog(Path(path), actor=f"w{worker}@h")
    for i in range(count):
        log.record("set", f"c{worker}", [f"K{i}"], padding="x" * 3000)


def test_concurrent_appenders_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit.log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_appender, args=(str(path), w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    log = AuditLog(path)
    result = log.verify()
    assert result.ok and result.lines == 100, result
    assert all(json.loads(line) for line in lines(log))
